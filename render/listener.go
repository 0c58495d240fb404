package render

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/snapshot"
)

// listenerCtx is one listener during a translation.
type listenerCtx struct {
	g *gatewayCtx
	// set is the ListenerSet that defines the listener, nil for the
	// Gateway's own; g is then the ListenerSet's parent.
	set  *listenerSetCtx
	spec *gwapiv1.Listener
	// name is "namespace/gateway/listener", or
	// "namespace/ListenerSet/name/listener" for a ListenerSet's.
	name     string
	hostname string
	status   *gwapiv1.ListenerStatus
	// supported are the route kinds the listener carries.
	supported []gwapiv1.RouteGroupKind
	// accepted: the listener generates configuration; routes may attach.
	accepted bool
	// conflicted: Conflicted=True, the listener is not served.
	conflicted bool
	// resolved: every reference resolved (set by finishListeners).
	resolved bool
	// certs are the usable certificates.
	certs []*servedCert
	// expired are notes on served but expired certificates.
	expired  []string
	attached int32
	// attachedSet holds the routes attached (t.routes[l] as a set), and
	// attachedKinds counts them by kind: attaching stays linear in routes.
	attachedSet   map[*route]bool
	attachedKinds map[string]int
	kind          listenerKind
	// validation is the client-certificate validation of the listener's
	// port (HTTPS listeners), nil when none.
	validation *portValidation
	// tlsOptions are the crt-list line options from tls.options.
	tlsOptions []string
	// overlaps are the listeners on the same port whose hostnames overlap
	// this one's (TLS connection coalescing may mix them).
	overlaps []string
	// refused: HAProxy refused the listener's configuration
	// (Options.Refused); the listener is not served.
	refused bool
	// findings are the problems the checks found (findings.go).
	findings []finding
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
	// lkTCP is a plain TCP port (TCPRoute).
	lkTCP
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
	if !l.accepted || l.conflicted || l.g.unserved || l.refused {
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
	if l.kind == lkTCP {
		return "TCP"
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
	case l.kind == lkTCP:
		return []string{kindTCPRoute}
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
			t.buildListener(l)
		}
		// Then the listeners of its ListenerSets, in the spec's order of
		// precedence (oldest first, then by namespace/name).
		for _, s := range g.sets {
			for i := range s.ls.Spec.Listeners {
				l := s.listener(&s.ls.Spec.Listeners[i])
				s.listeners = append(s.listeners, l)
				t.buildListener(l)
			}
		}
		t.gatewayBackendTLS(g)
	}
}

// buildListener validates one listener on its own.
func (t *translator) buildListener(l *listenerCtx) {
	g := l.g
	t.listeners = append(t.listeners, l)
	t.validateListener(l)
	if why, ok := t.refused(l.origin()); ok && l.accepted {
		l.refused = true
		l.record(gwapiv1.ListenerConditionProgrammed, rankRefused, gwapiv1.ListenerReasonInvalid,
			refusedMsg("this listener's configuration", why)+" The listener is not served.")
	}
	t.checkPort(l)
	if g.unserved && l.accepted {
		l.record(gwapiv1.ListenerConditionProgrammed, rankUnserved, gwapiv1.ListenerReasonInvalid,
			"The listener is not served: its Gateway's addresses cannot be used; see the Gateway's conditions.")
	}
}

// namespace is the namespace of the object that defines the listener.
func (l *listenerCtx) namespace() string {
	if l.set != nil {
		return l.set.ls.Namespace
	}
	return l.g.gw.Namespace
}

// generation is the generation of the object that defines the listener.
func (l *listenerCtx) generation() int64 {
	if l.set != nil {
		return l.set.ls.Generation
	}
	return l.g.gw.Generation
}

