package e2e

import (
	"fmt"
	"math/big"
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
		return "handshake failed"
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
			// openssl writes whole bytes (0BC9...), %X no leading zero:
			// both are read as the number they are.
			n, ok := new(big.Int).SetString(s, 16)
			if !ok {
				t.Fatalf("openssl x509: serial %q", s)
			}
			serial = fmt.Sprintf("%X", n)
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
	// Either may be the listener's first certificateRef (the port's
	// default certificate): the choice by key type is the same.
	for _, rsaFirst := range []bool{true, false} {
		t.Run(map[bool]string{true: "rsa-first", false: "ecdsa-first"}[rsaFirst], func(t *testing.T) {
			testDualCertificates(t, rsaFirst)
		})
	}
}

func testDualCertificates(t *testing.T, rsaFirst bool) {
	e := startRun(t)
	// An RSA chain throughout (a client offering only RSA signatures
	// refuses an ECDSA-signed RSA certificate under TLS 1.3).
	rsaCA := pki.NewRSACA(t, "run RSA CA")
	rsaLeaf := rsaCA.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}, RSA: true})
	e.secret("default-rsa", rsaLeaf)
	if rsaFirst {
		e.gateway("default-rsa", "default-cert")
	} else {
		e.gateway("default-cert", "default-rsa")
	}
	ecdsaLeaf := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}})
	e.secret("default-cert", ecdsaLeaf)
	serial := func(l *pki.Leaf) string { return fmt.Sprintf("%X", l.Cert.SerialNumber) }
	rsaWant, ecdsaWant := "rsaEncryption "+serial(rsaLeaf), "id-ecPublicKey "+serial(ecdsaLeaf)
	// waitServed waits until an RSA-only and an ECDSA-only client of TLS
	// version v get rsaWant and ecdsaWant.
	waitServed := func(what, v, rsaOnly, ecdsaOnly string) {
		t.Helper()
		if got, ok := eventuallyEqual(20*time.Second, func() string {
			return e.servedKey(t, "default.example.com", v, rsaOnly) + ", " + e.servedKey(t, "default.example.com", v, ecdsaOnly)
		}, rsaWant+", "+ecdsaWant); !ok {
			t.Fatalf("%s: RSA-only, ECDSA-only clients get %s, want %s, %s", what, got, rsaWant, ecdsaWant)
		}
	}
	waitServed("both certificates", "-tls1_2", "RSA+SHA256:RSA-PSS+SHA256", "ECDSA+SHA256")
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		rsaOnly, ecdsaOnly, both := "RSA+SHA256:RSA-PSS+SHA256", "ECDSA+SHA256", "ECDSA+SHA256:RSA+SHA256"
		if v == "-tls1_3" {
			// rsa_pkcs1_sha256 signs the RSA chain (TLS 1.3 checks
			// certificate signatures against the same list).
			rsaOnly, ecdsaOnly, both = "rsa_pss_rsae_sha256:rsa_pkcs1_sha256", "ecdsa_secp256r1_sha256", "ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:rsa_pkcs1_sha256"
		}
		for i := 0; i < 3; i++ {
			if got := e.servedKey(t, "default.example.com", v, rsaOnly); got != rsaWant {
				t.Errorf("%s, RSA-only client: served %q, want %q", v, got, rsaWant)
			}
			if got := e.servedKey(t, "default.example.com", v, ecdsaOnly); got != ecdsaWant {
				t.Errorf("%s, ECDSA-only client: served %q, want %q", v, got, ecdsaWant)
			}
		}
		// A client offering both: ECDSA under TLS 1.2; under TLS 1.3
		// HAProxy 2.6 looks for an ECDSA cipher suite, which TLS 1.3
		// suites no longer name, and serves RSA (3.0: ECDSA). Logged,
		// not asserted: it is HAProxy's choice.
		t.Logf("%s, client offering ECDSA and RSA: served %s", v, e.servedKey(t, "default.example.com", v, both))
	}

	// Rotating either is a Runtime API change, and the other stays served.
	reloads := e.counter("hagate_haproxy_reloads_total", "")
	rsaLeaf = rsaCA.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}, RSA: true})
	e.secret("default-rsa", rsaLeaf)
	rsaWant = "rsaEncryption " + serial(rsaLeaf)
	waitServed("after rotating the RSA certificate", "-tls1_3", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256", "ecdsa_secp256r1_sha256")
	ecdsaLeaf = e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}})
	e.secret("default-cert", ecdsaLeaf)
	ecdsaWant = "id-ecPublicKey " + serial(ecdsaLeaf)
	waitServed("after rotating the ECDSA certificate", "-tls1_2", "RSA+SHA256:RSA-PSS+SHA256", "ECDSA+SHA256")
	if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
		t.Errorf("rotating the certificates reloaded HAProxy (%v -> %v)", reloads, r)
	}
}

// eventuallyEqual calls f until it returns want, for at most d, and
// returns what it returned last.
func eventuallyEqual(d time.Duration, f func() string, want string) (string, bool) {
	var got string
	_, ok := eventually(d, func() bool {
		got = f()
		return got == want
	})
	return got, ok
}
