package render

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
)

// caKey is the ConfigMap key holding PEM CA certificates.
const caKey = "ca.crt"

// caRefProblem says why a CA reference is not usable, with the reason to
// report it with: "kind" (not a ConfigMap), "permission" (no
// ReferenceGrant), or "ref" (missing or malformed).
type caRefProblem struct {
	kind string
	msg  string
}

// loadCAConfigMap reads the PEM certificates of a ConfigMap's ca.crt,
// re-encoded. fromKind/fromNS name the referring object, for the
// ReferenceGrant check of cross-namespace references.
func (t *translator) loadCAConfigMap(fromKind, fromNS, group, kind, ns, name string) ([]byte, *caRefProblem) {
	where := fmt.Sprintf("%s/%s", ns, name)
	if group != "" || kind != "ConfigMap" {
		return nil, &caRefProblem{"kind", fmt.Sprintf("CA certificate reference %s refers to %s; only core ConfigMaps with a %s key are supported.", where, groupKind(group, kind), caKey)}
	}
	if !validName(ns, name) {
		return nil, &caRefProblem{"ref", fmt.Sprintf("CA certificate reference %q is not a valid ConfigMap name.", where)}
	}
	if fromNS != ns && !t.idx.refGranted("gateway.networking.k8s.io", fromKind, fromNS, "", "ConfigMap", ns, name) {
		return nil, &caRefProblem{"permission", fmt.Sprintf("CA certificate reference to ConfigMap %s is not permitted: no ReferenceGrant in namespace %s allows %ss of namespace %s to refer to it.", where, ns, fromKind, fromNS)}
	}
	cm, ok := t.idx.configMaps[types.NamespacedName{Namespace: ns, Name: name}]
	if !ok {
		return nil, &caRefProblem{"ref", fmt.Sprintf("ConfigMap %s does not exist.", where)}
	}
	data, ok := cm.Data[caKey]
	if !ok {
		if b, bok := cm.BinaryData[caKey]; bok {
			data, ok = string(b), true
		}
	}
	if !ok {
		return nil, &caRefProblem{"ref", fmt.Sprintf("ConfigMap %s has no %s key.", where, caKey)}
	}
	out, err := caPEM([]byte(data))
	if err != nil {
		return nil, &caRefProblem{"ref", fmt.Sprintf("ConfigMap %s: %s %v.", where, caKey, err)}
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
