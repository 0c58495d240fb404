package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render/ir"
)

// logKindsGateway has every kind of port the JSON access log covers:
// HTTPS with client-certificate validation (AllowInsecureFallback), plain
// HTTP, a TLS passthrough listener with its TLSRoute and a TCP listener
// with its TCPRoute.
const logKindsGateway = `
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
          mode: AllowInsecureFallback
          caCertificateRefs: [{kind: ConfigMap, group: "", name: client-ca}]
  listeners:
  - {name: https, port: {{.HTTPS}}, protocol: HTTPS, tls: {certificateRefs: [{name: default-cert}]}}
  - {name: http, port: {{.HTTP}}, protocol: HTTP}
  - {name: pass, port: {{.Pass}}, protocol: TLS, hostname: pass.example.com, tls: {mode: Passthrough}}
  - {name: db, port: {{.DB}}, protocol: TCP}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: client-ca, namespace: default}
data:
  ca.crt: |
{{.CA}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: pass, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: pass}]
  hostnames: [pass.example.com]
  rules: [{backendRefs: [{name: tls-backend, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: db, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: db}]
  rules: [{backendRefs: [{name: tcp-backend, port: 5432}]}]
---
apiVersion: v1
kind: Service
metadata: {name: tls-backend, namespace: default}
spec: {ports: [{name: tls, port: 443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: tls-backend-1, namespace: default, labels: {kubernetes.io/service-name: tls-backend}}
addressType: IPv4
ports: [{name: tls, port: {{.TLSBackend}}}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: v1
kind: Service
metadata: {name: tcp-backend, namespace: default}
spec: {ports: [{name: pg, port: 5432}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: tcp-backend-1, namespace: default, labels: {kubernetes.io/service-name: tcp-backend}}
addressType: IPv4
ports: [{name: pg, port: {{.TCPBackend}}}]
endpoints: [{addresses: [127.0.0.1]}]
`

// jsonLogFields are the documented fields of the JSON access log (README,
// "Access logs"): every line of its kind has every one of them.
var jsonLogFields = map[string][]string{
	"http": {"time", "client", "client_port", "frontend", "listener", "host", "rule", "backend", "server", "method", "path", "user_agent",
		"status", "bytes_in", "bytes_out", "sni", "tls_version", "tls_cipher", "client_cert_subject", "client_cert_verify", "timers_ms", "termination"},
	"tcp": {"time", "client", "client_port", "frontend", "listener", "route", "backend", "server", "sni", "tls_version", "tls_cipher",
		"bytes_in", "bytes_out", "timers_ms", "termination"},
}

