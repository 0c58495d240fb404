package render

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// Route kinds hagate serves.
const (
	kindHTTPRoute = "HTTPRoute"
	kindGRPCRoute = "GRPCRoute"
	kindTLSRoute  = "TLSRoute"
)

// route is a route of any kind, checked and compiled.
type route struct {
	kind       string
	obj        metav1.Object
	parentRefs []gwapiv1.ParentReference
	hostnames  []gwapiv1.Hostname
	// rules are the compiled rules (all kinds: TLSRoute rules have only
	// backends).
	rules []*compiledRule
	// invalid says why no rule of the route can be served.
	invalid *routeProblem
	// partial says which rules are left out.
	partial *routeProblem
	// refProblem is the first backendRef that does not resolve.
	refProblem *routeProblem
	status     *gwapiv1.RouteStatus
	// statusValue holds status (one allocation for both).
	statusValue gwapiv1.RouteStatus
	// conflicts are hostnames of this route another route already routes
	// on a listener (TLSRoutes), for the status.
	conflicts []string
	// lostOn are the listeners where every hostname of the route was
	// taken by older routes.
	lostOn []*listenerCtx
}

// attachedRoute is a route attached to one listener.
type attachedRoute struct {
	*route
	// hostnames are the route's effective hostnames on the listener
	// ("" = any host of the listener).
	hostnames []string
}

// routeProblem is a reason a route, or one of its references, is not
// fully usable.
type routeProblem struct {
	reason gwapiv1.RouteConditionReason
	msg    string
}

// attachRoutes compiles every route, attaches it to the listeners its
// parentRefs select and writes its status.
func (t *translator) attachRoutes() {
	var all []*route
	add := func(kind string, o metav1.Object, prefs []gwapiv1.ParentReference, hosts []gwapiv1.Hostname, compile func(*route)) {
		if !validName(o.GetNamespace(), o.GetName()) {
			t.res.Warnings = append(t.res.Warnings, fmt.Sprintf("%s %q in namespace %q is skipped: its name is not a valid Kubernetes name", kind, o.GetName(), o.GetNamespace()))
			return
		}
		r := &route{kind: kind, obj: o, parentRefs: prefs, hostnames: hosts}
		r.status = &r.statusValue
		for _, h := range hosts {
			if !validHostname(string(h)) {
				r.invalid = &routeProblem{gwapiv1.RouteReasonUnsupportedValue, fmt.Sprintf("Hostname %q is not a valid DNS name. The route is not served.", h)}
			}
		}
		if why, ok := t.refused(ir.Origin{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName()}); ok && r.invalid == nil {
			r.invalid = &routeProblem{gwapiv1.RouteReasonUnsupportedValue, refusedMsg("the configuration of this route", why) + " The route is not served."}
		}
		if r.invalid == nil {
			compile(r)
		}
		all = append(all, r)
	}
	for _, o := range t.snap.HTTPRoutes {
		add(kindHTTPRoute, o, o.Spec.ParentRefs, o.Spec.Hostnames, func(r *route) { t.compileHTTPRoute(r, o) })
	}
	for _, o := range t.snap.GRPCRoutes {
		add(kindGRPCRoute, o, o.Spec.ParentRefs, o.Spec.Hostnames, func(r *route) { t.compileGRPCRoute(r, o) })
	}
	for _, o := range t.snap.TLSRoutes {
		add(kindTLSRoute, o, o.Spec.ParentRefs, o.Spec.Hostnames, func(r *route) { t.compileTLSRoute(r, o) })
	}
	for _, o := range t.snap.TCPRoutes {
		add(kindTCPRoute, o, o.Spec.ParentRefs, nil, func(r *route) { t.compileTCPRoute(r, o) })
	}
	// Older routes first: they win hostname conflicts.
	sort.SliceStable(all, func(i, j int) bool { return olderFirst(all[i].obj, all[j].obj) })

	byName := map[types.NamespacedName]*gatewayCtx{}
	for _, g := range t.gateways {
		byName[nn(g.gw)] = g
	}
	for _, r := range all {
		gen := r.obj.GetGeneration()
		for _, pref := range r.parentRefs {
			if pref.Group != nil && string(*pref.Group) != gwapiv1.GroupName {
				continue
			}
			ns := r.obj.GetNamespace()
			if pref.Namespace != nil && *pref.Namespace != "" {
				ns = string(*pref.Namespace)
			}
			key := types.NamespacedName{Namespace: ns, Name: string(pref.Name)}
			// The listeners the parentRef may select: a Gateway's own, or
			// a ListenerSet's.
			var parent string
			var listeners []*listenerCtx
			switch deref(pref.Kind, "Gateway") {
			case "Gateway":
				g, ok := byName[key]
				if !ok {
					continue
				}
				parent, listeners = "Gateway "+key.String(), g.listeners
			case kindListenerSet:
				s, ok := t.listenerSets[key]
				if !ok {
					continue
				}
				parent, listeners = "ListenerSet "+key.String(), s.listeners
				if s.reason != "" {
					parent += " (not attached to its Gateway; see its conditions)"
				}
			default:
				continue
			}
			ps := gwapiv1.RouteParentStatus{ParentRef: pref, ControllerName: gwapiv1.GatewayController(t.opts.ControllerName), Conditions: make([]metav1.Condition, 0, 3)}
			if r.status.Parents == nil {
				r.status.Parents = make([]gwapiv1.RouteParentStatus, 0, len(r.parentRefs))
			}
			if r.invalid != nil {
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionAccepted), false, string(r.invalid.reason), r.invalid.msg, gen))
			} else {
				ok, reason, msg := t.attach(r, parent, listeners, pref)
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionAccepted), ok, string(reason), msg, gen))
			}
			if r.partial != nil {
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionPartiallyInvalid), true, string(r.partial.reason), r.partial.msg, gen))
			}
			if r.refProblem != nil {
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionResolvedRefs), false, string(r.refProblem.reason), r.refProblem.msg, gen))
			} else {
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionResolvedRefs), true, string(gwapiv1.RouteReasonResolvedRefs), "All references are resolved.", gen))
			}
			r.status.Parents = append(r.status.Parents, ps)
		}
		if len(r.status.Parents) == 0 {
			continue
		}
		key := nn(r.obj)
		switch r.kind {
		case kindHTTPRoute:
			t.st.HTTPRoutes[key] = r.status
		case kindGRPCRoute:
			t.st.GRPCRoutes[key] = r.status
		case kindTLSRoute:
			t.st.TLSRoutes[key] = r.status
		case kindTCPRoute:
			t.st.TCPRoutes[key] = r.status
		}
	}
}

