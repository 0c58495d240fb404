package render

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// portValidation is the client-certificate validation of the HTTPS
// listeners of one Gateway port (spec.tls.frontend: the per-port entry, or
// the default).
type portValidation struct {
	// ca is the CA bundle of the usable references; nil when none is.
	ca *ir.CAFile
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
		sum = sha256.Sum256(v.ca.PEM)
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
	for _, ref := range cfg.CACertificateRefs {
		ns := g.gw.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		pemData, prob := t.loadCAConfigMap("Gateway", g.gw.Namespace, string(ref.Group), string(ref.Kind), ns, string(ref.Name))
		if prob != nil {
			reason := gwapiv1.ListenerReasonInvalidCACertificateRef
			switch prob.kind {
			case "kind":
				reason = gwapiv1.ListenerReasonInvalidCACertificateKind
			case "permission":
				reason = gwapiv1.ListenerReasonRefNotPermitted
			}
			if len(v.problems) == 0 {
				v.reason = reason
			}
			v.problems = append(v.problems, prob.msg)
			continue
		}
		bundle.Write(pemData)
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
			Path:   fmt.Sprintf("cas/frontend/%s/%s", g.gw.Namespace, fileName(fmt.Sprintf("%s-%d", g.gw.Name, port))),
			PEM:    bundle.Bytes(),
			Origin: origin,
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
	if v.ca == nil {
		l.accepted = false
		l.noValidCA = true
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
	group, kind := "", "Secret"
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	ns := g.gw.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	where := fmt.Sprintf("%s/%s", ns, ref.Name)
	fail := func(reason gwapiv1.GatewayConditionReason, msg string) {
		g.clientCertReason, g.clientCertProblem = reason, msg
	}
	switch {
	case group != "" || kind != "Secret":
		fail(gwapiv1.GatewayReasonInvalidClientCertificateRef, fmt.Sprintf("clientCertificateRef %s refers to %s; only core Secrets of type kubernetes.io/tls are supported.", where, groupKind(group, kind)))
		return
	case !validName(ns, string(ref.Name)):
		fail(gwapiv1.GatewayReasonInvalidClientCertificateRef, fmt.Sprintf("clientCertificateRef %q is not a valid Secret name.", where))
		return
	case !t.idx.refGranted(gwapiv1.GroupName, "Gateway", g.gw.Namespace, "", "Secret", ns, string(ref.Name)):
		fail(gwapiv1.GatewayReasonRefNotPermitted, fmt.Sprintf("clientCertificateRef to Secret %s is not permitted: no ReferenceGrant in namespace %s allows Gateways of namespace %s to refer to it.", where, ns, g.gw.Namespace))
		return
	}
	sec, ok := t.idx.secrets[types.NamespacedName{Namespace: ns, Name: string(ref.Name)}]
	if !ok {
		fail(gwapiv1.GatewayReasonInvalidClientCertificateRef, fmt.Sprintf("Secret %s does not exist.", where))
		return
	}
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