// The JSON access log on every kind of port: an HTTPS request with a
// client certificate, a plain HTTP request, a TLS passthrough connection
// and a TCP connection each give a line that parses as JSON, has every
// documented field and names its listener, route, backend and the TLS
// facts HAProxy has; a User-Agent with quotes, a backslash and a tab, and
// header lines split by a bare line feed, do not break a line or add a
// field.
func TestJSONAccessLogEveryKind(t *testing.T) {
	out := &lineBuffer{}
	e := startRunWith(t, func(o *agent.Options) {
		o.AccessLogFormat = ir.AccessLogJSON
		o.HAProxyOutput = out
	})
	clientCA := pki.NewCA(t, "client CA")
	client := clientCA.Issue(t, pki.LeafOptions{DNSNames: []string{"client.example.com"}, Client: true})
	beCA := pki.NewCA(t, "backend CA")
	pass, db := haproxytest.FreePort(t), haproxytest.FreePort(t)
	e.write("gateway.yaml", logKindsGateway, map[string]any{
		"HTTPS": e.https, "HTTP": e.http, "Pass": pass, "DB": db, "CA": indent(clientCA.CertPEM),
		"TLSBackend": startTLSBackend(t, beCA.Issue(t, pki.LeafOptions{DNSNames: []string{"pass.example.com"}})),
		"TCPBackend": startTCPBackend(t),
	})
	if _, ok := eventually(30*time.Second, func() bool { return tcpGreeting(db) == "tcp-backend" }); !ok {
		t.Fatal("the TCP listener is not served")
	}

	// HTTPS with a client certificate, and a User-Agent that needs
	// escaping (written raw).
	const agentValue = "ua \"quoted\" back\\slash\ttab"
	tc, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.https), &tls.Config{ServerName: "default.example.com", RootCAs: e.ca.Pool(),
		Certificates: []tls.Certificate{client.TLSCertificate(t)}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("HTTPS with a client certificate: %v", err)
	}
	fmt.Fprintf(tc, "GET /with-cert HTTP/1.1\r\nHost: default.example.com\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n", agentValue)
	resp, _ := io.ReadAll(bufio.NewReader(tc))
	tc.Close()
	if !strings.HasPrefix(string(resp), "HTTP/1.1 200") {
		t.Fatalf("HTTPS request with a client certificate: %q", strings.SplitN(string(resp), "\r\n", 2)[0])
	}
	// Plain HTTP, raw requests: one whose User-Agent line ends in a bare
	// line feed (HTTP/1.1 allows it: the next line is another header),
	// one where what follows the line feed would be a forged JSON field
	// (HAProxy refuses the request; its line is JSON all the same).
	rawHTTP := func(userAgent string) string {
		raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.http))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		fmt.Fprintf(raw, "GET /plain HTTP/1.1\r\nHost: default.example.com\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n", userAgent)
		resp, _ := io.ReadAll(bufio.NewReader(raw))
		return strings.SplitN(string(resp), "\r\n", 2)[0]
	}
	if s := rawHTTP("line\nX-Other: y"); !strings.HasPrefix(s, "HTTP/1.1 200") {
		t.Fatalf("plain HTTP request: %q", s)
	}
	if s := rawHTTP("line\n\"forged\": 1"); !strings.HasPrefix(s, "HTTP/1.1 400") {
		t.Errorf("a request with a forged header line: %q, want 400", s)
	}
	// TLS passthrough, and TCP.
	pc, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", pass), &tls.Config{ServerName: "pass.example.com", RootCAs: beCA.Pool()})
	if err != nil {
		t.Fatalf("passthrough: %v", err)
	}
	_ = pc.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(pc).ReadString('\n')
	pc.Close()
	if line != "tls-backend\n" {
		t.Fatalf("passthrough: %q, %v", line, err)
	}
	// (A TCP connection the client sends nothing on is not logged:
	// option dontlognull.)
	dc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", db))
	if err != nil {
		t.Fatal(err)
	}
	_ = dc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(dc, "ping\n")
	echo, _ := io.ReadAll(dc)
	dc.Close()
	if string(echo) != "tcp-backend\necho ping\n" {
		t.Fatalf("TCP: %q", echo)
	}

	find := func(lines []map[string]any, key, value string) map[string]any {
		for _, m := range lines {
			if m[key] == value {
				return m
			}
		}
		return nil
	}
	var lines []map[string]any
	if _, ok := eventually(10*time.Second, func() bool {
		lines = out.parsedJSONLines(t)
		return find(lines, "path", "/with-cert") != nil && find(lines, "path", "/plain") != nil && find(lines, "path", "<BADREQ>") != nil &&
			find(lines, "route", "TLSRoute/default/pass") != nil && find(lines, "route", "TCPRoute/default/db") != nil
	}); !ok {
		t.Fatalf("not every kind of line is logged: %v", lines)
	}
	check := func(kind string, m map[string]any, want map[string]any) {
		t.Helper()
		for _, k := range jsonLogFields[kind] {
			if _, ok := m[k]; !ok {
				t.Errorf("%s line: no field %s in %v", kind, k, m)
			}
		}
		if len(m) != len(jsonLogFields[kind]) {
			t.Errorf("%s line: %d fields, want %d: %v", kind, len(m), len(jsonLogFields[kind]), m)
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s line: %s = %#v, want %#v", kind, k, m[k], v)
			}
		}
	}
	check("http", find(lines, "path", "/with-cert"), map[string]any{
		"listener": "default/gw/https", "rule": "default/web/0", "backend": "default_web_80", "status": float64(200),
		"sni": "default.example.com", "tls_version": "TLSv1.3", "user_agent": agentValue,
		"client_cert_subject": "/CN=client.example.com", "client_cert_verify": "0",
	})
	check("http", find(lines, "path", "/plain"), map[string]any{
		"listener": "default/gw/http", "rule": "default/web/0", "status": float64(200), "user_agent": "line", "sni": "-", "tls_version": "-", "client_cert_subject": "-",
	})
	check("http", find(lines, "path", "<BADREQ>"), map[string]any{"status": float64(400), "method": "<BADREQ>", "user_agent": "-"})
	check("tcp", find(lines, "route", "TLSRoute/default/pass"), map[string]any{
		"listener": "default/gw/pass", "backend": "default_tls-backend_443_tcp", "sni": "pass.example.com",
	})
	check("tcp", find(lines, "route", "TCPRoute/default/db"), map[string]any{
		"listener": "default/gw/db", "backend": "default_tcp-backend_5432_tcp", "sni": "-",
	})
}
