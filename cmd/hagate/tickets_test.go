package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hagate.io/hagate/internal/testutil/pki"
)

const httpsGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: hagate
  listeners: [{name: https, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}]
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: %s, tls.key: %s}
`

// hagate render --tls-ticket-keys writes the last three keys of the file
// (0600) and turns tickets on; the keys appear nowhere else. A bad file
// is an error that quotes no key, and nothing is written.
func TestRenderTicketKeys(t *testing.T) {
	dir := t.TempDir()
	leaf := pki.NewCA(t, "render CA").Issue(t, pki.LeafOptions{DNSNames: []string{"a.example.com"}})
	write(t, filepath.Join(dir, "m", "gw.yaml"), fmt.Sprintf(httpsGateway,
		base64.StdEncoding.EncodeToString(leaf.CertPEM), base64.StdEncoding.EncodeToString(leaf.KeyPEM)))
	var keys []string
	for i := range 4 {
		keys = append(keys, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte('k' + i)}, 80)))
	}
	keysFile := filepath.Join(dir, "keys")
	write(t, keysFile, strings.Join(keys, "\n")+"\n")
	out := filepath.Join(dir, "out")
	stdout, stderr, err := run(t, "", "render", "-f", filepath.Join(dir, "m"), "-o", out, "--tls-ticket-keys", keysFile)
	if err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}
	if got := read(t, filepath.Join(out, "tickets", "tls-ticket-keys")); got != strings.Join(keys[1:], "\n")+"\n" {
		t.Error("the keys file of the output is not the last three keys")
	}
	if fi, err := os.Stat(filepath.Join(out, "tickets", "tls-ticket-keys")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("keys file: %v %v", fi, err)
	}
	cfg := read(t, filepath.Join(out, "haproxy.cfg"))
	if strings.Contains(cfg, "no-tls-tickets") || !strings.Contains(cfg, "tls-ticket-keys "+out+"/tickets/tls-ticket-keys") {
		t.Errorf("haproxy.cfg does not turn tickets on:\n%s", cfg)
	}
	for _, text := range []string{stdout, stderr, cfg, read(t, filepath.Join(out, "status.yaml"))} {
		for _, k := range keys {
			if strings.Contains(text, k) {
				t.Fatal("a key appears outside the keys file")
			}
		}
	}

	// Without the flag: no tickets.
	plain := filepath.Join(dir, "plain")
	if _, stderr, err := run(t, "", "render", "-f", filepath.Join(dir, "m"), "-o", plain); err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}
	if cfg := read(t, filepath.Join(plain, "haproxy.cfg")); !strings.Contains(cfg, "no-tls-tickets") || strings.Contains(cfg, "tls-ticket-keys") {
		t.Error("without --tls-ticket-keys, tickets are not off")
	}

	write(t, keysFile, keys[0]+"\n"+keys[1]+"\n")
	bad := filepath.Join(dir, "bad")
	_, _, err = run(t, "", "render", "-f", filepath.Join(dir, "m"), "-o", bad, "--tls-ticket-keys", keysFile)
	if err == nil || !strings.Contains(err.Error(), "--tls-ticket-keys") || strings.Contains(err.Error(), keys[0][:16]) {
		t.Errorf("two keys: %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Error("output written despite a bad keys file")
	}
}

func TestRunTicketKeysFlag(t *testing.T) {
	for in, want := range map[string]string{"": "/var/lib/h/tls-ticket-keys", "off": "", "/run/keys/k": "/run/keys/k"} {
		if got := ticketKeysFile(&runFlags{stateDir: "/var/lib/h", ticketKeys: in}); got != want {
			t.Errorf("--tls-ticket-keys %q: %q, want %q", in, got, want)
		}
	}
}
