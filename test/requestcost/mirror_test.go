package requestcost

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"text/template"
	"time"

	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render/ir"
)

// mirrorScenario: one HTTPS listener, the route h0.example.com, whose
// rule /api goes to Service web; .Mirror says which rule mirrors its
// requests to Service shadow (the same backend process): none, /api
// itself, or another rule (/other).
const mirrorScenario = gatewayScenario + `
{{- range $name := list "web" "shadow" }}
---
apiVersion: v1
kind: Service
metadata: {name: {{ $name }}, namespace: default}
spec: {ports: [{port: 80, targetPort: {{ $.Backend }}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: {{ $name }}-1, namespace: default, labels: {kubernetes.io/service-name: {{ $name }}}}
addressType: IPv4
ports: [{port: {{ $.Backend }}}]
endpoints: [{addresses: [127.0.0.1]}]
{{- end }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r0, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [h0.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
{{- if eq .Mirror "/api" }}
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: shadow, port: 80}}}]
{{- end }}
    backendRefs: [{name: web, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /other}}]
{{- if eq .Mirror "/other" }}
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: shadow, port: 80}}}]
{{- end }}
    backendRefs: [{name: web, port: 80}]
`

// BenchmarkMirrorCost measures what request mirroring costs HAProxy (one
// thread on CPU 0; load and backend on CPU 1), as BenchmarkRequestCost
// does: requests per second of /api with wrk (HTTP/1.1) and h2load
// (HTTP/2), and HAProxy's CPU time per request, when nothing mirrors
// (off), when another rule mirrors (configured: the Lua script is loaded,
// /api must cost nothing more) and when /api mirrors every request to a
// second Service (mirrored: the copy, its Lua task, the mirror frontend
// and the second request are HAProxy's work too). Access logs off.
//
//	go test ./test/requestcost -run '^$' -bench MirrorCost -benchtime 1x
//
// REQUESTCOST_DURATION and REQUESTCOST_ROUNDS as for BenchmarkRequestCost.
func BenchmarkMirrorCost(b *testing.B) {
	dur := 2 * time.Second
	if s := os.Getenv("REQUESTCOST_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("REQUESTCOST_DURATION: %v", err)
		}
		dur = d
	}
	rounds := 5
	if s := os.Getenv("REQUESTCOST_ROUNDS"); s != "" {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			b.Fatalf("REQUESTCOST_ROUNDS=%q: want a positive number", s)
		}
		rounds = n
	}
	ca := pki.NewCA(b, "requestcost CA")
	leaf := ca.Issue(b, pki.LeafOptions{DNSNames: []string{"*.example.com"}})
	backendPort := haproxytest.FreePort(b)
	be := filepath.Join(b.TempDir(), "backend.cfg")
	if err := os.WriteFile(be, fmt.Appendf(nil, backendCfg, backendPort), 0o600); err != nil {
		b.Fatal(err)
	}
	backendPID := start(b, loadCPU, be, nil, fmt.Sprintf("127.0.0.1:%d", backendPort))
	ts := []*target{
		mirrorTarget(b, "off", "", leaf, backendPort, backendPID),
		mirrorTarget(b, "configured", "/other", leaf, backendPort, backendPID),
		mirrorTarget(b, "mirrored", "/api", leaf, backendPort, backendPID),
	}
	for _, t := range ts {
		t.check(b, "h0.example.com")
	}
	res := map[string][]result{}
	for r := range rounds {
		order := slices.Clone(ts)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, tool := range []string{"wrk", "h2load"} {
			for _, t := range order {
				res[t.name+" "+tool] = append(res[t.name+" "+tool], t.load(b, tool, "h0.example.com", dur))
			}
		}
	}
	report(b, ts, res)
	for _, vs := range []string{"configured", "mirrored"} {
		for _, tool := range []string{"wrk", "h2load"} {
			ra, rr := res[vs+" "+tool], res["off "+tool]
			var trs, crs []float64
			for i := range ra {
				trs = append(trs, ra[i].rps()/rr[i].rps())
				crs = append(crs, float64(ra[i].cpuPerRequest())/float64(rr[i].cpuPerRequest()))
			}
			slices.Sort(trs)
			slices.Sort(crs)
			proto := map[string]string{"wrk": "h1", "h2load": "h2"}[tool]
			b.Logf("%s/off %s: throughput %.3fx, CPU per request %.3fx", vs, proto, trs[len(trs)/2], crs[len(crs)/2])
			b.ReportMetric(trs[len(trs)/2], vs+"/off-"+proto+"-throughput-x")
			b.ReportMetric(crs[len(crs)/2], vs+"/off-"+proto+"-cpu/req-x")
		}
	}
}

// mirrorTarget renders mirrorScenario with mirror (the rule that mirrors,
// "" for none) and starts HAProxy on it.
func mirrorTarget(b *testing.B, name, mirror string, leaf *pki.Leaf, backendPort, backendPID int) *target {
	b.Helper()
	port := haproxytest.FreePort(b)
	tmpl := template.Must(template.New("").Funcs(template.FuncMap{"list": func(s ...string) []string { return s }}).Parse(mirrorScenario))
	return startRendered(b, name, tmpl, map[string]any{"Port": port, "Backend": backendPort, "Mirror": mirror}, leaf, port, backendPID, ir.AccessLogOff)
}