// validateListener checks protocol, hostname, route kinds and certificates.
func (t *translator) validateListener(l *listenerCtx) {
	if len(validation.IsDNS1123Label(string(l.spec.Name))) > 0 {
		l.rejectValue(fmt.Sprintf("listener name %q is not a valid section name (lower-case letters, digits and '-')", l.spec.Name))
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
			l.rejectValue("a TLS listener needs tls.mode (Terminate or Passthrough)")
			return
		case *l.spec.TLS.Mode == gwapiv1.TLSModePassthrough:
			l.kind = lkTLSPassthrough
		case *l.spec.TLS.Mode == gwapiv1.TLSModeTerminate:
			l.kind = lkTLSTerminate
		default:
			l.rejectValue(fmt.Sprintf("tls.mode %q is not Terminate or Passthrough", *l.spec.TLS.Mode))
			return
		}
	case gwapiv1.TCPProtocolType:
		l.kind = lkTCP
		if l.hostname != "" || l.spec.TLS != nil {
			l.rejectValue("a TCP listener takes neither hostname nor tls: its connections carry no name and are forwarded as they come")
			return
		}
	default:
		why := ""
		if l.spec.Protocol == gwapiv1.UDPProtocolType {
			why = " (HAProxy's open-source edition does not proxy UDP)"
		}
		l.reject(rankSpecValue, gwapiv1.ListenerReasonUnsupportedProtocol,
			fmt.Sprintf("Protocol %q is not supported%s; hagate serves HTTP, HTTPS, TLS, TCP and GRPC listeners.", l.spec.Protocol, why))
		return
	}
	if l.spec.Port < 1 || l.spec.Port > 65535 {
		l.rejectValue(fmt.Sprintf("port %d is not a TCP port (1-65535)", l.spec.Port))
		return
	}
	if l.hostname != "" && !validHostname(l.hostname) {
		l.rejectValue(fmt.Sprintf("hostname %q is not a valid DNS name (lower case, optionally starting with \"*.\")", l.hostname))
		return
	}
	t.routeKinds(l)
	if l.terminates() {
		if l.spec.TLS != nil && len(l.spec.TLS.Options) > 0 {
			opts, err := listenerTLSOptions(l.spec.TLS.Options)
			if err != nil {
				l.rejectValue(err.Error())
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
		l.reject(rankPort, gwapiv1.ListenerReasonPortUnavailable,
			fmt.Sprintf("Port %d on %s cannot be bound (%s); the listener is not served until it is free.", l.spec.Port, where, strings.TrimSuffix(why, ".")))
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
	var invalid []string
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
		invalid = append(invalid, fmt.Sprintf("%s/%s", group, k.Kind))
	}
	if len(invalid) > 0 {
		l.record(gwapiv1.ListenerConditionResolvedRefs, rankRouteKinds, gwapiv1.ListenerReasonInvalidRouteKinds,
			fmt.Sprintf("allowedRoutes.kinds lists %s, which a %s listener cannot carry.", strings.Join(invalid, ", "), l.spec.Protocol))
	}
	if l.supported == nil {
		l.supported = []gwapiv1.RouteGroupKind{}
	}
	l.status.SupportedKinds = l.supported
}

// finishListeners writes the listener conditions once routes are
// attached: it aggregates what the checks recorded (findings.go), in the
// conditions' order (a conflicted listener's Conflicted first, as it was
// found first).
func (t *translator) finishListeners() {
	t.detectOverlaps()
	for _, l := range t.listeners {
		gen := l.generation()
		c := &l.status.Conditions
		l.status.AttachedRoutes = l.attached
		set := func(typ gwapiv1.ListenerConditionType, ok bool, reason gwapiv1.ListenerConditionReason, msg string) {
			setCond(c, cond(string(typ), ok, string(reason), msg, gen))
		}
		if fs, ok := l.top(gwapiv1.ListenerConditionConflicted); ok {
			set(gwapiv1.ListenerConditionConflicted, true, fs[0].reason, fs[0].msg)
		}
		if fs, ok := l.top(gwapiv1.ListenerConditionAccepted); ok {
			set(gwapiv1.ListenerConditionAccepted, false, fs[0].reason, fs[0].msg)
		} else {
			set(gwapiv1.ListenerConditionAccepted, true, gwapiv1.ListenerReasonAccepted, "The listener is valid.")
		}
		if !l.conflicted {
			set(gwapiv1.ListenerConditionConflicted, false, gwapiv1.ListenerReasonNoConflicts, "The listener does not conflict with another listener.")
		}
		// ResolvedRefs, with notes on expired certificates that are
		// still served.
		notes := ""
		if len(l.expired) > 0 {
			notes = " " + strings.Join(l.expired, " ")
		}
		l.resolved = true
		if fs, ok := l.top(gwapiv1.ListenerConditionResolvedRefs); ok {
			l.resolved = false
			reason, msg := joined(fs)
			if fs[0].rank == rankCerts {
				if len(l.certs) == 0 {
					msg += " The listener has no usable certificate and is not served."
				}
				msg += notes
			}
			set(gwapiv1.ListenerConditionResolvedRefs, false, reason, msg)
		} else {
			set(gwapiv1.ListenerConditionResolvedRefs, true, gwapiv1.ListenerReasonResolvedRefs, "All references are resolved."+notes)
		}
		if len(l.overlaps) > 0 {
			set(gwapiv1.ListenerConditionOverlappingTLSConfig, true, gwapiv1.ListenerReasonOverlappingHostnames,
				fmt.Sprintf("The hostname overlaps that of %s on the same port: a client may reuse one TLS connection for both.", strings.Join(l.overlaps, ", ")))
		}
		fs, found := l.top(gwapiv1.ListenerConditionProgrammed)
		switch {
		case l.served():
			set(gwapiv1.ListenerConditionProgrammed, true, gwapiv1.ListenerReasonProgrammed, "The listener is part of the HAProxy configuration.")
		case found:
			set(gwapiv1.ListenerConditionProgrammed, false, fs[0].reason, fs[0].msg)
		default:
			set(gwapiv1.ListenerConditionProgrammed, false, gwapiv1.ListenerReasonInvalid, "The listener is not part of the HAProxy configuration; see its other conditions.")
		}
		if l.set != nil {
			l.set.status.Listeners = append(l.set.status.Listeners, gwapiv1.ListenerEntryStatus{
				Name: l.status.Name, SupportedKinds: l.status.SupportedKinds, AttachedRoutes: l.status.AttachedRoutes, Conditions: l.status.Conditions,
			})
			continue
		}
		l.g.status.Listeners = append(l.g.status.Listeners, *l.status)
	}
}
