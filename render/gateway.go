package render

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/snapshot"
)

// gatewayCtx is one of our Gateways during a translation.
type gatewayCtx struct {
	gw        *gwapiv1.Gateway
	status    *gwapiv1.GatewayStatus
	listeners []*listenerCtx
	// validation is the frontend client-certificate validation by port.
	validation map[int32]*portValidation
	// insecureValidation: some port uses AllowInsecureFallback.
	insecureValidation bool
	// clientCert is the certificate presented to TLS backends.
	clientCert *ir.Certificate
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

// listenerCtx is one listener during a translation.
type listenerCtx struct {
	g    *gatewayCtx
	spec *gwapiv1.Listener
	// name is "namespace/gateway/listener".
	name     string
	hostname string
	status   *gwapiv1.ListenerStatus
	// supported are the route kinds the listener carries.
	supported []gwapiv1.RouteGroupKind
	// accepted: the listener generates configuration; routes may attach.
	accepted bool
	// conflicted: Conflicted=True, the listener is not served.
	conflicted bool
	// resolved: every reference resolved.
	resolved bool
	// certs are the usable certificates.
	certs []*servedCert
	// certProblems are the reasons certificateRefs are not usable.
	certProblems []string
	// certReason is the ResolvedRefs reason of the first problem.
	certReason gwapiv1.ListenerConditionReason
	// expired are notes on served but expired certificates.
	expired []string
	// invalidKinds are allowedRoutes kinds the listener cannot carry.
	invalidKinds []string
	// badValue explains an unsupported value (hostname) in the spec.
	badValue string
	attached int32
	kind     listenerKind
	// validation is the client-certificate validation of the listener's
	// port (HTTPS listeners), nil when none.
	validation *portValidation
	// noValidCA: the validation has no usable CA; the listener is not
	// served.
	noValidCA bool
	// tlsOptions are the crt-list line options from tls.options.
	tlsOptions []string
	// overlaps are the listeners on the same port whose hostnames overlap
	// this one's (TLS connection coalescing may mix them).
	overlaps []string
	// refused is HAProxy's reason for refusing the listener's
	// configuration (Options.Refused); the listener is not served.
	refused string
	// portUnavailable says why the listener's port cannot be bound
	// (Snapshot.UnusablePorts); the listener is not accepted.
	portUnavailable string
}

// listenerKind is how hagate serves a listener.
type listenerKind int

const (
	// lkHTTP is plain HTTP (HTTPRoute, GRPCRoute over h2c).
	lkHTTP listenerKind = iota
	// lkHTTPS is HTTP in terminated TLS (protocol HTTPS, or GRPC).
	lkHTTPS
	// lkTLSTerminate is a TCP stream in terminated TLS (TLSRoute).
	lkTLSTerminate
	// lkTLSPassthrough is TLS routed by SNI, not terminated (TLSRoute).
	lkTLSPassthrough
)

// protocolGRPC is the listener protocol the TLS guide names for gRPC: an
// HTTPS listener that carries GRPCRoutes only.
const protocolGRPC gwapiv1.ProtocolType = "GRPC"

// terminates reports whether HAProxy terminates the listener's TLS.
func (l *listenerCtx) terminates() bool {
	return l.kind == lkHTTPS || l.kind == lkTLSTerminate
}

// served reports whether the listener becomes configuration.
func (l *listenerCtx) served() bool {
	if !l.accepted || l.conflicted || l.g.unserved || l.refused != "" {
		return false
	}
	if l.terminates() {
		return len(l.certs) > 0
	}
	return true
}

// family is what a port speaks: listeners of different families on one
// port conflict. TLS listeners of every mode share a port, told apart by
// SNI.
func (l *listenerCtx) family() string {
	if l.kind == lkHTTP {
		return "HTTP"
	}
	return "TLS"
}

func routeKind(kind string) gwapiv1.RouteGroupKind {
	return gwapiv1.RouteGroupKind{Group: groupPtr(gwapiv1.GroupName), Kind: gwapiv1.Kind(kind)}
}

// carries are the route kinds a listener kind can carry.
func (l *listenerCtx) carries() []string {
	switch {
	case l.spec.Protocol == protocolGRPC:
		return []string{kindGRPCRoute}
	case l.kind == lkHTTP || l.kind == lkHTTPS:
		return []string{kindHTTPRoute, kindGRPCRoute}
	default:
		return []string{kindTLSRoute}
	}
}

func groupPtr(g string) *gwapiv1.Group { x := gwapiv1.Group(g); return &x }

// buildListeners validates every listener of our Gateways on its own.
func (t *translator) buildListeners() {
	for _, g := range t.gateways {
		for i := range g.gw.Spec.Listeners {
			spec := &g.gw.Spec.Listeners[i]
			l := &listenerCtx{
				g:        g,
				spec:     spec,
				name:     fmt.Sprintf("%s/%s/%s", g.gw.Namespace, g.gw.Name, spec.Name),
				accepted: true,
				resolved: true,
				status:   &gwapiv1.ListenerStatus{Name: spec.Name, SupportedKinds: []gwapiv1.RouteGroupKind{}},
			}
			if spec.Hostname != nil {
				l.hostname = string(*spec.Hostname)
			}
			g.listeners = append(g.listeners, l)
			t.listeners = append(t.listeners, l)
			t.validateListener(l)
			if why, ok := t.refused(l.origin()); ok {
				l.refused = why
			}
			t.checkPort(l)
		}
		t.gatewayBackendTLS(g)
	}
}

// validateListener checks protocol, hostname, route kinds and certificates.
func (t *translator) validateListener(l *listenerCtx) {
	if len(validation.IsDNS1123Label(string(l.spec.Name))) > 0 {
		l.accepted = false
		l.badValue = fmt.Sprintf("listener name %q is not a valid section name (lower-case letters, digits and '-')", l.spec.Name)
		return
	}
	switch l.spec.Protocol {
	case gwapiv1.HTTPProtocolType:
		l.kind = lkHTTP
	case gwapiv1.HTTPSProtocolType, protocolGRPC:
		l.kind = lkHTTPS
	case gwapiv1.TLSProtocolType:
		switch {
		case l.spec.TLS == nil || l.spec.TLS.Mode == nil:
			l.accepted = false
			l.badValue = "a TLS listener needs tls.mode (Terminate or Passthrough)"
			return
		case *l.spec.TLS.Mode == gwapiv1.TLSModePassthrough:
			l.kind = lkTLSPassthrough
		case *l.spec.TLS.Mode == gwapiv1.TLSModeTerminate:
			l.kind = lkTLSTerminate
		default:
			l.accepted = false
			l.badValue = fmt.Sprintf("tls.mode %q is not Terminate or Passthrough", *l.spec.TLS.Mode)
			return
		}
	default:
		l.accepted = false
		return
	}
	if l.spec.Port < 1 || l.spec.Port > 65535 {
		l.accepted = false
		l.badValue = fmt.Sprintf("port %d is not a TCP port (1-65535)", l.spec.Port)
		return
	}
	if l.hostname != "" && !validHostname(l.hostname) {
		l.accepted = false
		l.badValue = fmt.Sprintf("hostname %q is not a valid DNS name (lower case, optionally starting with \"*.\")", l.hostname)
		return
	}
	t.routeKinds(l)
	if l.terminates() {
		if l.spec.TLS != nil && len(l.spec.TLS.Options) > 0 {
			opts, err := listenerTLSOptions(l.spec.TLS.Options)
			if err != nil {
				l.accepted = false
				l.badValue = err.Error()
				return
			}
			l.tlsOptions = opts
		}
		t.listenerCertificates(l)
	}
	if l.kind == lkHTTPS {
		t.applyValidation(l)
	}
}

// checkPort leaves out an accepted listener whose port another process
// holds on one of the addresses it binds.
func (t *translator) checkPort(l *listenerCtx) {
	if !l.accepted || len(t.snap.UnusablePorts) == 0 {
		return
	}
	addrs := l.group().addresses()
	if len(addrs) == 0 {
		addrs = []string{""}
	}
	for _, a := range addrs {
		why, bad := t.snap.UnusablePorts[snapshot.ListenAddress{Address: a, Port: int32(l.spec.Port)}]
		if !bad {
			continue
		}
		where := "the default address"
		if a != "" {
			where = a
		}
		l.accepted = false
		l.portUnavailable = fmt.Sprintf("Port %d on %s cannot be bound (%s); the listener is not served until it is free.", l.spec.Port, where, strings.TrimSuffix(why, "."))
		return
	}
}

// routeKinds computes supportedKinds from allowedRoutes.kinds.
func (t *translator) routeKinds(l *listenerCtx) {
	if l.spec.AllowedRoutes == nil || len(l.spec.AllowedRoutes.Kinds) == 0 {
		for _, k := range l.carries() {
			l.supported = append(l.supported, routeKind(k))
		}
		l.status.SupportedKinds = l.supported
		return
	}
	for _, k := range l.spec.AllowedRoutes.Kinds {
		group := gwapiv1.GroupName
		if k.Group != nil {
			group = string(*k.Group)
		}
		ok := false
		for _, c := range l.carries() {
			if group == gwapiv1.GroupName && string(k.Kind) == c {
				ok = true
			}
		}
		if ok {
			l.supported = append(l.supported, routeKind(string(k.Kind)))
			continue
		}
		l.invalidKinds = append(l.invalidKinds, fmt.Sprintf("%s/%s", group, k.Kind))
	}
	if l.supported == nil {
		l.supported = []gwapiv1.RouteGroupKind{}
	}
	l.status.SupportedKinds = l.supported
}

// resolveConflicts marks listeners that share a port but not a protocol,
// or a port, protocol and hostname. Within a Gateway every listener of a
// conflict is rejected; across Gateways the older Gateway keeps the port.
func (t *translator) resolveConflicts() {
	claimed := map[bindGroup][]*listenerCtx{} // listeners of older Gateways, by port and addresses
	for _, g := range t.gateways {
		if g.unserved {
			continue // claims nothing: its addresses are not usable
		}
		mine := map[bindGroup][]*listenerCtx{}
		for _, l := range g.listeners {
			if l.accepted {
				mine[l.group()] = append(mine[l.group()], l)
			}
		}
		for bg, ls := range mine {
			port := bg.port
			// Within the Gateway.
			fams, protos := map[string]bool{}, map[string]bool{}
			for _, l := range ls {
				fams[l.family()] = true
				protos[string(l.spec.Protocol)] = true
			}
			if len(fams) > 1 {
				for _, l := range ls {
					t.conflict(l, gwapiv1.ListenerReasonProtocolConflict,
						fmt.Sprintf("Port %d carries plain HTTP and TLS listeners (%s) in this Gateway; none of them is served.", port, strings.Join(sortedKeys(protos), ", ")))
				}
				continue
			}
			seen := map[string][]*listenerCtx{}
			for _, l := range ls {
				seen[l.hostname] = append(seen[l.hostname], l)
			}
			for h, same := range seen {
				if len(same) < 2 {
					continue
				}
				for _, l := range same {
					t.conflict(l, gwapiv1.ListenerReasonHostnameConflict,
						fmt.Sprintf("Listeners %s on port %d have the same hostname %q; none of them is served.", listenerNames(same), port, h))
				}
			}
			// Against older Gateways.
			for _, l := range ls {
				if l.conflicted {
					continue
				}
				for _, o := range claimed[bg] {
					if o.family() != l.family() {
						t.conflict(l, gwapiv1.ListenerReasonProtocolConflict,
							fmt.Sprintf("Port %d is already used with protocol %s by listener %s of an older Gateway.", port, o.spec.Protocol, o.name))
						break
					}
					if o.kind == lkHTTPS && l.kind == lkHTTPS && o.validation.key() != l.validation.key() {
						t.conflict(l, gwapiv1.ListenerReasonProtocolConflict,
							fmt.Sprintf("Port %d already validates client certificates differently for listener %s of an older Gateway: validation is per port.", port, o.name))
						break
					}
					if o.hostname == l.hostname {
						t.conflict(l, gwapiv1.ListenerReasonHostnameConflict,
							fmt.Sprintf("Hostname %q on port %d is already served by listener %s of an older Gateway.", l.hostname, port, o.name))
						break
					}
				}
			}
		}
		for _, l := range g.listeners {
			if l.accepted && !l.conflicted {
				claimed[l.group()] = append(claimed[l.group()], l)
			}
		}
	}
}

func (t *translator) conflict(l *listenerCtx, reason gwapiv1.ListenerConditionReason, msg string) {
	if l.conflicted {
		return
	}
	l.conflicted = true
	setCond(&l.status.Conditions, cond(string(gwapiv1.ListenerConditionConflicted), true, string(reason), msg, l.g.gw.Generation))
}

// conflictReason is the reason of the Conflicted condition.
func conflictReason(conds []metav1.Condition) string {
	for _, x := range conds {
		if x.Type == string(gwapiv1.ListenerConditionConflicted) {
			return x.Reason
		}
	}
	return string(gwapiv1.ListenerReasonProtocolConflict)
}

func listenerNames(ls []*listenerCtx) string {
	var names []string
	for _, l := range ls {
		names = append(names, string(l.spec.Name))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// detectOverlaps finds TLS listeners sharing a port whose hostnames
// overlap (one matches names of the other): a client may reuse a
// connection made for one to reach the other.
func (t *translator) detectOverlaps() {
	byGroup := map[bindGroup][]*listenerCtx{}
	for _, l := range t.listeners {
		if l.accepted && !l.conflicted && l.terminates() {
			byGroup[l.group()] = append(byGroup[l.group()], l)
		}
	}
	for _, ls := range byGroup {
		for _, a := range ls {
			for _, b := range ls {
				if a != b && (covers(a.hostname, b.hostname) || covers(b.hostname, a.hostname)) {
					a.overlaps = append(a.overlaps, b.name)
				}
			}
		}
	}
}

// finishListeners writes the listener conditions once routes are attached.
func (t *translator) finishListeners() {
	t.detectOverlaps()
	for _, l := range t.listeners {
		gen := l.g.gw.Generation
		c := &l.status.Conditions
		l.status.AttachedRoutes = l.attached
		switch {
		case l.conflicted:
			setCond(c, cond(string(gwapiv1.ListenerConditionAccepted), false, conflictReason(*c), "The listener conflicts with another listener on its port; see the Conflicted condition.", gen))
		case l.portUnavailable != "":
			setCond(c, cond(string(gwapiv1.ListenerConditionAccepted), false, string(gwapiv1.ListenerReasonPortUnavailable), l.portUnavailable, gen))
		case l.noValidCA:
			setCond(c, cond(string(gwapiv1.ListenerConditionAccepted), false, string(gwapiv1.ListenerReasonNoValidCACertificate),
				"No CA certificate of the Gateway's client-certificate validation for this port is usable; see ResolvedRefs.", gen))
		case !l.accepted && l.badValue != "":
			setCond(c, cond(string(gwapiv1.ListenerConditionAccepted), false, string(gwapiv1.ListenerReasonUnsupportedValue), upperFirst(l.badValue)+".", gen))
		case !l.accepted:
			setCond(c, cond(string(gwapiv1.ListenerConditionAccepted), false, string(gwapiv1.ListenerReasonUnsupportedProtocol),
				fmt.Sprintf("Protocol %q is not supported; hagate serves HTTP, HTTPS, TLS and GRPC listeners.", l.spec.Protocol), gen))
		default:
			setCond(c, cond(string(gwapiv1.ListenerConditionAccepted), true, string(gwapiv1.ListenerReasonAccepted), "The listener is valid.", gen))
		}
		if !l.conflicted {
			setCond(c, cond(string(gwapiv1.ListenerConditionConflicted), false, string(gwapiv1.ListenerReasonNoConflicts), "The listener does not conflict with another listener.", gen))
		}
		// ResolvedRefs.
		switch {
		case len(l.certProblems) > 0:
			l.resolved = false
			msg := strings.Join(l.certProblems, " ")
			if len(l.certs) == 0 {
				msg += " The listener has no usable certificate and is not served."
			}
			setCond(c, cond(string(gwapiv1.ListenerConditionResolvedRefs), false, string(l.certReason), msg, gen))
		case l.validation != nil && len(l.validation.problems) > 0:
			l.resolved = false
			setCond(c, cond(string(gwapiv1.ListenerConditionResolvedRefs), false, string(l.validation.reason), l.validation.message(), gen))
		case len(l.invalidKinds) > 0:
			l.resolved = false
			setCond(c, cond(string(gwapiv1.ListenerConditionResolvedRefs), false, string(gwapiv1.ListenerReasonInvalidRouteKinds),
				fmt.Sprintf("allowedRoutes.kinds lists %s, which a %s listener cannot carry.", strings.Join(l.invalidKinds, ", "), l.spec.Protocol), gen))
		default:
			msg := "All references are resolved."
			if len(l.expired) > 0 {
				msg += " " + strings.Join(l.expired, " ")
			}
			setCond(c, cond(string(gwapiv1.ListenerConditionResolvedRefs), true, string(gwapiv1.ListenerReasonResolvedRefs), msg, gen))
		}
		if len(l.expired) > 0 && len(l.certProblems) > 0 {
			for i := range *c {
				if (*c)[i].Type == string(gwapiv1.ListenerConditionResolvedRefs) {
					(*c)[i].Message += " " + strings.Join(l.expired, " ")
				}
			}
		}
		if len(l.overlaps) > 0 {
			setCond(c, cond(string(gwapiv1.ListenerConditionOverlappingTLSConfig), true, string(gwapiv1.ListenerReasonOverlappingHostnames),
				fmt.Sprintf("The hostname overlaps that of %s on the same port: a client may reuse one TLS connection for both.", strings.Join(l.overlaps, ", ")), gen))
		}
		// Programmed.
		if l.served() {
			setCond(c, cond(string(gwapiv1.ListenerConditionProgrammed), true, string(gwapiv1.ListenerReasonProgrammed), "The listener is part of the HAProxy configuration.", gen))
		} else if l.conflicted {
			setCond(c, cond(string(gwapiv1.ListenerConditionProgrammed), false, conflictReason(*c), "The listener conflicts with another listener on its port and is not served.", gen))
		} else if l.refused != "" && l.accepted {
			setCond(c, cond(string(gwapiv1.ListenerConditionProgrammed), false, string(gwapiv1.ListenerReasonInvalid), refusedMsg("this listener's configuration", l.refused)+" The listener is not served.", gen))
		} else if l.g.unserved && l.accepted {
			setCond(c, cond(string(gwapiv1.ListenerConditionProgrammed), false, string(gwapiv1.ListenerReasonInvalid), "The listener is not served: its Gateway's addresses cannot be used; see the Gateway's conditions.", gen))
		} else {
			setCond(c, cond(string(gwapiv1.ListenerConditionProgrammed), false, string(gwapiv1.ListenerReasonInvalid), "The listener is not part of the HAProxy configuration; see its other conditions.", gen))
		}
		l.g.status.Listeners = append(l.g.status.Listeners, *l.status)
	}
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
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
