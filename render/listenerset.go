package render

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/snapshot"
)

// kindListenerSet is the kind of the ListenerSet resource.
const kindListenerSet = "ListenerSet"

// listenerSetCtx is a ListenerSet whose parent is one of our Gateways.
// Its listeners join the parent's ports as if they were the Gateway's
// own, after them in precedence; routes reach them only through a
// parentRef to the ListenerSet.
type listenerSetCtx struct {
	ls     *gwapiv1.ListenerSet
	g      *gatewayCtx
	status *gwapiv1.ListenerSetStatus
	// listeners are built only for an attached ListenerSet (reason "").
	listeners []*listenerCtx
	// reason and msg say why the ListenerSet is not attached.
	reason gwapiv1.ListenerSetConditionReason
	msg    string
}

// selectListenerSets finds the ListenerSets whose parent is one of our
// Gateways and attaches those the Gateway allows, in precedence order.
func (t *translator) selectListenerSets() {
	if len(t.snap.ListenerSets) == 0 {
		return
	}
	byName := make(map[types.NamespacedName]*gatewayCtx, len(t.gateways))
	for _, g := range t.gateways {
		byName[nn(g.gw)] = g
	}
	sets := append([]*gwapiv1.ListenerSet(nil), t.snap.ListenerSets...)
	sort.Slice(sets, func(i, j int) bool { return olderFirst(sets[i], sets[j]) })
	t.listenerSets = map[types.NamespacedName]*listenerSetCtx{}
	for _, ls := range sets {
		p := ls.Spec.ParentRef
		if deref(p.Group, gwapiv1.GroupName) != gwapiv1.GroupName || deref(p.Kind, "Gateway") != "Gateway" {
			continue
		}
		g, ok := byName[types.NamespacedName{Namespace: deref(p.Namespace, ls.Namespace), Name: string(p.Name)}]
		if !ok {
			continue // not one of our Gateways: not ours to report on
		}
		if !validName(ls.Namespace, ls.Name) {
			t.res.Warnings = append(t.res.Warnings, fmt.Sprintf("ListenerSet %q in namespace %q is skipped: its name is not a valid Kubernetes name", ls.Name, ls.Namespace))
			continue
		}
		s := &listenerSetCtx{ls: ls, g: g, status: &gwapiv1.ListenerSetStatus{}}
		t.st.ListenerSets[nn(ls)] = s.status
		t.listenerSets[nn(ls)] = s
		gwName := g.gw.Namespace + "/" + g.gw.Name
		switch {
		case !t.allowsListenerSet(g, ls.Namespace):
			s.reason = gwapiv1.ListenerSetReasonNotAllowed
			s.msg = fmt.Sprintf("Gateway %s does not allow ListenerSets from namespace %s (its spec.allowedListeners); the listeners are not served.", gwName, ls.Namespace)
		case g.addrUnsupported != "" || g.paramsProblem != "":
			s.reason = gwapiv1.ListenerSetReasonParentNotAccepted
			s.msg = fmt.Sprintf("Gateway %s is not accepted; see its conditions. The listeners are not served.", gwName)
		default:
			g.sets = append(g.sets, s)
		}
	}
}

// allowsListenerSet applies a Gateway's spec.allowedListeners (None by
// default) to a ListenerSet in namespace ns.
func (t *translator) allowsListenerSet(g *gatewayCtx, ns string) bool {
	al := g.gw.Spec.AllowedListeners
	if al == nil || al.Namespaces == nil || al.Namespaces.From == nil {
		return false
	}
	return t.namespaceSelected(*al.Namespaces.From, al.Namespaces.Selector, ns, g.gw.Namespace)
}

// listener makes the context of one of the ListenerSet's listeners.
func (s *listenerSetCtx) listener(e *gwapiv1.ListenerEntry) *listenerCtx {
	spec := &gwapiv1.Listener{Name: e.Name, Hostname: e.Hostname, Port: e.Port, Protocol: e.Protocol, TLS: e.TLS, AllowedRoutes: e.AllowedRoutes}
	l := &listenerCtx{
		g:        s.g,
		set:      s,
		spec:     spec,
		name:     fmt.Sprintf("%s/%s/%s/%s", s.ls.Namespace, kindListenerSet, s.ls.Name, e.Name),
		accepted: true,
		resolved: true,
		status:   &gwapiv1.ListenerStatus{Name: e.Name, SupportedKinds: []gwapiv1.RouteGroupKind{}},
	}
	if e.Hostname != nil {
		l.hostname = string(*e.Hostname)
	}
	return l
}

