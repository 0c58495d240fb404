package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
)

// mtlsScenario: client-certificate validation by port (default CA A on
// port A, per-port CA B on port B, AllowInsecureFallback with CA A on
// port Insecure), backends over TLS by BackendTLSPolicy presenting the
// Gateway's client certificate (good: hostname matches; wrongHost: it does
// not; uri / wrongURI: URI SAN checks), and TLS options per listener on
// port Opts.
const mtlsScenario = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: client-ca-a, namespace: default}
data:
  ca.crt: |
{{.ClientCAA}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: client-ca-b, namespace: default}
data:
  ca.crt: |
{{.ClientCAB}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: backend-ca, namespace: default}
data:
  ca.crt: |
{{.BackendCA}}
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
          caCertificateRefs: [{kind: ConfigMap, group: "", name: client-ca-a}]
      perPort:
      - port: {{.B}}
        tls:
          validation:
            caCertificateRefs: [{kind: ConfigMap, group: "", name: client-ca-b}]
      - port: {{.Insecure}}
        tls:
          validation:
            mode: AllowInsecureFallback
            caCertificateRefs: [{kind: ConfigMap, group: "", name: client-ca-a}]
    backend:
      clientCertificateRef: {name: gw-client}
  listeners:
  - {name: a, port: {{.A}}, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: gw-cert}]}}
  - {name: b, port: {{.B}}, protocol: HTTPS, hostname: b.example.com, tls: {certificateRefs: [{name: gw-cert}]}}
  - {name: insecure, port: {{.Insecure}}, protocol: HTTPS, hostname: i.example.com, tls: {certificateRefs: [{name: gw-cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: opts, namespace: default}
spec:
  gatewayClassName: hagate
  listeners:
  - name: strict
    port: {{.Opts}}
    protocol: HTTPS
    hostname: strict.example.com
    tls:
      certificateRefs: [{name: gw-cert}]
      options: {hagate.io/ssl-min-ver: TLSv1.3}
  - {name: lax, port: {{.Opts}}, protocol: HTTPS, hostname: lax.example.com, tls: {certificateRefs: [{name: gw-cert}]}}
---
apiVersion: v1
kind: Secret
metadata: {name: gw-cert, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: {{.GwCrt}}, tls.key: {{.GwKey}}}
---
apiVersion: v1
kind: Secret
metadata: {name: gw-client, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: {{.ClientCrt}}, tls.key: {{.ClientKey}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: routes, namespace: default}
spec:
  parentRefs: [{name: gw}, {name: opts}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /good}}]
    backendRefs: [{name: good, port: 443}]
  - matches: [{path: {type: PathPrefix, value: /wrong-host}}]
    backendRefs: [{name: wrong-host, port: 443}]
  - matches: [{path: {type: PathPrefix, value: /uri}}]
    backendRefs: [{name: uri, port: 443}]
  - matches: [{path: {type: PathPrefix, value: /wrong-uri}}]
    backendRefs: [{name: wrong-uri, port: 443}]
  - backendRefs: [{name: plain, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: good, namespace: default}
spec:
  targetRefs: [{group: "", kind: Service, name: good}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}], hostname: backend.example.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: wrong-host, namespace: default}
spec:
  targetRefs: [{group: "", kind: Service, name: wrong-host}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}], hostname: other.example.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: uri, namespace: default}
spec:
  targetRefs: [{group: "", kind: Service, name: uri}]
  validation:
    caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}]
    hostname: backend.example.com
    subjectAltNames: [{type: URI, uri: "spiffe://example.com/backend"}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: wrong-uri, namespace: default}
