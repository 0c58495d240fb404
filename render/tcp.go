package render

import (
	"fmt"
	"sort"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// terminateFrontend builds the TCP frontend that terminates the TLS of TLS
// listeners in Terminate mode and forwards the stream to their TLSRoutes'
// backends, chosen by the handshake's SNI. It binds the port, or socket
// behind an SNI router.
func (t *translator) terminateFrontend(bg bindGroup, ls []*listenerCtx, idx *listenerIndex, socket string) *ir.TCPFrontend {
	fe := &ir.TCPFrontend{
		Name:      bg.name("tls"),
		Comment:   "Terminates TLS and forwards the decrypted stream to the TLSRoute chosen by SNI.",
		Port:      bg.port,
		Addresses: bg.addresses(),
		Socket:    socket,
		TLS:       t.tlsBind(ls, nil),
	}
	if socket != "" {
		fe.Name += "-terminate"
	}
	for _, l := range ls {
		fe.Listeners = append(fe.Listeners, &ir.Listener{Name: l.name, Hostname: l.hostname})
	}
	fe.Routes, fe.Default = splitDefault(t.tlsRouteEntries(ls, idx))
	return fe
}

// sniRouter builds the entry of a port whose TLS is not all terminated the
// same way: a TCP frontend that reads the ClientHello and sends each SNI to
// the backends of a passthrough TLSRoute, or over a local socket (PROXY
// protocol v2, so the client address survives) to the internal frontend
// that terminates it: HTTPS listeners' and TLS Terminate listeners'.
func (t *translator) sniRouter(bg bindGroup, ls, https, term, pass []*listenerCtx, idx *listenerIndex) *ir.TCPFrontend {
	fe := &ir.TCPFrontend{
		Name:      bg.name("tls"),
		Comment:   "Reads the TLS ClientHello and routes on its SNI, without terminating: passthrough TLSRoutes go to their backends, the other listeners to the internal frontends that terminate them.",
		Port:      bg.port,
		Addresses: bg.addresses(),
	}
	for _, l := range ls {
		fe.Listeners = append(fe.Listeners, &ir.Listener{Name: l.name, Hostname: l.hostname})
	}
	entries := t.tlsRouteEntries(pass, idx)
	handOff := func(internal string, socket string, ls []*listenerCtx) {
		b := fmt.Sprintf("to-%s", internal)
		t.backends[b] = &ir.Backend{
			Name:    b,
			Mode:    ir.ModeTCP,
			Comment: fmt.Sprintf("Hands connections to frontend %s, with the PROXY protocol.", internal),
			Servers: []ir.Server{{Name: internal, Socket: socket}},
		}
		for _, l := range ls {
			entries = append(entries, &ir.SNIRoute{
				Comment:  fmt.Sprintf("listener %s: terminated by %s", l.name, internal),
				Listener: l.name,
				SNI:      l.hostname,
				Backends: []ir.WeightedBackend{{Backend: b, Weight: 1}},
			})
		}
	}
	if len(https) > 0 {
		socket := bg.socket("https", "")
		h := t.frontend(bg, https, socket)
		t.res.Config.Frontends = append(t.res.Config.Frontends, h)
		handOff(h.Name, socket, https)
	}
	if len(term) > 0 {
		socket := bg.socket("tls", "-terminate")
		tf := t.terminateFrontend(bg, term, idx, socket)
		t.res.Config.TCPFrontends = append(t.res.Config.TCPFrontends, tf)
		handOff(tf.Name, socket, term)
	}
	fe.Routes, fe.Default = splitDefault(entries)
	return fe
}

// splitDefault sorts SNI routes most specific first and takes out the one
// for any name (a catch-all listener's) as the default.
func splitDefault(rs []*ir.SNIRoute) ([]*ir.SNIRoute, *ir.SNIRoute) {
	sort.SliceStable(rs, func(i, j int) bool { return moreSpecific(rs[i].SNI, rs[j].SNI) })
	if n := len(rs); n > 0 && rs[n-1].SNI == "" {
		return rs[:n-1], rs[n-1]
	}
	return rs, nil
}

// tlsRouteEntries routes the SNI names of the TLSRoutes attached to
// listeners ls. A name goes to the most specific listener that covers it
// (idx spans the port); on one listener, the oldest route claiming a name
// keeps it, and the others are reported. A listener's own hostname without
// a route is closed, so that its names never reach a less specific
// listener.
func (t *translator) tlsRouteEntries(ls []*listenerCtx, idx *listenerIndex) []*ir.SNIRoute {
	var out []*ir.SNIRoute
	for _, l := range ls {
		claimed := map[string]*route{}
		for _, a := range t.routes[l] {
			if a.kind != kindTLSRoute {
				continue
			}
			won := false
			for _, h := range a.hostnames {
				if idx.owner(h) != l {
					continue
				}
				if winner, ok := claimed[h]; ok {
					a.conflicts = append(a.conflicts, fmt.Sprintf("%q on listener %s (routed by TLSRoute %s/%s)", displayHost(h), l.spec.Name, winner.obj.GetNamespace(), winner.obj.GetName()))
					continue
				}
				claimed[h] = a.route
				won = true
				out = append(out, &ir.SNIRoute{
					Comment:  fmt.Sprintf("listener %s, TLSRoute %s/%s", l.name, a.obj.GetNamespace(), a.obj.GetName()),
					Listener: l.name,
					SNI:      h,
					Backends: t.tcpBackends(a.route, l),
					Origin:   ir.Origin{Kind: kindTLSRoute, Namespace: a.obj.GetNamespace(), Name: a.obj.GetName()},
				})
			}
			if !won && len(a.conflicts) > 0 {
				a.lostOn = append(a.lostOn, l)
			}
		}
		if _, ok := claimed[l.hostname]; !ok {
			out = append(out, &ir.SNIRoute{
				Comment:  fmt.Sprintf("listener %s: no TLSRoute for these names, connections are closed", l.name),
				Listener: l.name,
				SNI:      l.hostname,
			})
		}
	}
	return out
}

func displayHost(h string) string {
	if h == "" {
		return "*"
	}
	return h
}

// tcpBackends are the weighted TCP backends of a TLSRoute (all its rules)
// on listener l.
func (t *translator) tcpBackends(r *route, l *listenerCtx) []ir.WeightedBackend {
	var out []ir.WeightedBackend
	for _, cr := range r.rules {
		for _, b := range cr.backends {
			if b.weight == 0 {
				continue
			}
			wb := ir.WeightedBackend{Weight: b.weight}
			if b.problem == nil {
				wb.Backend = t.serviceBackend(b.svc, b.port, b.proto, l.g, l.kind == lkTLSTerminate)
			}
			out = append(out, wb)
		}
	}
	return out
}

// reportTLSRouteConflicts tells the TLSRoutes that lost a hostname to an
// older route: Accepted=False where they lost every listener they were
// attached to, PartiallyInvalid otherwise.
func (t *translator) reportTLSRouteConflicts() {
	for l, as := range t.routes {
		for _, a := range as {
			for _, lost := range a.lostOn {
				if lost == l {
					l.attached--
				}
			}
		}
	}
	seen := map[*route]bool{}
	for _, l := range t.listeners {
		for _, a := range t.routes[l] {
			r := a.route
			if len(r.conflicts) == 0 || seen[r] {
				continue
			}
			seen[r] = true
			attachments := 0
			for _, x := range t.listeners {
				for _, b := range t.routes[x] {
					if b.route == r && x.served() {
						attachments++
					}
				}
			}
			msg := fmt.Sprintf("Hostname %s is already routed by a route that takes precedence (older, or first by namespace/name); this route does not get its connections.", strings.Join(r.conflicts, ", "))
			gen := r.obj.GetGeneration()
			for i := range r.status.Parents {
				c := &r.status.Parents[i].Conditions
				if len(r.lostOn) >= attachments {
					setCond(c, cond(string(gwapiv1.RouteConditionAccepted), false, reasonHostnameConflict, msg, gen))
				} else {
					setCond(c, cond(string(gwapiv1.RouteConditionPartiallyInvalid), true, reasonHostnameConflict, msg, gen))
				}
			}
		}
	}
}

// reasonHostnameConflict is hagate's route condition reason for a hostname
// an older route of the same listener already routes.
const reasonHostnameConflict = "HostnameConflict"
