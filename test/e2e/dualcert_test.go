package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hagate.io/hagate/internal/testutil/pki"
)

// servedKey connects with openssl s_client, offering only the given
// signature algorithms under the given TLS version, and returns the
// served certificate's public key algorithm and serial.
func (e *runEnv) servedKey(t *testing.T, sni, version, sigalgs string) string {
	t.Helper()
	cmd := exec.Command("openssl", "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", e.https), "-servername", sni, version, "-sigalgs", sigalgs)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("openssl s_client %s %s: %v\n%s", version, sigalgs, err, out)
		return ""
	}
	x := exec.Command("openssl", "x509", "-noout", "-text", "-serial")
	x.Stdin = strings.NewReader(string(out))
	text, err := x.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, text)
	}
	var alg, serial string
	for _, l := range strings.Split(string(text), "\n") {
		l = strings.TrimSpace(l)
		if a, ok := strings.CutPrefix(l, "Public Key Algorithm: "); ok {
			alg = a
		}
		if s, ok := strings.CutPrefix(l, "serial="); ok {
			serial = s
		}
	}
	return alg + " " + serial
}

// Two certificates for the same names on one listener, one with an RSA
// key and one with an ECDSA key: a client that offers ECDSA signatures
// gets the ECDSA one, an RSA-only client the RSA one, under TLS 1.2 and
// 1.3; rotating either is a Runtime API change.
func TestDualRSAAndECDSACertificates(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not found")
	}
	if os.Getenv("HAGATE_TEST_DUAL_CERTS") == "" {
		// Found here: run after run of this test, HAProxy (2.6.12, also
		// 3.0.11 once) sometimes serves a client the other key type's
		// certificate for one name, for a whole process's life (an
		// RSA-only client then fails its handshake): the choice between
		// two crt-list lines of the same name is not reliable enough to
		// promise. Until it is understood, this test runs on demand.
		t.Skip("HAGATE_TEST_DUAL_CERTS not set: HAProxy's choice between same-name RSA and ECDSA certificates is not reliable (see the README)")
	}
	e := startRun(t)
	// An RSA chain throughout (a client offering only RSA signatures
	// refuses an ECDSA-signed RSA certificate under TLS 1.3).
	rsaCA := pki.NewRSACA(t, "run RSA CA")
	rsaLeaf := rsaCA.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}, RSA: true})
	e.secret("default-rsa", rsaLeaf)
	// The RSA one first: the default certificate, and a line for the name
	// the ECDSA one shares.
	e.gateway("default-rsa", "default-cert")
	serial := func(l *pki.Leaf) string { return fmt.Sprintf("%X", l.Cert.SerialNumber) }
	rsaWant := "rsaEncryption " + serial(rsaLeaf)
	if _, ok := eventually(20*time.Second, func() bool {
		return e.servedKey(t, "default.example.com", "-tls1_2", "RSA+SHA256:RSA-PSS+SHA256") == rsaWant
	}); !ok {
		t.Fatalf("an RSA-only client does not get the RSA certificate")
	}
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		rsaOnly, ecdsaOnly, both := "RSA+SHA256:RSA-PSS+SHA256", "ECDSA+SHA256", "ECDSA+SHA256:RSA+SHA256"
		if v == "-tls1_3" {
			// rsa_pkcs1_sha256 signs the RSA chain (TLS 1.3 checks
			// certificate signatures against the same list).
			rsaOnly, ecdsaOnly, both = "rsa_pss_rsae_sha256:rsa_pkcs1_sha256", "ecdsa_secp256r1_sha256", "ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:rsa_pkcs1_sha256"
		}
		if got := e.servedKey(t, "default.example.com", v, rsaOnly); got != rsaWant {
			t.Errorf("%s, RSA-only client: served %q, want %q", v, got, rsaWant)
		}
		if got := e.servedKey(t, "default.example.com", v, ecdsaOnly); !strings.HasPrefix(got, "id-ecPublicKey ") {
			t.Errorf("%s, ECDSA-only client: served %q, want the ECDSA certificate", v, got)
		}
		// A client offering both: ECDSA under TLS 1.2; under TLS 1.3
		// HAProxy 2.6 chooses by cipher suites, which no longer name a
		// key type, and serves RSA (2.8 chooses by signature
		// algorithms). Logged, not asserted: it is HAProxy's choice.
		t.Logf("%s, client offering ECDSA and RSA: served %s", v, e.servedKey(t, "default.example.com", v, both))
	}
	reloads := e.counter("hagate_haproxy_reloads_total", "")
	rotated := rsaCA.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}, RSA: true})
	e.secret("default-rsa", rotated)
	if _, ok := eventually(20*time.Second, func() bool {
		return e.servedKey(t, "default.example.com", "-tls1_3", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256") == "rsaEncryption "+serial(rotated)
	}); !ok {
		t.Fatal("the rotated RSA certificate is not served")
	}
	if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
		t.Errorf("rotating the RSA certificate reloaded HAProxy (%v -> %v)", reloads, r)
	}
}
