// Package pki generates real X.509 material for tests: a self-signed CA and
// the server or client certificates it issues, PEM-encoded, plus Describe,
// which turns PEM data into key-free lines fit for golden files.
//
// Keys are ECDSA P-256 unless RSA 2048 is asked for. Nothing here writes
// files; callers decide where (and with which modes) PEM data goes.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

// CA is a self-signed certificate authority for tests.
type CA struct {
	// Cert is the parsed CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key (ECDSA P-256, or RSA 2048: NewRSACA).
	Key crypto.Signer
	// CertPEM is Cert, PEM-encoded.
	CertPEM []byte
}

// NewCA returns a self-signed CA with common name cn and an ECDSA P-256 key.
// It is valid from ten years ago to ten years from now, so leaves with fixed
// dates in that span chain to it.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	now := time.Now()
	return NewCAValid(t, cn, now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0))
}

// NewCAValid is NewCA with a fixed validity, for output that must not
// depend on the day the test runs (golden files).
func NewCAValid(t testing.TB, cn string, notBefore, notAfter time.Time) *CA {
	t.Helper()
	return newCA(t, cn, notBefore, notAfter, false)
}

// NewRSACA is NewCA with an RSA 2048 key: the chain of an RSA leaf it
// issues is RSA-signed throughout, as a client offering only RSA
// signature algorithms requires (TLS 1.3 checks the chain's signatures).
func NewRSACA(t testing.TB, cn string) *CA {
	t.Helper()
	now := time.Now()
	return newCA(t, cn, now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0), true)
}

