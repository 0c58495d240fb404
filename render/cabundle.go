package render

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// caKey is the ConfigMap key holding PEM CA certificates.
const caKey = "ca.crt"

// loadCAConfigMap reads the PEM certificates of a ConfigMap's ca.crt,
// re-encoded, for a CA reference of an object of fromKind in fromNS (ns ""
// is fromNS).
func (t *translator) loadCAConfigMap(fromKind, fromNS, group, kind, ns, name string) ([]byte, *refProblem) {
	spec := refSpec{label: "CA certificate reference", want: "ConfigMap", supported: "only core ConfigMaps with a " + caKey + " key are supported",
		checkName: true, fromKind: fromKind, fromNS: fromNS}
	n, prob := t.resolveRef(spec, group, kind, ns, name)
	if prob != nil {
		return nil, prob
	}
	cm, prob := t.lookupConfigMap(n)
	if prob != nil {
		return nil, prob
	}
	where := n.String()
	data, ok := cm.Data[caKey]
	if !ok {
		if b, bok := cm.BinaryData[caKey]; bok {
			data, ok = string(b), true
		}
	}
	if !ok {
		return nil, &refProblem{refNotFound, fmt.Sprintf("ConfigMap %s has no %s key.", where, caKey)}
	}
	out, err := caPEM([]byte(data))
	if err != nil {
		return nil, &refProblem{refNotFound, fmt.Sprintf("ConfigMap %s: %s %v.", where, caKey, err)}
	}
	return out, nil
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
