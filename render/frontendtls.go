package render

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// portValidation is the client-certificate validation of the HTTPS
// listeners of one Gateway port (spec.tls.frontend: the per-port entry, or
// the default).
type portValidation struct {
	// ca is the CA bundle of the usable references; nil when none is.
	ca *ir.CAFile
	// crl holds the revocation lists of those references (their ca.crl
	// keys); nil when none has one.
	crl *ir.CAFile
	// optional is AllowInsecureFallback.
	optional bool
	// problems are the references that are not usable.
	problems []string
	// reason is the ResolvedRefs reason of the first problem.
	reason gwapiv1.ListenerConditionReason
}

// key identifies the validation, to compare two Gateways sharing a port.
func (v *portValidation) key() string {
	if v == nil {
		return ""
	}
	sum := sha256.Sum256(nil)
	if v.ca != nil {
		h := sha256.New()
		h.Write(v.ca.PEM)
		if v.crl != nil {
			h.Write(v.crl.PEM)
		}
		copy(sum[:], h.Sum(nil))
	}
	return fmt.Sprintf("%x/%v", sum[:8], v.optional)
}

// frontendValidation returns the validation of a Gateway's port, nil when
// the Gateway validates no client certificate there.
func (t *translator) frontendValidation(g *gatewayCtx, port int32) *portValidation {
	if v, ok := g.validation[port]; ok {
		return v
	}
	var cfg *gwapiv1.FrontendTLSValidation
	if tc := g.gw.Spec.TLS; tc != nil && tc.Frontend != nil {
		cfg = tc.Frontend.Default.Validation
		for _, pp := range tc.Frontend.PerPort {
			if int32(pp.Port) == port {
				cfg = pp.TLS.Validation
			}
		}
	}
	var v *portValidation
	if cfg != nil {
		v = t.loadValidation(g, port, cfg)
	}
	if g.validation == nil {
		g.validation = map[int32]*portValidation{}
	}
	g.validation[port] = v
	return v
}

func (t *translator) loadValidation(g *gatewayCtx, port int32, cfg *gwapiv1.FrontendTLSValidation) *portValidation {
	v := &portValidation{optional: cfg.Mode == gwapiv1.AllowInsecureFallback}
	if cfg.Mode != "" && cfg.Mode != gwapiv1.AllowValidOnly && cfg.Mode != gwapiv1.AllowInsecureFallback {
		v.reason = gwapiv1.ListenerReasonInvalidCACertificateRef
		v.problems = append(v.problems, fmt.Sprintf("Frontend validation mode %q is not AllowValidOnly or AllowInsecureFallback.", cfg.Mode))
		return v
	}
	var bundle bytes.Buffer
	cas := make([][]byte, len(cfg.CACertificateRefs))
	crlOf := make([]*caRefCRL, len(cfg.CACertificateRefs))
	for i, ref := range cfg.CACertificateRefs {
		pemData, crl, prob := t.loadCAConfigMap("Gateway", g.gw.Namespace, string(ref.Group), string(ref.Kind), deref(ref.Namespace, ""), string(ref.Name))
		cas[i], crlOf[i] = pemData, crl
		if prob != nil {
			reason := gwapiv1.ListenerReasonInvalidCACertificateRef
			switch prob.kind {
			case refWrongKind:
				reason = gwapiv1.ListenerReasonInvalidCACertificateKind
			case refNotPermitted:
				reason = gwapiv1.ListenerReasonRefNotPermitted
			}
			if len(v.problems) == 0 {
				v.reason = reason
			}
			v.problems = append(v.problems, prob.msg)
			continue
		}
	}
	// Revocation lists (ca.crl next to ca.crt): a CA whose list is
	// unusable is not trusted either (no revoked certificate may pass).
	var all bytes.Buffer
	for _, c := range cas {
		all.Write(c)
	}
	var crls bytes.Buffer
	var without []string
	for i, ref := range cfg.CACertificateRefs {
		if cas[i] == nil {
			continue
		}
		if crlOf[i] == nil {
			bundle.Write(cas[i])
			without = append(without, string(ref.Name))
			continue
		}
		lists, crlPEM, prob := parseCRL(crlOf[i], all.Bytes())
		if prob != nil {
			if len(v.problems) == 0 {
				v.reason = gwapiv1.ListenerReasonInvalidCACertificateRef
			}
			v.problems = append(v.problems, prob.msg+" Its CA certificates are not trusted.")
			continue
		}
		bundle.Write(cas[i])
		crls.Write(crlPEM)
		for _, rl := range lists {
			if !rl.NextUpdate.IsZero() && rl.NextUpdate.Before(t.snap.Now) {
				if len(v.problems) == 0 {
					v.reason = gwapiv1.ListenerReasonInvalidCACertificateRef
				}
				v.problems = append(v.problems, fmt.Sprintf("The CRL of %s in ConfigMap %s expired on %s (nextUpdate): HAProxy refuses the client certificates it covers until it is renewed.",
					rl.Issuer, ref.Name, rl.NextUpdate.UTC().Format(time.RFC3339)))
			}
		}
	}
	if crls.Len() > 0 && len(without) > 0 {
		if len(v.problems) == 0 {
			v.reason = gwapiv1.ListenerReasonInvalidCACertificateRef
		}
		v.problems = append(v.problems, fmt.Sprintf("ConfigMap(s) %s have no %s while others of port %d do: with revocation checks on, HAProxy refuses client certificates whose issuer has no CRL.",
			strings.Join(without, ", "), crlKey, port))
	}
	origin := ir.ValidationOrigin(g.gw.Namespace, g.gw.Name, port)
	if why, ok := t.refused(origin); ok && bundle.Len() > 0 {
		if len(v.problems) == 0 {
			v.reason = gwapiv1.ListenerReasonInvalidCACertificateRef
		}
		v.problems = append(v.problems, refusedMsg(fmt.Sprintf("the CA certificates of port %d", port), why))
		bundle.Reset()
	}
	if bundle.Len() > 0 {
		v.ca = &ir.CAFile{
			Path:   ir.DirCAs + fmt.Sprintf("frontend/%s/%s", g.gw.Namespace, fileName(fmt.Sprintf("%s-%d", g.gw.Name, port))),
			PEM:    bundle.Bytes(),
			Origin: origin,
		}
		if crls.Len() > 0 {
			v.crl = &ir.CAFile{
				Path:   ir.DirCAs + fmt.Sprintf("frontend/%s/%s", g.gw.Namespace, fileName(fmt.Sprintf("%s-%d.crl", g.gw.Name, port))),
				PEM:    crls.Bytes(),
				Origin: origin,
			}
		}
	}
	return v
}

