package render

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// compileTLSRoute compiles the rules of a TLSRoute into r: each rule is
// only weighted TCP backends.
func (t *translator) compileTLSRoute(r *route, o *gwapiv1.TLSRoute) {
	t.compileStreamRules(r, o, len(o.Spec.Rules), func(i int) (*gwapiv1.SectionName, []gwapiv1.BackendRef) {
		return o.Spec.Rules[i].Name, o.Spec.Rules[i].BackendRefs
	})
}

// compileStreamRules compiles the n rules of a route whose rules are only
// weighted TCP backends (TLSRoute, TCPRoute) into r; rule gives the name
// and backendRefs of rule i. A backendRef of weight 0 takes no
// connections and is left out, unless it does not resolve (its problem is
// reported).
func (t *translator) compileStreamRules(r *route, o metav1.Object, n int, rule func(i int) (*gwapiv1.SectionName, []gwapiv1.BackendRef)) {
	t.compileRules(r, n, func(i int) (*compiledRule, error) {
		name, refs := rule(i)
		cr, err := newRule(r.kind, o, i, name)
		if err != nil {
			return nil, err
		}
		for _, br := range refs {
			rb := t.resolveBackend(r.kind, o.GetNamespace(), br, protoTCP)
			if rb.weight > 0 || rb.problem != nil {
				cr.backends = append(cr.backends, rb)
			}
		}
		return cr, nil
	})
}
