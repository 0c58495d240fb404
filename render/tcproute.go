package render

import (
	"fmt"
	"slices"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// TCPRoute: a TCP listener is a port whose connections are forwarded, as
// they come and unread, to the backends of one TCPRoute. A TCP connection
// carries no name to route on, so a listener forwards to one route only:
// the oldest attached (creationTimestamp, then namespace/name), as the
// Gateway API's conflict rules and its conformance test
// (TCPRouteMultipleRoutesAttachment) say. The newer routes are attached
// all the same (Accepted, counted in attachedRoutes) and their Accepted
// message names the route that gets the connections.

// kindTCPRoute is the TCPRoute kind.
const kindTCPRoute = "TCPRoute"

// compileTCPRoute compiles the rules of a TCPRoute into r: each rule is
// only weighted TCP backends.
func (t *translator) compileTCPRoute(r *route, o *gwapiv1.TCPRoute) {
	t.compileStreamRules(r, o, len(o.Spec.Rules), func(i int) (*gwapiv1.SectionName, []gwapiv1.BackendRef) {
		return o.Spec.Rules[i].Name, o.Spec.Rules[i].BackendRefs
	})
}

// tcpRoute is the TCPRoute a TCP listener forwards its connections to:
// the oldest attached (routes attach oldest first), nil when none is.
func (t *translator) tcpRoute(l *listenerCtx) *route {
	for _, a := range t.routes[l] {
		if a.kind == kindTCPRoute {
			return a.route
		}
	}
	return nil
}

// tcpNotes adds to notes, for a route just attached to listener l, a
// sentence saying which route gets l's connections when it is not r (a
// TCP listener forwards to its oldest TCPRoute only).
func (t *translator) tcpNotes(notes []string, r *route, l *listenerCtx) []string {
	if r.kind != kindTCPRoute || l.kind != lkTCP {
		return notes
	}
	w := t.tcpRoute(l)
	if w == nil || w == r {
		return notes
	}
	return append(notes, fmt.Sprintf(" Listener %s forwards its connections to TCPRoute %s/%s only, which takes precedence (older, or first by namespace/name): a TCP listener serves one route; this one gets its connections once that route is gone.",
		l.spec.Name, w.obj.GetNamespace(), w.obj.GetName()))
}

// tcpFrontend builds the frontend of a TCP port: a mode tcp frontend that
// forwards every connection to the backends of its listener's TCPRoute,
// by weight, or closes it when there is none (or the share's backendRef
// does not resolve). A port carries one TCP listener: two conflict.
func (t *translator) tcpFrontend(bg bindGroup, ls []*listenerCtx) *ir.TCPFrontend {
	l := ls[0]
	fe := &ir.TCPFrontend{
		Name:      bg.name("tcp"),
		Comment:   "Forwards TCP connections, unread, to the backends of the listener's TCPRoute.",
		Port:      bg.port,
		Addresses: bg.addresses(),
		Plain:     true,
		Listeners: []*ir.Listener{{Name: l.name}},
	}
	fe.Default = &ir.SNIRoute{Comment: fmt.Sprintf("listener %s: no TCPRoute, connections are closed", l.name), Listener: l.name}
	if r := t.tcpRoute(l); r != nil {
		fe.Default = &ir.SNIRoute{
			Comment:  fmt.Sprintf("listener %s, TCPRoute %s/%s", l.name, r.obj.GetNamespace(), r.obj.GetName()),
			Listener: l.name,
			Backends: t.tcpBackends(r, l),
			Origin:   ir.Origin{Kind: kindTCPRoute, Namespace: r.obj.GetNamespace(), Name: r.obj.GetName()},
		}
		if !slices.ContainsFunc(fe.Default.Backends, func(b ir.WeightedBackend) bool { return b.Backend != "" }) {
			fe.Default.Comment += ": no backendRef with a weight resolves, connections are rejected"
		}
	}
	return fe
}

// tcpListenersConflict is the sentence of TCP listeners of one Gateway
// sharing a port (names: sorted and joined).
func tcpListenersConflict(names string, port int32) string {
	return fmt.Sprintf("Listeners %s are TCP listeners on port %d: a TCP port carries one listener (a connection has no name to choose one by); none of them is served.",
		names, port)
}