// applyValidation takes the frontend validation of an HTTPS listener's
// port into account: unusable references make ResolvedRefs false, and no
// usable CA at all rejects the listener (NoValidCACertificate).
func (t *translator) applyValidation(l *listenerCtx) {
	v := t.frontendValidation(l.g, l.spec.Port)
	l.validation = v
	if v == nil {
		return
	}
	if len(v.problems) > 0 {
		l.record(gwapiv1.ListenerConditionResolvedRefs, rankValidation, v.reason, v.message())
	}
	if v.ca == nil {
		l.reject(rankNoCA, gwapiv1.ListenerReasonNoValidCACertificate,
			"No CA certificate of the Gateway's client-certificate validation for this port is usable; see ResolvedRefs.")
	}
	if v.optional && v.ca != nil {
		l.g.insecureValidation = true
	}
}

// gatewayBackendTLS resolves the Gateway's backend client certificate
// (spec.tls.backend.clientCertificateRef).
func (t *translator) gatewayBackendTLS(g *gatewayCtx) {
	tc := g.gw.Spec.TLS
	if tc == nil || tc.Backend == nil || tc.Backend.ClientCertificateRef == nil {
		return
	}
	ref := tc.Backend.ClientCertificateRef
	fail := func(reason gwapiv1.GatewayConditionReason, msg string) {
		g.clientCertReason, g.clientCertProblem = reason, msg
	}
	spec := refSpec{label: "clientCertificateRef", want: "Secret", supported: "only core Secrets of type kubernetes.io/tls are supported",
		checkName: true, fromKind: "Gateway", fromNS: g.gw.Namespace}
	n, prob := t.resolveRef(spec, deref(ref.Group, ""), deref(ref.Kind, "Secret"), deref(ref.Namespace, ""), string(ref.Name))
	var sec *corev1.Secret
	if prob == nil {
		sec, prob = t.lookupSecret(n)
	}
	if prob != nil {
		reason := gwapiv1.GatewayReasonInvalidClientCertificateRef
		if prob.kind == refNotPermitted {
			reason = gwapiv1.GatewayReasonRefNotPermitted
		}
		fail(reason, prob.msg)
		return
	}
	ns, where := n.Namespace, n.String()
	if why, ok := t.refused(secretOrigin(ns, string(ref.Name))); ok {
		fail(gwapiv1.GatewayReasonInvalidClientCertificateRef, refusedMsg("the certificate in Secret "+where, why))
		return
	}
	p, pemData, chain, err := t.opts.Cache.certificate(sec)
	if err == nil {
		err = checkKeyStrength(chain, t.opts.SecurityLevel)
	}
	if err != nil {
		fail(gwapiv1.GatewayReasonInvalidClientCertificateRef, fmt.Sprintf("Secret %s: %v.", where, err))
		return
	}
	g.clientCert = &ir.Certificate{Path: p, PEM: pemData, Origin: secretOrigin(sec.Namespace, sec.Name)}
	g.clientLeaf = chain[0]
}

// validationMessage explains the frontend validation problems of a
// listener.
func (v *portValidation) message() string {
	msg := strings.Join(v.problems, " ")
	if v.ca == nil {
		msg += " No CA certificate is usable: the listener is not served."
	}
	return msg
}
