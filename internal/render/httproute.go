package render

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/internal/ir"
)

// attachedRoute is an HTTPRoute attached to one listener.
type attachedRoute struct {
	route *gwapiv1.HTTPRoute
	// hostnames are the route's effective hostnames on the listener
	// ("" = any host of the listener).
	hostnames []string
	rules     []*compiledRule
}

// compiledRule is a route rule checked and turned into IR parts that do
// not depend on the frontend.
type compiledRule struct {
	name     string
	comment  string
	matches  []ir.Match
	reqHdr   *ir.HeaderModifier
	respHdr  *ir.HeaderModifier
	redirect *gwapiv1.HTTPRequestRedirectFilter
	// prefixes are the PathPrefix values of the matches, for a
	// ReplacePrefixMatch redirect.
	prefixes []string
	backends []resolvedBackend
}

// routeProblem is a reason a route, or one of its references, is not
// fully usable.
type routeProblem struct {
	reason gwapiv1.RouteConditionReason
	msg    string
}

// attachHTTPRoutes compiles every HTTPRoute, attaches it to the listeners
// its parentRefs select and writes its status.
func (t *translator) attachHTTPRoutes() {
	routes := append([]*gwapiv1.HTTPRoute(nil), t.snap.HTTPRoutes...)
	sort.Slice(routes, func(i, j int) bool { return olderFirst(routes[i], routes[j]) })
	byName := map[types.NamespacedName]*gatewayCtx{}
	for _, g := range t.gateways {
		byName[nn(g.gw)] = g
	}
	for _, r := range routes {
		if !validName(r.Namespace, r.Name) {
			t.res.Warnings = append(t.res.Warnings, fmt.Sprintf("HTTPRoute %q in namespace %q is skipped: its name is not a valid Kubernetes name", r.Name, r.Namespace))
			continue
		}
		rs := &gwapiv1.RouteStatus{}
		rules, invalid, partial, refProblem := t.compileHTTPRoute(r)
		for _, pref := range r.Spec.ParentRefs {
			if pref.Group != nil && string(*pref.Group) != gwapiv1.GroupName || pref.Kind != nil && *pref.Kind != "Gateway" {
				continue
			}
			ns := r.Namespace
			if pref.Namespace != nil && *pref.Namespace != "" {
				ns = string(*pref.Namespace)
			}
			g, ok := byName[types.NamespacedName{Namespace: ns, Name: string(pref.Name)}]
			if !ok {
				continue
			}
			ps := gwapiv1.RouteParentStatus{ParentRef: pref, ControllerName: gwapiv1.GatewayController(t.opts.ControllerName)}
			if invalid != nil {
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionAccepted), false, string(invalid.reason), invalid.msg, r.Generation))
			} else {
				ok, reason, msg := t.attach(r, g, pref, rules)
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionAccepted), ok, string(reason), msg, r.Generation))
			}
			if partial != nil {
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionPartiallyInvalid), true, string(partial.reason), partial.msg, r.Generation))
			}
			if refProblem != nil {
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionResolvedRefs), false, string(refProblem.reason), refProblem.msg, r.Generation))
			} else {
				ps.Conditions = append(ps.Conditions, cond(string(gwapiv1.RouteConditionResolvedRefs), true, string(gwapiv1.RouteReasonResolvedRefs), "All references are resolved.", r.Generation))
			}
			rs.Parents = append(rs.Parents, ps)
		}
		if len(rs.Parents) > 0 {
			t.st.HTTPRoutes[nn(r)] = rs
		}
	}
}

