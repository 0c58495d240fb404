package render

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// caKey is the ConfigMap key holding PEM CA certificates; crlKey, next
// to it, PEM certificate revocation lists (a hagate extension, for
// client-certificate validation).
const (
	caKey  = "ca.crt"
	crlKey = "ca.crl"
)

// configMapValue is a ConfigMap's value at key (Data, else BinaryData).
func configMapValue(data map[string]string, binary map[string][]byte, key string) (string, bool) {
	if v, ok := data[key]; ok {
		return v, true
	}
	if b, ok := binary[key]; ok {
		return string(b), true
	}
	return "", false
}

// caRefCRL is the ca.crl of a CA ConfigMap that has one.
type caRefCRL struct {
	// where names the ConfigMap (namespace/name); data is its ca.crl.
	where, data string
}

// parseCRL reads the PEM CRLs of a ConfigMap's ca.crl, re-encoded, each
// checked to be signed by one of cas.
func parseCRL(ref *caRefCRL, cas []byte) ([]*x509.RevocationList, []byte, *refProblem) {
	n, data := ref.where, ref.data
	issuers := pemCertificates(cas)
	var out bytes.Buffer
	var lists []*x509.RevocationList
	for rest := []byte(data); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			continue
		}
		rl, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, nil, &refProblem{refNotFound, fmt.Sprintf("ConfigMap %s: %s holds a CRL that does not parse: %v.", n, crlKey, err)}
		}
		signed := false
		for _, c := range issuers {
			if rl.CheckSignatureFrom(c) == nil {
				signed = true
				break
			}
		}
		if !signed {
			return nil, nil, &refProblem{refNotFound, fmt.Sprintf("ConfigMap %s: %s holds a CRL of %s that no CA certificate of the port signed.", n, crlKey, rl.Issuer)}
		}
		_ = pem.Encode(&out, &pem.Block{Type: "X509 CRL", Bytes: b.Bytes})
		lists = append(lists, rl)
	}
	if len(lists) == 0 {
		return nil, nil, &refProblem{refNotFound, fmt.Sprintf("ConfigMap %s: %s holds no PEM CRL (\"-----BEGIN X509 CRL-----\").", n, crlKey)}
	}
	return lists, out.Bytes(), nil
}

// loadCAConfigMap reads the PEM certificates of a ConfigMap's ca.crt,
// re-encoded, for a CA reference of an object of fromKind in fromNS (ns ""
// is fromNS).
// The ConfigMap's ca.crl, when it has one, comes with it (crl).
func (t *translator) loadCAConfigMap(fromKind, fromNS, group, kind, ns, name string) (out []byte, crl *caRefCRL, prob *refProblem) {
	spec := refSpec{label: "CA certificate reference", want: "ConfigMap", supported: "only core ConfigMaps with a " + caKey + " key are supported",
		checkName: true, fromKind: fromKind, fromNS: fromNS}
	n, prob := t.resolveRef(spec, group, kind, ns, name)
	if prob != nil {
		return nil, nil, prob
	}
	cm, prob := t.lookupConfigMap(n)
	if prob != nil {
		return nil, nil, prob
	}
	where := n.String()
	data, ok := configMapValue(cm.Data, cm.BinaryData, caKey)
	if !ok {
		return nil, nil, &refProblem{refNotFound, fmt.Sprintf("ConfigMap %s has no %s key.", where, caKey)}
	}
	out, err := caPEM([]byte(data))
	if err != nil {
		return nil, nil, &refProblem{refNotFound, fmt.Sprintf("ConfigMap %s: %s %v.", where, caKey, err)}
	}
	if v, ok := configMapValue(cm.Data, cm.BinaryData, crlKey); ok {
		crl = &caRefCRL{where: where, data: v}
	}
	return out, crl, nil
}

// pemCertificates are the certificates of a PEM bundle that parse.
func pemCertificates(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// caPEM parses PEM CA certificates and re-encodes them: nothing but
// certificates reaches a CA file.
func caPEM(data []byte) ([]byte, error) {
	var out bytes.Buffer
	n := 0
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, fmt.Errorf("holds a certificate that does not parse: %v", err)
		}
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes})
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("holds no PEM certificate")
	}
	return out.Bytes(), nil
}
