package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"hagate.io/hagate/internal/testutil/pki"
)

// lsGateway is startRun's Gateway, allowing ListenerSets from every
// namespace.
const lsGateway = `
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
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - name: https
    port: {{.HTTPS}}
    protocol: HTTPS
    tls: {certificateRefs: [{name: default-cert}]}
  - {name: http, port: {{.HTTP}}, protocol: HTTP}
`

// lsTeam is an application team's ListenerSet: one HTTPS listener on the
// Gateway's HTTPS port with the team's hostname and certificate, and a
// route attached to it.
const lsTeam = `
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: {{.Name}}, namespace: default}
spec:
  parentRef: {name: gw}
  listeners:
  - name: https
    port: {{.HTTPS}}
    protocol: HTTPS
    hostname: {{.Host}}
    tls: {certificateRefs: [{name: {{.Name}}-cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: {{.Name}}, namespace: default}
spec:
  parentRefs: [{group: gateway.networking.k8s.io, kind: ListenerSet, name: {{.Name}}, sectionName: https}]
  rules:
  - backendRefs: [{name: web, port: 80}]
`

// An application team's ListenerSet adding an HTTPS listener, with its
// own hostname and certificate, to a port the Gateway already serves is
// a Runtime API change: the certificate and its crt-list line, the host
// and SNI map entries. HAProxy is not reloaded, its workers stay, and a
// client's open keep-alive connection carries on.
func TestListenerSetHTTPSListenerWithoutReload(t *testing.T) {
	e := startRun(t)
	e.write("gateway.yaml", lsGateway, map[string]any{"HTTPS": e.https, "HTTP": e.http})
	// A first team: the port then has several listeners (SNI and 421
	// checks in place), as a shared Gateway does.
	e.secret("team-a-cert", e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"a.team.example.com"}}))
	e.write("team-a.yaml", lsTeam, map[string]any{"Name": "team-a", "HTTPS": e.https, "Host": "a.team.example.com"})
	if _, ok := eventually(20*time.Second, func() bool {
		return strings.HasPrefix(e.servedCert("a.team.example.com"), "a.team.example.com/") && e.backendName("a.team.example.com", "/") == "web"
	}); !ok {
		t.Fatal("team A's listener is not served with its certificate")
	}

	// An open keep-alive connection, and what HAProxy runs now.
	var reused []bool
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "default.example.com", RootCAs: e.ca.Pool()},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	keepAlive := func() int {
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/", e.https), nil)
		req.Host = "default.example.com"
		resp, err := client.Do(req)
		if err != nil {
			t.Logf("keep-alive request: %v", err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := keepAlive(); s != 200 {
		t.Fatalf("keep-alive request: %d", s)
	}
	// Team A's listener was the port's second: the SNI and 421 checks
	// came with it, a reload (counted once confirmed).
	if _, ok := eventually(20*time.Second, func() bool {
		_, err := e.a.Process().CLI().ShowProc(context.Background())
		return err == nil && e.counter("hagate_haproxy_reloads_total", "") >= 1
	}); !ok {
		t.Fatal("no reload confirmed for team A's listener")
	}
	reloads := e.counter("hagate_haproxy_reloads_total", "")
	workers := e.workers()
	crtLines := e.counter("hagate_haproxy_runtime_updates_total", "crtlist")

	// Team B brings its listener.
	e.secret("team-b-cert", e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"b.team.example.com"}}))
	e.write("team-b.yaml", lsTeam, map[string]any{"Name": "team-b", "HTTPS": e.https, "Host": "b.team.example.com"})
	took, ok := eventually(20*time.Second, func() bool {
		return strings.HasPrefix(e.servedCert("b.team.example.com"), "b.team.example.com/") && e.backendName("b.team.example.com", "/") == "web"
	})
	if !ok {
		t.Fatal("team B's listener is not served with its certificate")
	}
	t.Logf("team B's hostname served with its certificate after %s", took)
	if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
		t.Errorf("reloads went from %v to %v", reloads, r)
	}
	if w := e.workers(); fmt.Sprint(w) != fmt.Sprint(workers) {
		t.Errorf("workers changed from %v to %v", workers, w)
	}
	if _, ok := eventually(5*time.Second, func() bool { return e.counter("hagate_haproxy_runtime_updates_total", "crtlist") > crtLines }); !ok {
		t.Errorf("no crt-list line was added through the Runtime API")
	}
	if s := keepAlive(); s != 200 {
		t.Errorf("the open connection's next request: %d", s)
	}
	if len(reused) != 2 || !reused[1] {
		t.Errorf("the keep-alive connection was not reused (reused: %v)", reused)
	}
	// Team A is untouched, and a request for team B's host on team A's
	// TLS connection is misdirected.
	if e.backendName("a.team.example.com", "/") != "web" {
		t.Error("team A's hostname no longer routes")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "a.team.example.com", RootCAs: e.ca.Pool()}}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/", e.https), nil)
	req.Host = "b.team.example.com"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("team B's host on team A's connection: %d, want 421", resp.StatusCode)
	}
}