func newCA(t testing.TB, cn string, notBefore, notAfter time.Time, useRSA bool) *CA {
	t.Helper()
	key := newKey(t, useRSA)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("pki: create CA %q: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("pki: parse CA %q: %v", cn, err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der)}
}

// Pool returns a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LeafOptions describes a certificate for CA.Issue.
type LeafOptions struct {
	// DNSNames are the DNS SANs; the subject CN is the first one, or "leaf"
	// when there is none.
	DNSNames []string
	// URIs are URI SANs, e.g. "spiffe://cluster.local/ns/a/sa/b".
	URIs []string
	// NotBefore and NotAfter bound validity; zero values mean now-1h and
	// now+24h.
	NotBefore, NotAfter time.Time
	// Client makes a client certificate (ExtKeyUsageClientAuth) instead of
	// a server one (ExtKeyUsageServerAuth).
	Client bool
	// RSA uses an RSA 2048 key instead of ECDSA P-256.
	RSA bool
	// RSABits, when set, uses an RSA key of that size (a weak one, to
	// test what OpenSSL refuses).
	RSABits int
	// SignatureAlgorithm, when set, is the CA's signature algorithm
	// (x509.SHA1WithRSA... to test weak signatures; the CA key must fit).
	SignatureAlgorithm x509.SignatureAlgorithm
}

// Leaf is a certificate issued by a CA, with its key.
type Leaf struct {
	// CertPEM is the leaf certificate followed by the CA certificate.
	CertPEM []byte
	// KeyPEM is the private key, PKCS #8 "PRIVATE KEY".
	KeyPEM []byte
	// Cert is the parsed leaf certificate.
	Cert *x509.Certificate
}

// Issue signs a new leaf certificate described by o.
func (ca *CA) Issue(t testing.TB, o LeafOptions) *Leaf {
	t.Helper()
	key := newKey(t, o.RSA)
	if o.RSABits > 0 {
		k, err := rsa.GenerateKey(rand.Reader, o.RSABits)
		if err != nil {
			t.Fatalf("pki: generate key: %v", err)
		}
		key, o.RSA = k, true
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "leaf"},
		DNSNames:              o.DNSNames,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SignatureAlgorithm:    o.SignatureAlgorithm,
	}
	if len(o.DNSNames) > 0 {
		tmpl.Subject.CommonName = o.DNSNames[0]
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(24 * time.Hour)
	}
	if o.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if o.RSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("pki: URI SAN %q: %v", s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("pki: issue %q: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("pki: parse %q: %v", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("pki: marshal key: %v", err)
	}
	chain := append(encodeCert(der), ca.CertPEM...)
	return &Leaf{
		CertPEM: chain,
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Cert:    cert,
	}
}

// CRL returns a PEM certificate revocation list of the CA revoking the
// given leaves (none: an empty list), numbered number, valid from
// thisUpdate for a week (zero: from an hour ago).
func (ca *CA) CRL(t testing.TB, number int64, thisUpdate time.Time, revoked ...*Leaf) []byte {
	t.Helper()
	if thisUpdate.IsZero() {
		thisUpdate = time.Now().Add(-time.Hour)
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(7 * 24 * time.Hour)}
	for _, l := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: l.Cert.SerialNumber, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatalf("pki: CRL: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// CombinedPEM returns the chain followed by the key: the single-file form
// HAProxy's crt and crt-list expect.
func (l *Leaf) CombinedPEM() []byte {
	return append(append([]byte(nil), l.CertPEM...), l.KeyPEM...)
}

// TLSCertificate returns the leaf as a tls.Certificate (chain and key), for
// servers and for client-certificate options.
func (l *Leaf) TLSCertificate(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatalf("pki: key pair: %v", err)
	}
	return c
}

// Describe returns one line per PEM block in pemData, separated by "\n"
// with no trailing newline:
//
//	certificate CN=foo.example.com DNS=foo.example.com,bar.example.com notAfter=2030-01-01T00:00:00Z issuer=CN=hagate test CA
//	private key ECDSA P-256
//	other block X509 CRL
//
// URI= and IP= parts follow DNS= when the certificate has such SANs. The
// output holds no key material and no hashes, so it is stable for a given
// input's names and dates. Text before a block is ignored, as OpenSSL does;
// a block that does not parse, trailing non-PEM text, or no block at all is
// an error.
func Describe(pemData []byte) (string, error) {
	var lines []string
	rest := pemData
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		line, err := describeBlock(b)
		if err != nil {
			return "", fmt.Errorf("PEM block %d (%s): %w", len(lines)+1, b.Type, err)
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return "", errors.New("no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return "", fmt.Errorf("%d bytes of non-PEM data after PEM block %d", len(bytes.TrimSpace(rest)), len(lines))
	}
	return strings.Join(lines, "\n"), nil
}

func describeBlock(b *pem.Block) (string, error) {
	switch b.Type {
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return "", err
		}
		parts := []string{"certificate"}
		if s := c.Subject.String(); s != "" {
			parts = append(parts, s)
		}
		if len(c.DNSNames) > 0 {
			parts = append(parts, "DNS="+strings.Join(c.DNSNames, ","))
		}
		if len(c.URIs) > 0 {
			uris := make([]string, len(c.URIs))
			for i, u := range c.URIs {
				uris[i] = u.String()
			}
			parts = append(parts, "URI="+strings.Join(uris, ","))
		}
		if len(c.IPAddresses) > 0 {
			ips := make([]string, len(c.IPAddresses))
			for i, ip := range c.IPAddresses {
				ips[i] = ip.String()
			}
			parts = append(parts, "IP="+strings.Join(ips, ","))
		}
		parts = append(parts,
			"notAfter="+c.NotAfter.UTC().Format(time.RFC3339),
			"issuer="+c.Issuer.String())
		return strings.Join(parts, " "), nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return "", err
		}
		return describeKey(k)
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return "", err
		}
		return describeKey(k)
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
		if err != nil {
			return "", err
		}
		return describeKey(k)
	default:
		return "other block " + b.Type, nil
	}
}

func describeKey(k any) (string, error) {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return "private key ECDSA " + k.Curve.Params().Name, nil
	case *rsa.PrivateKey:
		return fmt.Sprintf("private key RSA %d", k.N.BitLen()), nil
	case ed25519.PrivateKey:
		return "private key Ed25519", nil
	default:
		return "", fmt.Errorf("unsupported private key type %T", k)
	}
}

func newKey(t testing.TB, useRSA bool) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	if useRSA {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatalf("pki: generate key: %v", err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("pki: serial: %v", err)
	}
	return n.Add(n, big.NewInt(1)) // never zero
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
