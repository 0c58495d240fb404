package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
)

// routingScenario: one HTTP listener and N HTTPRoutes, each with its own
// hostname and a PathPrefix, to one Service.
const routingScenario = `
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
  listeners: [{name: http, protocol: HTTP, port: {{ .Port }}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {ports: [{port: 80, targetPort: {{ .Backend }}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: {{ .Backend }}}]
endpoints: [{addresses: [127.0.0.1]}]
{{- range .Routes }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r{{ . }}, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [h{{ . }}.example.com]
  rules: [{matches: [{path: {type: PathPrefix, value: /p{{ . }}}}], backendRefs: [{name: web, port: 80}]}]
{{- end }}
`

// BenchmarkRouting measures requests per second through HAProxy with 10
// and 5,000 routes on one port, each request for the last route (the
// worst place when every match is a configuration line). The ratio shows
// what the number of routes costs per request.
//
//	go test ./test/e2e -run '^$' -bench Routing -benchtime 20000x
func BenchmarkRouting(b *testing.B) {
	for _, n := range []int{10, 5000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			web := backend.Start(b, "web")
			port := haproxytest.FreePort(b)
			routes := make([]int, n)
			for i := range routes {
				routes[i] = i
			}
			dir := b.TempDir()
			cfgDir := filepath.Join(dir, "out")
			renderScenarioTo(b, routingScenario, dir, cfgDir, map[string]any{"Port": port, "Backend": web.Port, "Routes": routes})
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			haproxytest.Start(b, filepath.Join(cfgDir, bundle.ConfigFile), addr)
			url := fmt.Sprintf("http://%s/p%d/x", addr, n-1)
			host := fmt.Sprintf("h%d.example.com", n-1)
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			get := func() error {
				req, _ := http.NewRequest("GET", url, nil)
				req.Host = host
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}
			if err := get(); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