// attach attaches a route to the listeners of its parent (a Gateway's
// own, or a ListenerSet's: a ListenerSet that is not attached has none)
// that pref selects and says whether it was accepted, and why not.
func (t *translator) attach(r *route, parent string, listeners []*listenerCtx, pref gwapiv1.ParentReference) (bool, gwapiv1.RouteConditionReason, string) {
	var candidates []*listenerCtx
	for _, l := range listeners {
		if pref.SectionName != nil && *pref.SectionName != l.spec.Name {
			continue
		}
		if pref.Port != nil && *pref.Port != l.spec.Port {
			continue
		}
		candidates = append(candidates, l)
	}
	if len(candidates) == 0 {
		return false, gwapiv1.RouteReasonNoMatchingParent, fmt.Sprintf("%s has no listener matching the parentRef (%s).", parent, describeParentRef(pref))
	}
	reason, msg := gwapiv1.RouteReasonNoMatchingParent, "No listener selected by the parentRef is accepted."
	var attachedTo, notes []string
	for _, l := range candidates {
		// Attachment depends on allowedRoutes and the parentRef only: a
		// conflicted listener still counts its routes.
		if !l.accepted {
			continue
		}
		if !allowsKind(l, r.kind) {
			reason, msg = gwapiv1.RouteReasonNotAllowedByListeners, fmt.Sprintf("Listener %s does not allow %ss.", l.spec.Name, r.kind)
			continue
		}
		if !t.allowsNamespace(l, r.obj.GetNamespace()) {
			reason, msg = gwapiv1.RouteReasonNotAllowedByListeners, fmt.Sprintf("Listener %s does not allow routes from namespace %s.", l.spec.Name, r.obj.GetNamespace())
			continue
		}
		hosts := effectiveHostnames(l.hostname, r.hostnames)
		if len(hosts) == 0 {
			if reason != gwapiv1.RouteReasonNotAllowedByListeners {
				reason, msg = gwapiv1.RouteReasonNoMatchingListenerHostname, fmt.Sprintf("No route hostname intersects the hostname %q of listener %s.", l.hostname, l.spec.Name)
			}
			continue
		}
		already := l.attachedSet[r]
		var rival *route
		if other := rivalKind(r.kind); other != "" && l.attachedKinds[other] > 0 {
			for _, a := range t.routes[l] {
				if a.kind == other && hostsIntersect(a.hostnames, hosts) {
					rival = a.route
					break
				}
			}
		}
		if rival != nil {
			// An HTTPRoute and a GRPCRoute may not share a hostname of a
			// listener: the older (routes attach oldest first) keeps it.
			reason, msg = reasonHostnameConflict, fmt.Sprintf("%s %s/%s, which takes precedence (older, or first by namespace/name), already routes these hostnames on listener %s.", rival.kind, rival.obj.GetNamespace(), rival.obj.GetName(), l.spec.Name)
			continue
		}
		if !already {
			t.routes[l] = append(t.routes[l], &attachedRoute{route: r, hostnames: hosts})
			if l.attachedSet == nil {
				l.attachedSet, l.attachedKinds = map[*route]bool{}, map[string]int{}
			}
			l.attachedSet[r] = true
			l.attachedKinds[r.kind]++
			l.attached++
		}
		attachedTo = append(attachedTo, string(l.spec.Name))
		notes = t.tcpNotes(notes, r, l)
	}
	if len(attachedTo) == 0 {
		return false, reason, msg
	}
	return true, gwapiv1.RouteReasonAccepted, "The route is attached to listener(s) " + strings.Join(attachedTo, ", ") + "." + strings.Join(notes, "")
}

