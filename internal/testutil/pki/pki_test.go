package pki

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestIssueChainVerifies(t *testing.T) {
	ca := NewCA(t, "hagate test CA")
	leaf := ca.Issue(t, LeafOptions{DNSNames: []string{"foo.example.com", "*.bar.example.com"}})

	if got := leaf.Cert.Subject.CommonName; got != "foo.example.com" {
		t.Errorf("CN = %q, want foo.example.com", got)
	}
	var blocks []*pem.Block
	for rest := leaf.CertPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) != 2 {
		t.Fatalf("CertPEM holds %d blocks, want leaf and CA", len(blocks))
	}
	if caCert, _ := x509.ParseCertificate(blocks[1].Bytes); caCert == nil || !caCert.Equal(ca.Cert) {
		t.Errorf("second block of CertPEM is not the CA")
	}
	for _, name := range []string{"foo.example.com", "x.bar.example.com"} {
		_, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.Pool()})
		if err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: ca.Pool()}); err == nil {
		t.Errorf("verify other.example.com: want a hostname error")
	}
	other := NewCA(t, "other CA")
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: other.Pool()}); err == nil {
		t.Errorf("verify against another CA: want an error")
	}
	// The key matches the certificate.
	tc := leaf.TLSCertificate(t)
	if len(tc.Certificate) != 2 {
		t.Errorf("tls.Certificate chain length %d, want 2", len(tc.Certificate))
	}
}

func TestIssueClientRSAURIs(t *testing.T) {
	ca := NewCA(t, "hagate test CA")
	leaf := ca.Issue(t, LeafOptions{Client: true, RSA: true, URIs: []string{"spiffe://cluster.local/ns/a/sa/b"}})
	if leaf.Cert.Subject.CommonName != "leaf" {
		t.Errorf("CN = %q, want leaf", leaf.Cert.Subject.CommonName)
	}
	if len(leaf.Cert.URIs) != 1 || leaf.Cert.URIs[0].String() != "spiffe://cluster.local/ns/a/sa/b" {
		t.Errorf("URIs = %v", leaf.Cert.URIs)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Cert.Verify(opts); err != nil {
		t.Errorf("verify as client: %v", err)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if _, err := leaf.Cert.Verify(opts); err == nil {
		t.Errorf("verify client certificate as server: want an error")
	}
}

func TestDescribe(t *testing.T) {
	ca := NewCA(t, "hagate test CA")
	notAfter := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ecLeaf := ca.Issue(t, LeafOptions{
		DNSNames:  []string{"foo.example.com", "bar.example.com"},
		URIs:      []string{"spiffe://x/y"},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  notAfter,
	})
	rsaLeaf := ca.Issue(t, LeafOptions{RSA: true, NotAfter: notAfter})

	caLine := "certificate CN=hagate test CA notAfter=" + ca.Cert.NotAfter.UTC().Format(time.RFC3339) + " issuer=CN=hagate test CA"
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"ecdsa combined", ecLeaf.CombinedPEM(), strings.Join([]string{
			"certificate CN=foo.example.com DNS=foo.example.com,bar.example.com URI=spiffe://x/y notAfter=2030-01-01T00:00:00Z issuer=CN=hagate test CA",
			caLine,
			"private key ECDSA P-256",
		}, "\n")},
		{"rsa key", rsaLeaf.KeyPEM, "private key RSA 2048"},
		{"rsa cert", rsaLeaf.CertPEM[:len(rsaLeaf.CertPEM)-len(ca.CertPEM)],
			"certificate CN=leaf notAfter=2030-01-01T00:00:00Z issuer=CN=hagate test CA"},
		{"other", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{1, 2, 3}}), "other block X509 CRL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Describe(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Describe:\n got %q\nwant %q", got, tt.want)
			}
			again, _ := Describe(tt.in)
			if again != got {
				t.Errorf("Describe is not stable: %q then %q", got, again)
			}
		})
	}

	// No key text leaks: no base64 run of the key, no PEM armour.
	got, _ := Describe(ecLeaf.CombinedPEM())
	keyBlock, _ := pem.Decode(ecLeaf.KeyPEM)
	b64 := base64.StdEncoding.EncodeToString(keyBlock.Bytes)
	for i := 0; i+16 <= len(b64); i += 16 {
		if strings.Contains(got, b64[i:i+16]) {
			t.Fatalf("Describe output contains key text %q", b64[i:i+16])
		}
	}
	if regexp.MustCompile(`-----|[A-Za-z0-9+/]{24,}`).MatchString(got) {
		t.Errorf("Describe output looks like it holds encoded data:\n%s", got)
	}
}

func TestDescribeErrors(t *testing.T) {
	ca := NewCA(t, "hagate test CA")
	for name, in := range map[string][]byte{
		"empty":     nil,
		"not pem":   []byte("hello"),
		"bad cert":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}),
		"bad key":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}),
		"trailing":  append(append([]byte(nil), ca.CertPEM...), "trailing junk\n"...),
		"truncated": ca.CertPEM[:len(ca.CertPEM)-10],
	} {
		if got, err := Describe(in); err == nil {
			t.Errorf("%s: Describe = %q, want an error", name, got)
		}
	}
}
