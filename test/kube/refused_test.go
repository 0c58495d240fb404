package kube

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/types"

	"hagate.io/hagate/controller"
	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/netns"
	"hagate.io/hagate/internal/testutil/pki"
)

const refusedYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: iso, namespace: default}
spec:
  gatewayClassName: hagate
  listeners:
  - {name: good, port: {{.HTTPS}}, protocol: HTTPS, hostname: good.example.com, tls: {certificateRefs: [{name: iso-good}]}}
  - {name: weak, port: {{.HTTPS}}, protocol: HTTPS, hostname: weak.example.com, tls: {certificateRefs: [{name: iso-weak}]}}
---
apiVersion: v1
kind: Service
metadata: {name: iso-web, namespace: default}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: iso-web-1, namespace: default, labels: {kubernetes.io/service-name: iso-web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [{{.Backend}}], conditions: {ready: true}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: iso-web, namespace: default}
spec:
  parentRefs: [{name: iso}]
  rules: [{matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [{name: iso-web, port: 80}]}]
`

const refusedRouteYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: iso-new, namespace: default}
spec:
  parentRefs: [{name: iso}]
  rules: [{matches: [{path: {type: Exact, value: /new}}], backendRefs: [{name: iso-web, port: 80}]}]
`

// In Kubernetes mode too, a certificate HAProxy refuses stays with its
// listener as a condition written to the Gateway, and the rest is served.
// (hagate runs as if the data plane's OpenSSL were at security level 1, so
// that HAProxy, at level 2, is the one refusing the RSA-1024 key.)
func TestKubernetesModeRefusedCertificate(t *testing.T) {
	host := netns.New(t, "198.18.41")
	ln := host.Listen(t, "tcp", host.Addr+":8080")
	srv := &http.Server{Handler: backend.Handler("iso-web")}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	e := &env{t: t, ca: pki.NewCA(t, "kube refused CA"), https: haproxytest.FreePort(t), m: metrics.New()}
	cluster.Apply(t, render(t, refusedYAML, map[string]any{"HTTPS": e.https, "Backend": host.Addr}))
	e.secret("default", "iso-good", "good.example.com")
	weak := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"weak.example.com"}, RSABits: 1024})
	cluster.Apply(t, render(t, secretYAML, map[string]string{"Name": "iso-weak", "Namespace": "default",
		"Crt": b64(weak.CertPEM), "Key": b64(weak.KeyPEM)}))

	a, err := agent.New(agent.Options{StateDir: t.TempDir(), HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1",
		Log: funcr.NewJSON(func(o string) { t.Log(o) }, funcr.Options{}), Metrics: e.m, HAProxyOutput: io.Discard, SecurityLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := controller.Run(ctx, controller.Options{Config: cluster.Config, Agent: a, GatewayAddress: "127.0.0.1",
			Gateway: &types.NamespacedName{Namespace: "default", Name: "iso"}, Log: funcr.NewJSON(func(o string) { t.Log(o) }, funcr.Options{})})
		a.Wait()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the controller did not stop")
		}
	})

	eventually(t, "the good listener serving", 60*time.Second, func() bool { return e.get("good.example.com", "/") == 200 })
	weakRefs := `{.status.listeners[?(@.name=="weak")].conditions[?(@.type=="ResolvedRefs")]}`
	eventually(t, "the weak listener's ResolvedRefs quoting HAProxy", 30*time.Second, func() bool {
		c := jsonpath(t, "gateway", "default", "iso", weakRefs)
		return strings.Contains(c, `"status":"False"`) && strings.Contains(c, "InvalidCertificateRef") && strings.Contains(c, "HAProxy refused")
	})
	if got := jsonpath(t, "gateway", "default", "iso", `{.status.listeners[?(@.name=="weak")].conditions[?(@.type=="Programmed")].status}`); got != "False" {
		t.Errorf("weak listener Programmed = %q", got)
	}
	if got := jsonpath(t, "gateway", "default", "iso", `{.status.conditions[?(@.type=="Programmed")].status}`); got != "True" {
		t.Errorf("Gateway Programmed = %q, want True (the good listener is served)", got)
	}
	// An unrelated change still applies.
	cluster.Apply(t, refusedRouteYAML)
	eventually(t, "the new route", 30*time.Second, func() bool {
		return jsonpath(t, "httproute", "default", "iso-new", `{.status.parents[0].conditions[?(@.type=="Accepted")].status}`) == "True" &&
			e.get("good.example.com", "/new") == 200
	})
	cluster.Kubectl(t, "delete", "httproute", "-n", "default", "iso-new", "iso-web")
	cluster.Kubectl(t, "delete", "gateway", "-n", "default", "iso")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
