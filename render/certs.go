package render

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// listenerCertificates resolves the certificateRefs of an HTTPS listener.
// Usable certificates become IR certificates; every unusable one is a
// problem for the ResolvedRefs condition.
func (t *translator) listenerCertificates(l *listenerCtx) {
	tlsCfg := l.spec.TLS
	if tlsCfg != nil && tlsCfg.Mode != nil && *tlsCfg.Mode != gwapiv1.TLSModeTerminate {
		l.rejectValue(fmt.Sprintf("tls.mode %q is not valid for an %s listener, which terminates TLS", *tlsCfg.Mode, l.spec.Protocol))
		return
	}
	if tlsCfg == nil || len(tlsCfg.CertificateRefs) == 0 {
		l.certProblem(gwapiv1.ListenerReasonInvalidCertificateRef, fmt.Sprintf("The %s listener terminates TLS but has no tls.certificateRefs.", l.spec.Protocol))
		return
	}
	spec := refSpec{label: "certificateRef", want: "Secret", supported: `only core Secrets (group "", kind Secret) hold certificates`,
		checkName: true, fromKind: "Gateway", fromNS: l.namespace()}
	if l.set != nil {
		// ReferenceGrants to the parent Gateway are not inherited.
		spec.fromKind = kindListenerSet
	}
	for _, ref := range tlsCfg.CertificateRefs {
		n, prob := t.resolveRef(spec, deref(ref.Group, ""), deref(ref.Kind, "Secret"), deref(ref.Namespace, ""), string(ref.Name))
		var sec *corev1.Secret
		if prob == nil {
			sec, prob = t.lookupSecret(n)
		}
		if prob != nil {
			reason := gwapiv1.ListenerReasonInvalidCertificateRef
			if prob.kind == refNotPermitted {
				reason = gwapiv1.ListenerReasonRefNotPermitted
			}
			l.certProblem(reason, prob.msg)
			continue
		}
		ns, where := n.Namespace, n.String()
		if why, ok := t.refused(secretOrigin(ns, string(ref.Name))); ok {
			l.certProblem(gwapiv1.ListenerReasonInvalidCertificateRef, refusedMsg("the certificate in Secret "+where, why))
			continue
		}
		p, pem, chain, err := t.opts.Cache.certificate(sec)
		if err == nil {
			err = checkKeyStrength(chain, t.opts.SecurityLevel)
		}
		if err != nil {
			l.certProblem(gwapiv1.ListenerReasonInvalidCertificateRef, fmt.Sprintf("Secret %s: %v.", where, err))
			continue
		}
		cert := chain[0]
		l.expired = append(l.expired, t.certificateNotes(where, chain)...)
		l.certs = append(l.certs, &servedCert{file: &ir.Certificate{Path: p, PEM: pem, Origin: secretOrigin(sec.Namespace, sec.Name)}, names: cert.DNSNames, leaf: cert})
	}
}

// servedCert is a usable certificate of a listener.
type servedCert struct {
	file *ir.Certificate
	// names are the certificate's DNS names.
	names []string
	// leaf is the certificate (nil in tests that make servedCerts).
	leaf *x509.Certificate
}

// certProblem records why a certificateRef is not usable (ResolvedRefs).
func (l *listenerCtx) certProblem(reason gwapiv1.ListenerConditionReason, msg string) {
	l.record(gwapiv1.ListenerConditionResolvedRefs, rankCerts, reason, upperFirst(msg))
}

// fileName is the PEM file name of an object: its name, shortened with a
// hash when it would not fit a file name (names may be 253 characters).
// The mapping is one-to-one for valid names: a shortened name holds '_',
// which no Kubernetes name can, so it never equals another object's
// literal name; two long names differ in their hash.
func fileName(name string) string {
	if len(name) <= 200 {
		return name + ".pem"
	}
	sum := sha256.Sum256([]byte(name))
	return fmt.Sprintf("%s_%x.pem", name[:180], sum[:8])
}

// groupKind describes the group and kind of a reference for messages.
func groupKind(group, kind string) string {
	if group == "" {
		return fmt.Sprintf("kind %s of the core group", kind)
	}
	return fmt.Sprintf("kind %s of group %s", kind, group)
}

// certificateFile checks a kubernetes.io/tls Secret and returns the path
// and content of the PEM file HAProxy loads for it (the certificate chain,
// then the private key, each block re-encoded), and the chain, leaf first.
func certificateFile(sec *corev1.Secret) (string, []byte, []*x509.Certificate, error) {
	if sec.Type != corev1.SecretTypeTLS {
		return "", nil, nil, fmt.Errorf("type is %q, not %q", sec.Type, corev1.SecretTypeTLS)
	}
	crtPEM, ok := sec.Data[corev1.TLSCertKey]
	if !ok || len(crtPEM) == 0 {
		return "", nil, nil, fmt.Errorf("no %s", corev1.TLSCertKey)
	}
	keyPEM, ok := sec.Data[corev1.TLSPrivateKeyKey]
	if !ok || len(keyPEM) == 0 {
		return "", nil, nil, fmt.Errorf("no %s", corev1.TLSPrivateKeyKey)
	}
	var chain []*x509.Certificate
	var out bytes.Buffer
	rest := crtPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return "", nil, nil, fmt.Errorf("%s does not parse: %v", corev1.TLSCertKey, err)
		}
		chain = append(chain, c)
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes})
	}
	if len(chain) == 0 {
		return "", nil, nil, fmt.Errorf("%s holds no PEM certificate", corev1.TLSCertKey)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s: %v", corev1.TLSPrivateKeyKey, err)
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return "", nil, nil, errors.New("the private key does not match the certificate")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s: %v", corev1.TLSPrivateKeyKey, err)
	}
	_ = pem.Encode(&out, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return ir.DirCerts + path.Join(sec.Namespace, fileName(sec.Name)), out.Bytes(), chain, nil
}

// parseKey reads the first private key block: PKCS#8, PKCS#1 RSA or SEC 1
// EC. Only RSA and ECDSA keys are accepted: HAProxy chooses certificates
// by SNI among those.
func parseKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("holds no PEM private key")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("does not parse: %v", err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("key type %T is not supported (RSA or ECDSA only)", k)
		}
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
