// Package kube holds end-to-end tests of hagate's Kubernetes mode against a
// real API server (etcd + kube-apiserver on loopback), with backends on
// test hosts in a network namespace (the API server refuses loopback
// addresses in EndpointSlices).
package kube

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/go-logr/logr/funcr"

	"hagate.io/hagate/controller"
	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/kubetest"
	"hagate.io/hagate/internal/testutil/metricstest"
	"hagate.io/hagate/internal/testutil/netns"
	"hagate.io/hagate/internal/testutil/pki"
)

var cluster *kubetest.Cluster

func TestMain(m *testing.M) {
	ctx := context.Background()
	c, stop, err := kubetest.Start(ctx, os.Stderr)
	if err != nil {
		if errors.Is(err, kubetest.ErrNoKubeAPIServer) && !kubetest.Required() {
			// No test ran: say so on a line of its own (go test -v shows
			// it; the exit status stays 0 so that a checkout without the
			// API server built can run go test ./...).
			fmt.Printf("SKIP: every test of test/kube: no test API server: %v (%s is not set, so this is not a failure)\n", err, kubetest.EnvRequire)
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "kube: cannot start the test API server:", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	stop()
	os.Exit(code)
}

const baseYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: v1
kind: Namespace
metadata: {name: certs}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: hagate
  listeners:
  - name: https
    port: {{.HTTPS}}
    protocol: HTTPS
    hostname: www.example.com
    tls: {certificateRefs: [{name: www}]}
  - name: shared
    port: {{.HTTPS}}
    protocol: HTTPS
    hostname: shared.example.com
    tls: {certificateRefs: [{name: shared, namespace: certs}]}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gw-to-certs, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]
  to: [{group: "", kind: Secret}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [{{.Backend}}], conditions: {ready: true}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
`

const secretYAML = `
apiVersion: v1
kind: Secret
metadata: {name: {{.Name}}, namespace: {{.Namespace}}}
type: kubernetes.io/tls
data: {tls.crt: {{.Crt}}, tls.key: {{.Key}}}
`

func render(t *testing.T, tmpl string, data any) string {
	var b strings.Builder
	if err := template.Must(template.New("").Parse(tmpl)).Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

type env struct {
	t     *testing.T
	ca    *pki.CA
	https int
	m     *metrics.Metrics
}

func (e *env) secret(ns, name, host string) {
	leaf := e.ca.Issue(e.t, pki.LeafOptions{DNSNames: []string{host}})
	cluster.Apply(e.t, render(e.t, secretYAML, map[string]string{
		"Name": name, "Namespace": ns,
		"Crt": base64.StdEncoding.EncodeToString(leaf.CertPEM), "Key": base64.StdEncoding.EncodeToString(leaf.KeyPEM),
	}))
}

func (e *env) counter(name string) float64 {
	return metricstest.Counter(e.t, e.m.Registry, name, "")
}

func (e *env) get(sni, path string) int {
	c := backend.NewClient(backend.ClientOptions{ServerName: sni, RootCAs: e.ca.Pool(), DialAddr: fmt.Sprintf("127.0.0.1:%d", e.https)})
	resp, err := c.Get(fmt.Sprintf("https://%s:%d%s", sni, e.https, path))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *env) served(sni string) string {
	c, err := backend.TLSHandshake(fmt.Sprintf("127.0.0.1:%d", e.https), sni, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return ""
	}
	return c.SerialNumber.String()
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// jsonpath reads one field of an object with kubectl.
func jsonpath(t *testing.T, kind, ns, name, path string) string {
	return strings.TrimSpace(cluster.Kubectl(t, "get", kind, "-n", ns, name, "-o", "jsonpath="+path))
}

func TestKubernetesMode(t *testing.T) {
	host := netns.New(t, "198.18.40")
	ln := host.Listen(t, "tcp", host.Addr+":8080")
	srv := &http.Server{Handler: backend.Handler("web")}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	e := &env{t: t, ca: pki.NewCA(t, "kube CA"), https: haproxytest.FreePort(t), m: metrics.New()}
	cluster.Apply(t, render(t, baseYAML, map[string]any{"HTTPS": e.https, "Backend": host.Addr}))
	e.secret("default", "www", "www.example.com")
	e.secret("certs", "shared", "shared.example.com")

	a, err := agent.New(agent.Options{StateDir: t.TempDir(), HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1",
		Log: funcr.NewJSON(func(o string) { t.Log(o) }, funcr.Options{}), Metrics: e.m, HAProxyOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := controller.Run(ctx, controller.Options{Config: cluster.Config, Agent: a, GatewayAddress: "127.0.0.1", LeaderElect: true, LeaderElectionNamespace: "default",
			Log: funcr.NewJSON(func(o string) { t.Log(o) }, funcr.Options{})})
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

	t.Run("status and traffic", func(t *testing.T) {
		eventually(t, "Gateway Programmed", 30*time.Second, func() bool {
			return jsonpath(t, "gateway", "default", "gw", `{.status.conditions[?(@.type=="Programmed")].status}`) == "True"
		})
		if addr := jsonpath(t, "gateway", "default", "gw", `{.status.addresses[0].value}`); addr != "127.0.0.1" {
			t.Errorf("status.addresses = %q", addr)
		}
		if got := jsonpath(t, "httproute", "default", "web", `{.status.parents[0].conditions[?(@.type=="Accepted")].status}`); got != "True" {
			t.Errorf("HTTPRoute Accepted = %q", got)
		}
		if got := jsonpath(t, "gatewayclass", "", "hagate", `{.status.conditions[?(@.type=="Accepted")].status}`); got != "True" {
			t.Errorf("GatewayClass Accepted = %q", got)
		}
		eventually(t, "traffic to the backend in the network namespace", 10*time.Second, func() bool { return e.get("www.example.com", "/") == 200 })
		if e.get("shared.example.com", "/") != 200 {
			t.Error("the cross-namespace certificate allowed by the ReferenceGrant is not served")
		}
	})

	t.Run("Secret rotation without reload", func(t *testing.T) {
		reloads := e.counter("hagate_haproxy_reloads_total")
		before := e.served("www.example.com")
		e.secret("default", "www", "www.example.com")
		eventually(t, "the rotated certificate", 10*time.Second, func() bool { s := e.served("www.example.com"); return s != "" && s != before })
		if r := e.counter("hagate_haproxy_reloads_total"); r != reloads {
			t.Errorf("the rotation reloaded HAProxy (%v -> %v)", reloads, r)
		}
	})

	t.Run("deleting the ReferenceGrant withdraws the certificate", func(t *testing.T) {
		cluster.Kubectl(t, "delete", "referencegrant", "-n", "certs", "gw-to-certs")
		eventually(t, "RefNotPermitted", 20*time.Second, func() bool {
			return jsonpath(t, "gateway", "default", "gw", `{.status.listeners[?(@.name=="shared")].conditions[?(@.type=="ResolvedRefs")].reason}`) == "RefNotPermitted"
		})
		eventually(t, "shared.example.com refused", 10*time.Second, func() bool { return e.served("shared.example.com") == "" })
	})

	t.Run("deleting the route gives 404", func(t *testing.T) {
		cluster.Kubectl(t, "delete", "httproute", "-n", "default", "web")
		eventually(t, "404", 10*time.Second, func() bool { return e.get("www.example.com", "/") == 404 })
	})

	t.Run("traffic keeps flowing while the API server is down", func(t *testing.T) {
		cluster.Apply(t, render(t, baseYAML, map[string]any{"HTTPS": e.https, "Backend": host.Addr}))
		eventually(t, "the route back", 20*time.Second, func() bool { return e.get("www.example.com", "/") == 200 })
		cluster.StopAPIServer(t)
		for i := 0; i < 20; i++ {
			if e.get("www.example.com", "/") != 200 {
				t.Fatalf("request %d failed while the API server was down", i)
			}
			time.Sleep(100 * time.Millisecond)
		}
		cluster.StartAPIServer(t)
		cluster.Kubectl(t, "delete", "httproute", "-n", "default", "web")
		eventually(t, "404 after the API server came back", 60*time.Second, func() bool { return e.get("www.example.com", "/") == 404 })
	})
}
