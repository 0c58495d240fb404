package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
)

// mirrorScenario: one HTTP listener, /plain to Service web and, with
// .Mirror, /mirrored to web with every request mirrored to Service shadow.
const mirrorScenario = `
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
{{- range $name, $port := .Services }}
---
apiVersion: v1
kind: Service
metadata: {name: {{ $name }}, namespace: default}
spec: {ports: [{port: 80, targetPort: {{ $port }}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: {{ $name }}-1, namespace: default, labels: {kubernetes.io/service-name: {{ $name }}}}
addressType: IPv4
ports: [{port: {{ $port }}}]
endpoints: [{addresses: [127.0.0.1]}]
{{- end }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /plain}}]
    backendRefs: [{name: web, port: 80}]
{{- if .Mirror }}
  - matches: [{path: {type: PathPrefix, value: /mirrored}}]
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: shadow, port: 80}}}]
    backendRefs: [{name: web, port: 80}]
{{- end }}
`

// BenchmarkMirror measures what request mirroring costs: requests per
// second and latency (8 clients, keep-alive) through HAProxy on a route
// without mirroring in a configuration without any (off), on that route
// when another route mirrors (configured: it must cost nothing), and on
// the mirrored route, each request copied to a second backend (mirrored).
//
//	go test ./test/e2e -run '^$' -bench Mirror -benchtime 20000x -count 3
func BenchmarkMirror(b *testing.B) {
	for _, c := range []struct {
		name   string
		mirror bool
		path   string
	}{
		{"off", false, "/plain"},
		{"configured", true, "/plain"},
		{"mirrored", true, "/mirrored"},
	} {
		b.Run(c.name, func(b *testing.B) {
			web := backend.Start(b, "web")
			shadow := backend.Start(b, "shadow")
			port := haproxytest.FreePort(b)
			dir := b.TempDir()
			cfgDir := filepath.Join(dir, "out")
			renderScenarioTo(b, mirrorScenario, dir, cfgDir, map[string]any{
				"Port": port, "Mirror": c.mirror, "Services": map[string]int{"web": web.Port, "shadow": shadow.Port},
			})
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			haproxytest.Start(b, filepath.Join(cfgDir, bundle.ConfigFile), addr)
			url := fmt.Sprintf("http://%s%s/x", addr, c.path)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
			get := func() error {
				resp, err := client.Get(url)
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
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(4) // 8 clients on 2 CPUs
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					if err := get(); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
