package render

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// DefaultSecurityLevel is the OpenSSL security level of the data plane
// when none is given: level 2, the default of Debian's OpenSSL 3 (and of
// most distributions' builds HAProxy links to).
const DefaultSecurityLevel = 2

// securityBits is the strength each OpenSSL security level requires
// (SSL_CTX_set_security_level): 80, 112, 128, 192, 256 bits.
var securityBits = map[int]int{1: 80, 2: 112, 3: 128, 4: 192, 5: 256}

// minRSABits is the smallest RSA (or DSA) key of each level.
var minRSABits = map[int]int{1: 1024, 2: 2048, 3: 3072, 4: 7680, 5: 15360}

// checkKeyStrength predicts what OpenSSL refuses when HAProxy loads a
// certificate chain into a TLS context at the given security level: every
// certificate's key must be strong enough (RSA 2048 bits and ECDSA 224
// bits at level 2), and every certificate that is not self-signed must be
// signed with a strong enough digest (OpenSSL 3 rates SHA-1 and MD5 below
// level 1). HAProxy refuses the whole configuration otherwise ("unable to
// load SSL certificate into SSL Context").
func checkKeyStrength(chain []*x509.Certificate, level int) error {
	if level == 0 {
		level = DefaultSecurityLevel
	}
	need, ok := securityBits[level]
	if !ok {
		return nil
	}
	for i, c := range chain {
		which := "the certificate"
		if i > 0 {
			which = fmt.Sprintf("chain certificate %d (%s)", i, c.Subject.CommonName)
		}
		switch k := c.PublicKey.(type) {
		case *rsa.PublicKey:
			if n := k.N.BitLen(); n < minRSABits[level] {
				return fmt.Errorf("the RSA key of %s has %d bits; the data plane's OpenSSL (security level %d) requires at least %d", which, n, level, minRSABits[level])
			}
		case *ecdsa.PublicKey:
			// An EC key gives half its size in bits of security.
			if n := k.Curve.Params().BitSize; n/2 < need {
				return fmt.Errorf("the ECDSA key of %s is on a %d-bit curve; the data plane's OpenSSL (security level %d) requires at least %d bits", which, n, level, 2*need)
			}
		case ed25519.PublicKey:
			if need > 128 {
				return fmt.Errorf("the Ed25519 key of %s gives 128 bits of security; the data plane's OpenSSL (security level %d) requires %d", which, level, need)
			}
		}
		if selfSigned(c) {
			continue
		}
		if bits := signatureBits(c.SignatureAlgorithm); bits < need {
			return fmt.Errorf("%s is signed with %s, which the data plane's OpenSSL (security level %d) rates too weak", which, c.SignatureAlgorithm, level)
		}
	}
	return nil
}

// selfSigned reports whether OpenSSL takes c as self-signed (EXFLAG_SS:
// issuer equals subject, the authority key ID, if any, is its own, and
// its key may sign certificates): the signature of such a certificate is
// not judged.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		(len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)) &&
		(c.KeyUsage == 0 || c.KeyUsage&x509.KeyUsageCertSign != 0)
}

// signatureBits is the security OpenSSL 3 gives a signature's digest.
func signatureBits(a x509.SignatureAlgorithm) int {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA:
		return 39
	case x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return 63
	case x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.DSAWithSHA256:
		return 128
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		return 192
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		return 256
	case x509.PureEd25519:
		return 128
	}
	// Unknown to Go: OpenSSL judges it, not us.
	return 1 << 10
}
