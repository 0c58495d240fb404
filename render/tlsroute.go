package render

import gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

// compileTLSRoute compiles the rules of a TLSRoute into r: each rule is
// only weighted TCP backends.
func (t *translator) compileTLSRoute(r *route, o *gwapiv1.TLSRoute) {
	t.compileRules(r, len(o.Spec.Rules), func(i int) (*compiledRule, error) {
		rule := &o.Spec.Rules[i]
		cr, err := newRule(kindTLSRoute, o, i, rule.Name)
		if err != nil {
			return nil, err
		}
		for _, br := range rule.BackendRefs {
			rb := t.resolveBackend(kindTLSRoute, o.Namespace, br, protoTCP)
			if rb.weight > 0 || rb.problem != nil {
				cr.backends = append(cr.backends, rb)
			}
		}
		return cr, nil
	})
}
