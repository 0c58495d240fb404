package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
)

// crlGateway validates client certificates against ConfigMap client-ca
// (ca.crt and ca.crl): AllowValidOnly on the HTTPS port, and
// AllowInsecureFallback on port Insecure. The listeners have hostnames
// (strict-sni): HAProxy 2.6 updates their CRL through the Runtime API (a
// catch-all listener's port reloads instead: see bundle.State).
const crlGateway = `
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
  tls:
    frontend:
      default:
        validation:
          caCertificateRefs: [{kind: ConfigMap, group: "", name: client-ca}]
      perPort:
      - port: {{.Insecure}}
        tls:
          validation:
            mode: AllowInsecureFallback
            caCertificateRefs: [{kind: ConfigMap, group: "", name: client-ca}]
  listeners:
  - {name: https, port: {{.HTTPS}}, protocol: HTTPS, hostname: default.example.com, tls: {certificateRefs: [{name: default-cert}]}}
  - {name: insecure, port: {{.Insecure}}, protocol: HTTPS, hostname: default.example.com, tls: {certificateRefs: [{name: default-cert}]}}
  - {name: http, port: {{.HTTP}}, protocol: HTTP}
`

const crlConfigMap = `
apiVersion: v1
kind: ConfigMap
metadata: {name: client-ca, namespace: default}
data:
  ca.crt: |
{{.CA}}
  ca.crl: |
{{.CRL}}
`

// A revoked client certificate is refused where validation is required,
// and reported as unverified under AllowInsecureFallback; a CRL update is
// a Runtime API change after which a newly revoked certificate is refused
// too.
func TestClientCertificateRevocation(t *testing.T) {
	e := startRun(t)
	insecure := haproxytest.FreePort(t)
	clientCA := pki.NewCA(t, "client CA")
	good := clientCA.Issue(t, pki.LeafOptions{DNSNames: []string{"good"}, Client: true})
	revoked := clientCA.Issue(t, pki.LeafOptions{DNSNames: []string{"revoked"}, Client: true})
	later := clientCA.Issue(t, pki.LeafOptions{DNSNames: []string{"later"}, Client: true})
	writeCRL := func(n int64, leaves ...*pki.Leaf) {
		e.write("client-ca.yaml", crlConfigMap, map[string]string{"CA": indent(clientCA.CertPEM), "CRL": indent(clientCA.CRL(t, n, time.Time{}, leaves...))})
	}
	writeCRL(1, revoked)
	e.write("gateway.yaml", crlGateway, map[string]any{"HTTPS": e.https, "HTTP": e.http, "Insecure": insecure})

	// status is the answer to a request with the client certificate leaf
	// on port (0: the handshake or request failed), and the backend's
	// X-SSL-Client-Verified header.
	status := func(port int, leaf *pki.Leaf) (int, string) {
		c := backend.NewClient(backend.ClientOptions{ServerName: "default.example.com", RootCAs: e.ca.Pool(), DialAddr: fmt.Sprintf("127.0.0.1:%d", port),
			Certificates: []tls.Certificate{leaf.TLSCertificate(t)}, AlwaysSendCertificate: true})
		resp, err := c.Get(fmt.Sprintf("https://default.example.com:%d/", port))
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		var echo backend.Echo
		_ = json.NewDecoder(resp.Body).Decode(&echo)
		return resp.StatusCode, echo.Headers.Get("X-SSL-Client-Verified")
	}
	// The new port serving says the configuration with validation runs.
	if _, ok := eventually(20*time.Second, func() bool { s, _ := status(insecure, good); return s == http.StatusOK }); !ok {
		t.Fatal("the validating configuration is not served")
	}
	if s, _ := status(e.https, good); s != http.StatusOK {
		t.Fatalf("a valid client certificate: status %d", s)
	}
	if s, _ := status(e.https, revoked); s != 0 {
		t.Errorf("AllowValidOnly, revoked certificate: status %d, want the handshake refused", s)
	}
	if s, v := status(insecure, revoked); s != http.StatusOK || v != "0" {
		t.Errorf("AllowInsecureFallback, revoked certificate: status %d, X-SSL-Client-Verified %q; want 200 and 0", s, v)
	}
	if s, v := status(insecure, good); s != http.StatusOK || v != "1" {
		t.Errorf("AllowInsecureFallback, valid certificate: status %d, X-SSL-Client-Verified %q; want 200 and 1", s, v)
	}

	// A new CRL also revokes "later": applied without a reload (counted
	// from the confirmed reload that brought validation in).
	if _, ok := eventually(20*time.Second, func() bool { return e.counter("hagate_haproxy_reloads_total", "") >= 1 }); !ok {
		t.Fatal("the reload that brought validation in is not confirmed")
	}
	reloads := e.counter("hagate_haproxy_reloads_total", "")
	if s, _ := status(e.https, later); s != http.StatusOK {
		t.Fatalf("later, not revoked yet: status %d", s)
	}
	writeCRL(2, revoked, later)
	if _, ok := eventually(20*time.Second, func() bool { s, _ := status(e.https, later); return s == 0 }); !ok {
		t.Fatal("the newly revoked certificate is still accepted")
	}
	if s, _ := status(e.https, good); s != http.StatusOK {
		t.Errorf("after the CRL update, a valid certificate: status %d", s)
	}
	if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
		t.Errorf("the CRL update reloaded HAProxy (%v -> %v)", reloads, r)
	}
	if n := e.counter("hagate_haproxy_runtime_updates_total", "crlfile"); n < 1 {
		t.Errorf("runtime CRL updates = %v", n)
	}
}
