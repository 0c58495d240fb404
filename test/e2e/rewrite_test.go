package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
)

const rewriteScenario = `
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
  listeners: [{name: http, port: {{.Port}}, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: default}
spec: {ports: [{port: 80, targetPort: {{.Backend}}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-1, namespace: default, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
ports: [{port: {{.Backend}}}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: Exact, value: /exact}}]
    backendRefs: [{name: svc, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /prefix}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}}]
    backendRefs: [{name: svc, port: 80}]
`

// A ReplacePrefixMatch rewrite on a frontend that also has an Exact path
// match rewrites the path (the exact-path lookup's variable once made the
// rewrite a no-op).
func TestRewritePrefixNextToExactPath(t *testing.T) {
	be := backend.Start(t, "svc")
	port := haproxytest.FreePort(t)
	dir, cfg := t.TempDir(), t.TempDir()
	renderScenarioTo(t, rewriteScenario, dir, cfg, map[string]any{"Port": port, "Backend": be.Port})
	haproxytest.Start(t, cfg+"/"+bundle.ConfigFile, fmt.Sprintf("127.0.0.1:%d", port))
	c := backend.NewClient(backend.ClientOptions{})
	for path, want := range map[string]string{"/prefix/x": "/new/x", "/prefix": "/new", "/exact": "/exact"} {
		resp, echo := backend.Get(t, c, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), "", nil)
		if resp.StatusCode != http.StatusOK || echo == nil || echo.Path != want {
			t.Errorf("%s: status %d, backend saw %+v; want path %s", path, resp.StatusCode, echo, want)
		}
	}
}
