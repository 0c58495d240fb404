package render

import (
	"crypto/x509"
	"fmt"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// gatewayCtx is one of our Gateways during a translation.
type gatewayCtx struct {
	gw        *gwapiv1.Gateway
	status    *gwapiv1.GatewayStatus
	listeners []*listenerCtx
	// sets are the ListenerSets attached, in precedence order; their
	// listeners are theirs, not in listeners.
	sets []*listenerSetCtx
	// attachedSets counts the accepted ones.
	attachedSets int32
	// validation is the frontend client-certificate validation by port.
	validation map[int32]*portValidation
	// insecureValidation: some port uses AllowInsecureFallback.
	insecureValidation bool
	// clientCert is the certificate presented to TLS backends.
	clientCert *ir.Certificate
	// clientLeaf is clientCert's leaf certificate.
	clientLeaf *x509.Certificate
	// clientCertReason and clientCertProblem say why clientCertificateRef
	// is not usable.
	clientCertReason  gwapiv1.GatewayConditionReason
	clientCertProblem string
	// addrKey are the addresses the Gateway's listeners bind (canonical,
	// sorted, joined by ","); "" for the default bind address.
	addrKey string
	// addrUnsupported and addrUnusable say what is wrong with
	// spec.addresses; unserved: no listener of the Gateway is served.
	addrUnsupported, addrUnusable string
	unserved                      bool
	// addrPending: a provisioned Gateway's Service has no address yet.
	addrPending string
	// paramsProblem says why infrastructure.parametersRef is not usable.
	paramsProblem string
}

// finishGateways writes the Gateway conditions.
func (t *translator) finishGateways() {
	for _, g := range t.gateways {
		gen := g.gw.Generation
		var bad, good []string
		programmed := false
		for _, l := range g.listeners {
			if l.accepted && !l.conflicted {
				good = append(good, string(l.spec.Name))
			} else {
				bad = append(bad, string(l.spec.Name))
			}
			if l.served() {
				programmed = true
			}
		}
		c := &g.status.Conditions
		switch {
		case g.addrUnsupported != "":
			setCond(c, cond(string(gwapiv1.GatewayConditionAccepted), false, string(gwapiv1.GatewayReasonUnsupportedAddress), g.addrUnsupported, gen))
		case g.paramsProblem != "":
			setCond(c, cond(string(gwapiv1.GatewayConditionAccepted), false, string(gwapiv1.GatewayReasonInvalidParameters),
				g.paramsProblem+" A data plane made before keeps its last valid parameters; none is made until they are valid.", gen))
		case len(bad) == 0:
			setCond(c, cond(string(gwapiv1.GatewayConditionAccepted), true, string(gwapiv1.GatewayReasonAccepted), "The Gateway is valid.", gen))
		case len(good) > 0:
			setCond(c, cond(string(gwapiv1.GatewayConditionAccepted), true, string(gwapiv1.GatewayReasonListenersNotValid),
				fmt.Sprintf("Not valid: listener(s) %s. Accepted: listener(s) %s.", strings.Join(bad, ", "), strings.Join(good, ", ")), gen))
		default:
			setCond(c, cond(string(gwapiv1.GatewayConditionAccepted), false, string(gwapiv1.GatewayReasonListenersNotValid),
				fmt.Sprintf("No listener is valid (%s).", strings.Join(bad, ", ")), gen))
		}
		switch {
		case g.addrUnsupported != "":
			setCond(c, cond(string(gwapiv1.GatewayConditionProgrammed), false, string(gwapiv1.GatewayReasonInvalid), g.addrUnsupported, gen))
		case g.addrUnusable != "":
			setCond(c, cond(string(gwapiv1.GatewayConditionProgrammed), false, string(gwapiv1.GatewayReasonAddressNotUsable), g.addrUnusable, gen))
		case g.addrPending != "":
			setCond(c, cond(string(gwapiv1.GatewayConditionProgrammed), false, string(gwapiv1.GatewayReasonAddressNotAssigned), g.addrPending, gen))
		case programmed:
			setCond(c, cond(string(gwapiv1.GatewayConditionProgrammed), true, string(gwapiv1.GatewayReasonProgrammed), "The Gateway is part of the HAProxy configuration.", gen))
		default:
			setCond(c, cond(string(gwapiv1.GatewayConditionProgrammed), false, string(gwapiv1.GatewayReasonInvalid), "No listener of the Gateway is served.", gen))
		}
		if g.insecureValidation {
			setCond(c, cond(string(gwapiv1.GatewayConditionInsecureFrontendValidationMode), true, string(gwapiv1.GatewayReasonConfigurationChanged),
				"Client-certificate validation uses AllowInsecureFallback on some port: connections without a valid client certificate are accepted and their backends must authorize them.", gen))
		}
		var unresolved []string
		for _, l := range g.listeners {
			if !l.resolved {
				unresolved = append(unresolved, string(l.spec.Name))
			}
		}
		if g.clientCertProblem != "" {
			setCond(c, cond(string(gwapiv1.GatewayConditionResolvedRefs), false, string(g.clientCertReason), g.clientCertProblem+" Backends are reached without a client certificate.", gen))
		} else if len(unresolved) > 0 {
			setCond(c, cond(string(gwapiv1.GatewayConditionResolvedRefs), false, string(gwapiv1.GatewayReasonListenersNotResolved),
				fmt.Sprintf("Listener(s) %s do not resolve all their references; see their ResolvedRefs conditions.", strings.Join(unresolved, ", ")), gen))
		} else {
			setCond(c, cond(string(gwapiv1.GatewayConditionResolvedRefs), true, string(gwapiv1.GatewayReasonResolvedRefs), "All references are resolved.", gen))
		}
		if g.status.Listeners == nil {
			g.status.Listeners = []gwapiv1.ListenerStatus{}
		}
		if g.gw.Spec.AllowedListeners != nil || g.attachedSets > 0 {
			n := g.attachedSets
			g.status.AttachedListenerSets = &n
		}
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