// rivalKind is the kind of route that may not share a listener's
// hostname with routes of kind k ("" when none).
func rivalKind(k string) string {
	switch k {
	case kindHTTPRoute:
		return kindGRPCRoute
	case kindGRPCRoute:
		return kindHTTPRoute
	}
	return ""
}

// hostsIntersect reports whether two sets of hostname patterns ("" for
// any) share a name.
func hostsIntersect(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if _, ok := intersect(x, y); ok {
				return true
			}
		}
	}
	return false
}

func describeParentRef(p gwapiv1.ParentReference) string {
	var parts []string
	if p.SectionName != nil {
		parts = append(parts, fmt.Sprintf("sectionName %s", *p.SectionName))
	}
	if p.Port != nil {
		parts = append(parts, fmt.Sprintf("port %d", *p.Port))
	}
	if len(parts) == 0 {
		return "any listener"
	}
	return strings.Join(parts, ", ")
}

func allowsKind(l *listenerCtx, kind string) bool {
	for _, k := range l.supported {
		if string(k.Kind) == kind {
			return true
		}
	}
	return false
}

// allowsNamespace applies allowedRoutes.namespaces.
func (t *translator) allowsNamespace(l *listenerCtx, ns string) bool {
	from := gwapiv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if ar := l.spec.AllowedRoutes; ar != nil && ar.Namespaces != nil {
		if ar.Namespaces.From != nil {
			from = *ar.Namespaces.From
		}
		sel = ar.Namespaces.Selector
	}
	return t.namespaceSelected(from, sel, ns, l.namespace())
}

// namespaceSelected applies a namespace filter (a listener's
// allowedRoutes, a Gateway's allowedListeners) to namespace ns: All,
// Same (as the object's own, same), Selector (on ns's labels); anything
// else (None) selects nothing.
func (t *translator) namespaceSelected(from gwapiv1.FromNamespaces, sel *metav1.LabelSelector, ns, same string) bool {
	switch from {
	case gwapiv1.NamespacesFromAll:
		return true
	case gwapiv1.NamespacesFromSame:
		return ns == same
	case gwapiv1.NamespacesFromSelector:
		if sel == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false
		}
		return s.Matches(labels.Set(t.idx.namespaceLabels(ns)))
	}
	return false
}

// effectiveHostnames intersects route hostnames with a listener hostname.
func effectiveHostnames(listener string, route []gwapiv1.Hostname) []string {
	if len(route) == 0 {
		return []string{listener}
	}
	seen := map[string]bool{}
	var out []string
	for _, h := range route {
		if x, ok := intersect(listener, string(h)); ok && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	if len(out) > 1 {
		sort.Slice(out, func(i, j int) bool { return moreSpecific(out[i], out[j]) })
	}
	return out
}