// attach attaches a route to the listeners of g that pref selects and
// says whether it was accepted, and why not.
func (t *translator) attach(r *gwapiv1.HTTPRoute, g *gatewayCtx, pref gwapiv1.ParentReference, rules []*compiledRule) (bool, gwapiv1.RouteConditionReason, string) {
	var candidates []*listenerCtx
	for _, l := range g.listeners {
		if pref.SectionName != nil && *pref.SectionName != l.spec.Name {
			continue
		}
		if pref.Port != nil && *pref.Port != l.spec.Port {
			continue
		}
		candidates = append(candidates, l)
	}
	if len(candidates) == 0 {
		return false, gwapiv1.RouteReasonNoMatchingParent, fmt.Sprintf("Gateway %s/%s has no listener matching the parentRef (%s).", g.gw.Namespace, g.gw.Name, describeParentRef(pref))
	}
	reason, msg := gwapiv1.RouteReasonNoMatchingParent, "No listener selected by the parentRef is accepted."
	var attachedTo []string
	for _, l := range candidates {
		// Attachment depends on allowedRoutes and the parentRef only: a
		// conflicted listener still counts its routes.
		if !l.accepted {
			continue
		}
		if !allowsKind(l, "HTTPRoute") {
			reason, msg = gwapiv1.RouteReasonNotAllowedByListeners, fmt.Sprintf("Listener %s does not allow HTTPRoutes.", l.spec.Name)
			continue
		}
		if !t.allowsNamespace(l, r.Namespace) {
			reason, msg = gwapiv1.RouteReasonNotAllowedByListeners, fmt.Sprintf("Listener %s does not allow routes from namespace %s.", l.spec.Name, r.Namespace)
			continue
		}
		hosts := effectiveHostnames(l.hostname, r.Spec.Hostnames)
		if len(hosts) == 0 {
			if reason != gwapiv1.RouteReasonNotAllowedByListeners {
				reason, msg = gwapiv1.RouteReasonNoMatchingListenerHostname, fmt.Sprintf("No route hostname intersects the hostname %q of listener %s.", l.hostname, l.spec.Name)
			}
			continue
		}
		already := false
		for _, a := range t.routes[l] {
			if a.route == r {
				already = true
			}
		}
		if !already {
			t.routes[l] = append(t.routes[l], &attachedRoute{route: r, hostnames: hosts, rules: rules})
			l.attached++
		}
		attachedTo = append(attachedTo, string(l.spec.Name))
	}
	if len(attachedTo) == 0 {
		return false, reason, msg
	}
	return true, gwapiv1.RouteReasonAccepted, fmt.Sprintf("The route is attached to listener(s) %s.", strings.Join(attachedTo, ", "))
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
	switch from {
	case gwapiv1.NamespacesFromAll:
		return true
	case gwapiv1.NamespacesFromSame:
		return ns == l.g.gw.Namespace
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
	sort.Slice(out, func(i, j int) bool { return moreSpecific(out[i], out[j]) })
	return out
}

// compileHTTPRoute checks a route and compiles its rules. A rule with a
// value hagate cannot express is left out; partial explains the rules left
// out, and invalid is set when no rule (or the route itself) is usable.
// refProblem is the first backendRef that does not resolve.
func (t *translator) compileHTTPRoute(r *gwapiv1.HTTPRoute) (rules []*compiledRule, invalid, partial, refProblem *routeProblem) {
	for _, h := range r.Spec.Hostnames {
		if !validHostname(string(h)) {
			return nil, &routeProblem{gwapiv1.RouteReasonUnsupportedValue, fmt.Sprintf("Hostname %q is not a valid DNS name. The route is not served.", h)}, nil, nil
		}
	}
	var dropped []string
	for i := range r.Spec.Rules {
		cr, err := t.compileRule(r, i)
		if err != nil {
			dropped = append(dropped, fmt.Sprintf("rule %d: %v", i, err))
			continue
		}
		for _, b := range cr.backends {
			if b.problem != nil && refProblem == nil {
				refProblem = b.problem
			}
		}
		rules = append(rules, cr)
	}
	if len(dropped) > 0 {
		msg := upperFirst(strings.Join(dropped, "; ")) + "."
		if len(rules) == 0 {
			return nil, &routeProblem{gwapiv1.RouteReasonUnsupportedValue, msg + " No rule is usable: the route is not served."}, nil, nil
		}
		partial = &routeProblem{gwapiv1.RouteReasonUnsupportedValue, msg + " These rules are not served; the others are."}
	}
	return rules, nil, partial, refProblem
}

// compileRule checks one rule.
func (t *translator) compileRule(r *gwapiv1.HTTPRoute, i int) (*compiledRule, error) {
	rule := &r.Spec.Rules[i]
	cr := &compiledRule{
		name:    fmt.Sprintf("%s/%s/%d", r.Namespace, r.Name, i),
		comment: fmt.Sprintf("HTTPRoute %s/%s rule %d", r.Namespace, r.Name, i),
	}
	if rule.Name != nil && *rule.Name != "" {
		cr.comment += fmt.Sprintf(" (%s)", *rule.Name)
	}
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []gwapiv1.HTTPRouteMatch{{}}
	}
	for j, m := range matches {
		im, err := compileMatch(m)
		if err != nil {
			return nil, fmt.Errorf("match %d: %v", j, err)
		}
		im.Comment = fmt.Sprintf("%s match %d", cr.comment, j)
		im.Rule = cr.name
		cr.matches = append(cr.matches, im)
	}
	var prefixMatches []string
	allPrefix := true
	for _, m := range matches {
		if m.Path == nil || m.Path.Type == nil || *m.Path.Type == gwapiv1.PathMatchPathPrefix {
			v := "/"
			if m.Path != nil && m.Path.Value != nil {
				v = *m.Path.Value
			}
			prefixMatches = append(prefixMatches, normPrefix(v))
		} else {
			allPrefix = false
		}
	}
	for _, f := range rule.Filters {
		var err error
		switch f.Type {
		case gwapiv1.HTTPRouteFilterRequestHeaderModifier:
			cr.reqHdr, err = compileHeaderFilter(f.RequestHeaderModifier)
		case gwapiv1.HTTPRouteFilterResponseHeaderModifier:
			cr.respHdr, err = compileHeaderFilter(f.ResponseHeaderModifier)
		case gwapiv1.HTTPRouteFilterRequestRedirect:
			err = checkRedirect(f.RequestRedirect)
			cr.redirect = f.RequestRedirect
			if err == nil && f.RequestRedirect.Path != nil && f.RequestRedirect.Path.Type == gwapiv1.PrefixMatchHTTPPathModifier {
				if !allPrefix {
					err = fmt.Errorf("a ReplacePrefixMatch redirect needs every match of its rule to be a PathPrefix match")
				}
				for _, p := range prefixMatches {
					if err == nil && p != "" && !safePrefixRE.MatchString(p) {
						err = fmt.Errorf("path prefix %q of a ReplacePrefixMatch redirect must be letters, digits and /._~-", p)
					}
				}
				cr.prefixes = prefixMatches
			}
		default:
			err = fmt.Errorf("filter type %q is not supported (RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect are)", f.Type)
		}
		if err != nil {
			return nil, err
		}
	}
	for k, br := range rule.BackendRefs {
		if len(br.Filters) > 0 {
			return nil, fmt.Errorf("backendRef %d: filters on backendRefs are not supported", k)
		}
		rb := t.resolveBackend(r, br.BackendRef)
		if rb.weight > 0 || rb.problem != nil {
			cr.backends = append(cr.backends, rb)
		}
	}
	return cr, nil
}

