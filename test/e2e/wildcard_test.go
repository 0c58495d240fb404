package e2e

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
)

const wildcardScenario = `
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
  - {name: wildcard, protocol: HTTPS, port: {{ .Port }}, hostname: "*.example.com", tls: {certificateRefs: [{name: wildcard}]}}
  - {name: xd, protocol: HTTPS, port: {{ .Port }}, hostname: x.d.example.com, tls: {certificateRefs: [{name: xd}]}}
{{- range .Secrets }}
---
apiVersion: v1
kind: Secret
metadata: {name: {{ .Name }}, namespace: {{ .Namespace }}}
type: kubernetes.io/tls
data: {tls.crt: "{{ .Crt }}", tls.key: "{{ .Key }}"}
{{- end }}
`

// TestWildcardListenerDeeperNames: a listener "*.example.com" is chosen by
// the Gateway API's multi-label wildcard for the names its certificate is
// valid for, though HAProxy's crt-list wildcard matches one label; a name
// a more specific listener owns keeps that listener's certificate, and a
// deeper name the certificate does not cover is refused (strict-sni)
// rather than answered with a certificate the client would reject.
func TestWildcardListenerDeeperNames(t *testing.T) {
	ca := pki.NewCA(t, "wildcard CA")
	wild := ca.Issue(t, pki.LeafOptions{DNSNames: []string{"*.example.com", "a.b.example.com", "*.c.example.com", "x.d.example.com"}})
	xd := ca.Issue(t, pki.LeafOptions{DNSNames: []string{"x.d.example.com"}})
	port := haproxytest.FreePort(t)
	data := map[string]any{"Port": port, "Secrets": []scenarioSecret{
		{"wildcard", "default", base64.StdEncoding.EncodeToString(wild.CertPEM), base64.StdEncoding.EncodeToString(wild.KeyPEM)},
		{"xd", "default", base64.StdEncoding.EncodeToString(xd.CertPEM), base64.StdEncoding.EncodeToString(xd.KeyPEM)},
	}}
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "out")
	renderScenarioTo(t, wildcardScenario, dir, cfgDir, data)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	haproxytest.Start(t, filepath.Join(cfgDir, bundle.ConfigFile), addr)

	for _, tc := range []struct {
		sni  string
		want *pki.Leaf // nil: refused
	}{
		{"one.example.com", wild}, // one label: HAProxy's own wildcard
		{"a.b.example.com", wild}, // deeper, a name of the certificate
		{"y.c.example.com", wild}, // deeper, under a wildcard name of the certificate
		{"x.d.example.com", xd},   // the exact listener owns it
		{"q.r.example.com", nil},  // deeper, not in the certificate: refused
		{"example.org", nil},      // no listener
	} {
		if tc.want == nil {
			// A refusal is the server ending the handshake with an alert,
			// whatever the client would accept: the client verifies
			// nothing, so any certificate served (a wrong one included)
			// would make the handshake succeed. strict-sni answers a
			// name no crt-list line serves with unrecognized_name (Go
			// reports a received alert as a "remote error").
			cert, err := backend.TLSHandshake(addr, tc.sni, &tls.Config{InsecureSkipVerify: true})
			var remote *net.OpError
			switch {
			case err == nil:
				t.Errorf("SNI %s: served %v (serial %s), want the handshake refused", tc.sni, cert.DNSNames, cert.SerialNumber)
			case !errors.As(err, &remote) || remote.Op != "remote error":
				t.Errorf("SNI %s: %v, want the handshake refused by the server with a TLS alert", tc.sni, err)
			case remote.Err.Error() != "tls: unrecognized name":
				t.Errorf("SNI %s: the server sent the alert %q, want unrecognized name (strict-sni)", tc.sni, remote.Err)
			}
			continue
		}
		// Verified as a client would: the CA and the SNI as server name.
		cert, err := backend.TLSHandshake(addr, tc.sni, &tls.Config{RootCAs: ca.Pool()})
		switch {
		case err != nil:
			t.Errorf("SNI %s: %v", tc.sni, err)
		case cert.SerialNumber.Cmp(tc.want.Cert.SerialNumber) != 0:
			t.Errorf("SNI %s: served %v, want %v", tc.sni, cert.DNSNames, tc.want.Cert.DNSNames)
		}
	}
}