spec:
  targetRefs: [{group: "", kind: Service, name: wrong-uri}]
  validation:
    caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}]
    hostname: backend.example.com
    subjectAltNames: [{type: URI, uri: "spiffe://example.com/someone-else"}]
{{range .Backends}}---
apiVersion: v1
kind: Service
metadata: {name: {{.Name}}, namespace: default}
spec: {ports: [{name: p, port: {{.ServicePort}}, targetPort: {{.Port}}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: {{.Name}}-1, namespace: default, labels: {kubernetes.io/service-name: {{.Name}}}}
addressType: IPv4
ports: [{name: p, port: {{.Port}}}]
endpoints: [{addresses: [127.0.0.1]}]
{{end}}`

// startMTLSBackend is an HTTPS echo backend that requires a client
// certificate from clientCAs and reports its subject in X-Client-CN.
func startMTLSBackend(t *testing.T, name string, leaf *pki.Leaf, clientCAs *x509.CertPool) int {
	h := backend.Handler(name)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			w.Header().Set("X-Client-CN", r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		h.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{leaf.TLSCertificate(t)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func indent(pemData []byte) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(pemData)), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func TestClientValidationBackendTLSAndOptions(t *testing.T) {
	gwCA := pki.NewCA(t, "gateway CA")
	clientCAA := pki.NewCA(t, "client CA A")
	clientCAB := pki.NewCA(t, "client CA B")
	backendCA := pki.NewCA(t, "backend CA")
	gwClientCA := pki.NewCA(t, "gateway client CA")

	gwLeaf := gwCA.Issue(t, pki.LeafOptions{DNSNames: []string{"*.example.com"}})
	gwClient := gwClientCA.Issue(t, pki.LeafOptions{DNSNames: []string{"gateway-client"}, Client: true})
	beLeaf := backendCA.Issue(t, pki.LeafOptions{DNSNames: []string{"backend.example.com"}, URIs: []string{"spiffe://example.com/backend"}})
	clientA := clientCAA.Issue(t, pki.LeafOptions{DNSNames: []string{"client-a"}, Client: true})
	clientB := clientCAB.Issue(t, pki.LeafOptions{DNSNames: []string{"client-b"}, Client: true})

	plain := backend.Start(t, "plain")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	data := struct {
		A, B, Insecure, Opts               int
		ClientCAA, ClientCAB, BackendCA    string
		GwCrt, GwKey, ClientCrt, ClientKey string
		Backends                           []tlsBackend
	}{
		A: haproxytest.FreePort(t), B: haproxytest.FreePort(t), Insecure: haproxytest.FreePort(t), Opts: haproxytest.FreePort(t),
		ClientCAA: indent(clientCAA.CertPEM), ClientCAB: indent(clientCAB.CertPEM), BackendCA: indent(backendCA.CertPEM),
		GwCrt: b64(gwLeaf.CertPEM), GwKey: b64(gwLeaf.KeyPEM), ClientCrt: b64(gwClient.CertPEM), ClientKey: b64(gwClient.KeyPEM),
	}
	for _, name := range []string{"good", "wrong-host", "uri", "wrong-uri"} {
		data.Backends = append(data.Backends, tlsBackend{name, 443, startMTLSBackend(t, name, beLeaf, gwClientCA.Pool())})
	}
	data.Backends = append(data.Backends, tlsBackend{"plain", 80, plain.Port})

	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "out")
	renderScenarioTo(t, mtlsScenario, dir, cfgDir, data)
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	haproxytest.Start(t, filepath.Join(cfgDir, bundle.ConfigFile), addr(data.A), addr(data.B), addr(data.Insecure), addr(data.Opts))

	// get sends one request over a new connection, with a client
	// certificate or none; err is a refused handshake or connection.
	get := func(port int, sni, path string, cert *pki.Leaf, maxVersion uint16) (*http.Response, *backend.Echo, error) {
		opts := backend.ClientOptions{ServerName: sni, RootCAs: gwCA.Pool(), DialAddr: addr(port), MaxVersion: maxVersion}
		if cert != nil {
			opts.Certificates = []tls.Certificate{cert.TLSCertificate(t)}
			opts.AlwaysSendCertificate = true
		}
		c := backend.NewClient(opts)
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://%s:%d%s", sni, port, path), nil)
		// A client-supplied header must not survive.
		req.Header.Set("X-SSL-Client-Verified", "1")
		resp, err := c.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, nil, err
		}
		var echo *backend.Echo
		if resp.StatusCode == 200 {
			echo = &backend.Echo{}
			if json.Unmarshal(body, echo) != nil {
				echo = nil
			}
		}
		return resp, echo, nil
	}

	t.Run("client certificates are validated per port", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			port   int
			sni    string
			cert   *pki.Leaf
			accept bool
		}{
			{"CA A on the default port", data.A, "a.example.com", clientA, true},
			{"CA B on the default port", data.A, "a.example.com", clientB, false},
			{"no certificate on the default port", data.A, "a.example.com", nil, false},
			{"CA B on the per-port override", data.B, "b.example.com", clientB, true},
			{"CA A on the per-port override", data.B, "b.example.com", clientA, false},
		} {
			resp, echo, err := get(tc.port, tc.sni, "/", tc.cert, 0)
			switch {
			case tc.accept && (err != nil || resp.StatusCode != 200 || echo == nil || echo.Name != "plain"):
				t.Errorf("%s: want the request served, got %v %v", tc.name, err, resp)
			case !tc.accept && err == nil:
				t.Errorf("%s: want the connection refused, got status %d", tc.name, resp.StatusCode)
			}
			if tc.accept && echo != nil && echo.Headers.Get("X-SSL-Client-Verified") != "1" {
				t.Errorf("%s: X-SSL-Client-Verified = %q", tc.name, echo.Headers.Get("X-SSL-Client-Verified"))
			}
		}
	})

	t.Run("AllowInsecureFallback accepts and reports", func(t *testing.T) {
		for _, tc := range []struct {
			name              string
			cert              *pki.Leaf
			present, verified string
			subject           bool
		}{
			{"no certificate", nil, "0", "0", false},
			{"a certificate of another CA", clientB, "1", "0", true},
			{"a valid certificate", clientA, "1", "1", true},
		} {
			resp, echo, err := get(data.Insecure, "i.example.com", "/", tc.cert, 0)
			if err != nil || resp.StatusCode != 200 || echo == nil {
				t.Errorf("%s: want the request served, got %v %v", tc.name, err, resp)
				continue
			}
			h := echo.Headers
			if h.Get("X-SSL-Client-Present") != tc.present || h.Get("X-SSL-Client-Verified") != tc.verified {
				t.Errorf("%s: Present %q Verified %q, want %s %s", tc.name, h.Get("X-SSL-Client-Present"), h.Get("X-SSL-Client-Verified"), tc.present, tc.verified)
			}
			if got := h.Get("X-SSL-Client-Subject") != ""; got != tc.subject {
				t.Errorf("%s: X-SSL-Client-Subject %q", tc.name, h.Get("X-SSL-Client-Subject"))
			}
			if tc.cert != nil {
				fp := fmt.Sprintf("%X", sha256Sum(tc.cert.Cert.Raw))
				if h.Get("X-SSL-Client-SHA256") != fp {
					t.Errorf("%s: X-SSL-Client-SHA256 %q, want %s", tc.name, h.Get("X-SSL-Client-SHA256"), fp)
				}
			}
		}
	})

	t.Run("backends over TLS with the Gateway's client certificate", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			want int
		}{
			{"/good", 200},       // CA and hostname match
			{"/wrong-host", 503}, // hostname does not match the backend's certificate
			{"/uri", 200},        // URI SAN present
			{"/wrong-uri", 502},  // URI SAN absent
		} {
			resp, echo, err := get(data.A, "a.example.com", tc.path, clientA, 0)
			if err != nil {
				t.Errorf("%s: %v", tc.path, err)
				continue
			}
			if resp.StatusCode != tc.want {
				t.Errorf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.want)
			}
			if tc.want == 200 && (echo == nil || !echo.TLS) {
				t.Errorf("%s: the backend was not reached over TLS", tc.path)
			}
			if tc.want == 200 && resp.Header.Get("X-Client-CN") != "gateway-client" {
				t.Errorf("%s: the backend saw client certificate %q, want the Gateway's", tc.path, resp.Header.Get("X-Client-CN"))
			}
		}
	})

	t.Run("ssl-min-ver per listener on a shared port", func(t *testing.T) {
		if _, _, err := get(data.Opts, "strict.example.com", "/", nil, tls.VersionTLS12); err == nil {
			t.Error("a TLS 1.2 client reached the listener with hagate.io/ssl-min-ver TLSv1.3")
		}
		if resp, _, err := get(data.Opts, "strict.example.com", "/", nil, tls.VersionTLS13); err != nil || resp.StatusCode != 200 {
			t.Errorf("TLS 1.3 client on the strict listener: %v", err)
		}
		if resp, _, err := get(data.Opts, "lax.example.com", "/", nil, tls.VersionTLS12); err != nil || resp.StatusCode != 200 {
			t.Errorf("TLS 1.2 client on the neighbour listener: %v", err)
		}
	})
}