// resolvedBackend is a backendRef checked: a Service port, or a problem.
type resolvedBackend struct {
	svc     *corev1.Service
	port    *corev1.ServicePort
	weight  int32
	problem *routeProblem
}

// resolveBackend checks a backendRef. One that does not resolve keeps its
// weight: its share of requests is answered with 500.
func (t *translator) resolveBackend(r *gwapiv1.HTTPRoute, ref gwapiv1.BackendRef) resolvedBackend {
	rb := resolvedBackend{weight: 1}
	if ref.Weight != nil {
		rb.weight = max(*ref.Weight, 0)
	}
	fail := func(reason gwapiv1.RouteConditionReason, format string, a ...any) resolvedBackend {
		rb.problem = &routeProblem{reason, fmt.Sprintf(format, a...) + " Its share of requests gets 500."}
		return rb
	}
	group, kind := "", "Service"
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	ns := r.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	where := fmt.Sprintf("%s/%s", ns, ref.Name)
	if group != "" || kind != "Service" {
		return fail(gwapiv1.RouteReasonInvalidKind, "BackendRef %s is a %s; only core Services are supported.", where, groupKind(group, kind))
	}
	if !t.idx.refGranted(gwapiv1.GroupName, "HTTPRoute", r.Namespace, "", "Service", ns, string(ref.Name)) {
		return fail(gwapiv1.RouteReasonRefNotPermitted, "BackendRef to Service %s is not permitted: no ReferenceGrant in namespace %s allows HTTPRoutes of namespace %s to refer to it.", where, ns, r.Namespace)
	}
	svc, ok := t.idx.services[types.NamespacedName{Namespace: ns, Name: string(ref.Name)}]
	if !ok {
		return fail(gwapiv1.RouteReasonBackendNotFound, "Service %s does not exist.", where)
	}
	if ref.Port == nil {
		return fail(gwapiv1.RouteReasonBackendNotFound, "BackendRef to Service %s has no port.", where)
	}
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == *ref.Port && (svc.Spec.Ports[i].Protocol == "" || svc.Spec.Ports[i].Protocol == corev1.ProtocolTCP) {
			rb.svc, rb.port = svc, &svc.Spec.Ports[i]
			return rb
		}
	}
	return fail(gwapiv1.RouteReasonBackendNotFound, "Service %s has no TCP port %d.", where, *ref.Port)
}

// serviceBackend returns the name of the backend of a Service port,
// creating it with the ready endpoints of its EndpointSlices.
func (t *translator) serviceBackend(svc *corev1.Service, sp *corev1.ServicePort) string {
	name := fmt.Sprintf("%s_%s_%d", svc.Namespace, svc.Name, sp.Port)
	if _, ok := t.backends[name]; ok {
		return name
	}
	b := &ir.Backend{Name: name, Comment: fmt.Sprintf("Service %s/%s port %d", svc.Namespace, svc.Name, sp.Port)}
	seen := map[string]bool{}
	for _, es := range t.idx.slices[nn(svc)] {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var port int32
		found := false
		for _, p := range es.Ports {
			pn := ""
			if p.Name != nil {
				pn = *p.Name
			}
			if pn == sp.Name && p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				port, found = *p.Port, true
			}
		}
		if !found || port < 1 || port > 65535 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready || len(ep.Addresses) == 0 {
				continue
			}
			addr, ok := canonicalIP(ep.Addresses[0])
			if !ok {
				continue
			}
			key := fmt.Sprintf("%s:%d", addr, port)
			if seen[key] {
				continue
			}
			seen[key] = true
			b.Servers = append(b.Servers, ir.Server{Name: serverName(addr, port), Address: addr, Port: port})
		}
	}
	sort.Slice(b.Servers, func(i, j int) bool { return b.Servers[i].Name < b.Servers[j].Name })
	t.backends[name] = b
	return name
}