// valid reports whether a listener is usable: accepted, not conflicted,
// and with a certificate when it terminates TLS.
func (l *listenerCtx) valid() bool {
	return l.accepted && !l.conflicted && !l.refused && (!l.terminates() || len(l.certs) > 0)
}

// finishListenerSets writes the ListenerSet conditions, once their
// listeners' are written, and counts the attached ones on their Gateway.
func (t *translator) finishListenerSets() {
	for _, s := range t.listenerSets {
		gen := s.ls.Generation
		c := &s.status.Conditions
		set := func(typ gwapiv1.ListenerSetConditionType, ok bool, reason gwapiv1.ListenerSetConditionReason, msg string) {
			setCond(c, cond(string(typ), ok, string(reason), msg, gen))
		}
		if s.status.Listeners == nil {
			s.status.Listeners = []gwapiv1.ListenerEntryStatus{}
		}
		if s.reason != "" {
			set(gwapiv1.ListenerSetConditionAccepted, false, s.reason, s.msg)
			set(gwapiv1.ListenerSetConditionProgrammed, false, s.reason, s.msg)
			continue
		}
		var bad, good []string
		served := false
		for _, l := range s.listeners {
			if l.valid() {
				good = append(good, string(l.spec.Name))
			} else {
				bad = append(bad, string(l.spec.Name))
			}
			served = served || l.served()
		}
		gwName := s.g.gw.Namespace + "/" + s.g.gw.Name
		switch {
		case len(good) == 0:
			msg := fmt.Sprintf("No listener is valid (%s); see their conditions.", strings.Join(bad, ", "))
			set(gwapiv1.ListenerSetConditionAccepted, false, gwapiv1.ListenerSetReasonListenersNotValid, msg)
			set(gwapiv1.ListenerSetConditionProgrammed, false, gwapiv1.ListenerSetReasonListenersNotValid, msg)
			continue
		case len(bad) > 0:
			set(gwapiv1.ListenerSetConditionAccepted, true, gwapiv1.ListenerSetReasonListenersNotValid,
				fmt.Sprintf("Attached to Gateway %s. Not valid: listener(s) %s (see their conditions). Accepted: listener(s) %s.", gwName, strings.Join(bad, ", "), strings.Join(good, ", ")))
		default:
			set(gwapiv1.ListenerSetConditionAccepted, true, gwapiv1.ListenerSetReasonAccepted, fmt.Sprintf("Attached to Gateway %s.", gwName))
		}
		s.g.attachedSets++
		switch {
		case served:
			set(gwapiv1.ListenerSetConditionProgrammed, true, gwapiv1.ListenerSetReasonProgrammed, "The listeners are part of the HAProxy configuration of Gateway "+gwName+".")
		case s.g.unserved:
			set(gwapiv1.ListenerSetConditionProgrammed, false, "ParentNotProgrammed", "Gateway "+gwName+" is not served: its addresses cannot be used; see its conditions.")
		default:
			set(gwapiv1.ListenerSetConditionProgrammed, false, gwapiv1.ListenerSetReasonInvalid, "No listener is part of the HAProxy configuration; see their conditions.")
		}
	}
}

// ListenerSetPorts are the ports of the listeners of the ListenerSets
// our Gateways accept (a provisioned Gateway's Service exposes them too),
// decided by the same code as Translate. The Snapshot needs the
// GatewayClasses, Gateways, ListenerSets and Namespaces only.
func ListenerSetPorts(snap *snapshot.Snapshot, opts Options) []int32 {
	t := newTranslator(snap, opts)
	t.selectGateways()
	t.resolveAddresses()
	t.selectListenerSets()
	var ports []int32
	for _, g := range t.gateways {
		for _, s := range g.sets {
			for _, l := range s.ls.Spec.Listeners {
				if p := int32(l.Port); p > 0 && !slices.Contains(ports, p) {
					ports = append(ports, p)
				}
			}
		}
	}
	slices.Sort(ports)
	return ports
}
