package agent

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/status"
)

// problem is a condition that says something is wrong with an object.
type problem struct {
	object, condition, reason, message string
}

// problems lists the conditions of a status set that report a problem:
// Accepted, Programmed, ResolvedRefs... False, or Conflicted,
// PartiallyInvalid True; in a stable order.
func problems(st *status.Set) []problem {
	var out []problem
	add := func(object string, conds []metav1.Condition) {
		for _, c := range conds {
			bad := c.Status == metav1.ConditionFalse
			switch c.Type {
			case string(gwapiv1.ListenerConditionConflicted), string(gwapiv1.RouteConditionPartiallyInvalid):
				bad = c.Status == metav1.ConditionTrue
			case string(gwapiv1.ListenerConditionOverlappingTLSConfig), string(gwapiv1.GatewayConditionInsecureFrontendValidationMode):
				bad = false
			}
			if bad {
				out = append(out, problem{object, c.Type, c.Reason, c.Message})
			}
		}
	}
	for n, s := range st.GatewayClasses {
		add("GatewayClass "+n, s.Conditions)
	}
	for n, s := range st.Gateways {
		add("Gateway "+n.String(), s.Conditions)
		for _, l := range s.Listeners {
			add(fmt.Sprintf("Gateway %s listener %s", n, l.Name), l.Conditions)
		}
	}
	for kind, m := range map[string]map[types.NamespacedName]*gwapiv1.RouteStatus{"HTTPRoute": st.HTTPRoutes, "GRPCRoute": st.GRPCRoutes, "TLSRoute": st.TLSRoutes, "TCPRoute": st.TCPRoutes} {
		for n, s := range m {
			for _, p := range s.Parents {
				add(fmt.Sprintf("%s %s (parent %s)", kind, n, p.ParentRef.Name), p.Conditions)
			}
		}
	}
	for n, s := range st.BackendTLSPolicies {
		for _, a := range s.Ancestors {
			add(fmt.Sprintf("BackendTLSPolicy %s (ancestor %s)", n, a.AncestorRef.Name), a.Conditions)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].object != out[j].object {
			return out[i].object < out[j].object
		}
		return out[i].condition < out[j].condition
	})
	return out
}

// newProblems are those of cur that prev did not have.
func newProblems(prev, cur []problem) []problem {
	had := make(map[problem]bool, len(prev))
	for _, p := range prev {
		had[p] = true
	}
	var out []problem
	for _, p := range cur {
		if !had[p] {
			out = append(out, p)
		}
	}
	return out
}
