package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/controller/files"
	"hagate.io/hagate/controller/pipeline"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/snapshot"
)

const refusalInput = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: hagate
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bad, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /bad}, headers: [{name: X-A, value: "%VALUE%"}]}]
    backendRefs: [{name: web, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: good, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /good}, headers: [{name: X-B, value: b}]}]
    backendRefs: [{name: web, port: 80}]
`

func loadRefusalInput(t *testing.T, value string) *snapshot.Snapshot {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(refusalInput, "%VALUE%", value)), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := files.Load(files.Options{Paths: []string{p}})
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("load: %v %v", err, res.Errors)
	}
	res.Snapshot.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return res.Snapshot
}

func renderRefusal(t *testing.T, snap *snapshot.Snapshot, refused map[ir.Origin]string) *pipeline.Output {
	t.Helper()
	out, err := pipeline.Render(snap, pipeline.Options{ConfigRoot: "/etc/hagate", Refused: refused})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lineOf is the 1-based number of the first line of haproxy.cfg holding s.
func lineOf(t *testing.T, b *bundle.Bundle, s string) int {
	t.Helper()
	for i, l := range strings.Split(string(b.Get(bundle.ConfigFile).Content), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", s)
	return 0
}

// A line HAProxy refuses is traced to the route that wrote it; rendered
// again, that route is left out with a condition quoting HAProxy and the
// other route is kept; the refusal holds while the route writes the same
// line, and goes when it changes.
func TestTraceRefusedRouteLine(t *testing.T) {
	snap := loadRefusalInput(t, "a")
	out := renderRefusal(t, snap, nil)
	bad := lineOf(t, out.Bundle, "req.fhdr(X-A)")
	bind := lineOf(t, out.Bundle, "bind ")
	ce := &haproxy.CheckError{Problems: []haproxy.Problem{
		{Path: bundle.ConfigFile, Line: bad, Message: "parsing [haproxy.cfg:12]: something HAProxy dislikes."},
		{Path: bundle.ConfigFile, Line: bind, Message: "a bind problem no single object is responsible for."},
		{Message: "Proxy 'x': something about a whole proxy."},
	}}
	found, untraced := trace(ce, out)
	want := ir.Origin{Kind: "HTTPRoute", Namespace: "default", Name: "bad"}
	if len(found) != 1 || found[0].origin != want {
		t.Fatalf("traced %+v, want one refusal of %v", found, want)
	}
	if len(untraced) != 2 {
		t.Errorf("untraced %+v, want the bind line and the proxy message", untraced)
	}

	rs := refusals(found)
	next := renderRefusal(t, snap, rs.byOrigin())
	cfg := string(next.Bundle.Get(bundle.ConfigFile).Content)
	if strings.Contains(cfg, "req.fhdr(X-A)") || !strings.Contains(cfg, "req.fhdr(X-B)") {
		t.Errorf("the refused route is still configured, or the good one is gone:\n%s", cfg)
	}
	st := next.Status.HTTPRoutes[nn("default", "bad")]
	if st == nil || len(st.Parents) != 1 {
		t.Fatalf("route status %+v", st)
	}
	c := st.Parents[0].Conditions[0]
	if c.Type != string(gwapiv1.RouteConditionAccepted) || c.Status != "False" || c.Reason != string(gwapiv1.RouteReasonUnsupportedValue) ||
		!strings.Contains(c.Message, "HAProxy refused") || !strings.Contains(c.Message, "something HAProxy dislikes") {
		t.Errorf("refused route condition = %+v", c)
	}
	if g := next.Status.HTTPRoutes[nn("default", "good")]; g == nil || g.Parents[0].Conditions[0].Status != "True" {
		t.Errorf("good route status = %+v", g)
	}

	// Unchanged: the route still writes the refused line.
	if kept := rs.still(renderRefusal(t, snap, nil).Bundle); len(kept) != 1 {
		t.Errorf("the refusal was dropped while the route is unchanged")
	}
	// Changed: tried again.
	if kept := rs.still(renderRefusal(t, loadRefusalInput(t, "changed"), nil).Bundle); len(kept) != 0 {
		t.Errorf("the refusal stays after the route changed")
	}
}

func nn(ns, name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }
