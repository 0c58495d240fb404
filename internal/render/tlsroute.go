package render

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// compileTLSRoute compiles the rules of a TLSRoute into r: each rule is
// only weighted TCP backends.
func (t *translator) compileTLSRoute(r *route, o *gwapiv1.TLSRoute) {
	t.compileRules(r, len(o.Spec.Rules), func(i int) (*compiledRule, error) {
		rule := &o.Spec.Rules[i]
		cr := &compiledRule{
			name:    ruleName(o, i),
			comment: fmt.Sprintf("TLSRoute %s/%s rule %d", o.Namespace, o.Name, i),
		}
		if rule.Name != nil && *rule.Name != "" {
			if len(validation.IsDNS1123Label(string(*rule.Name))) > 0 {
				return nil, fmt.Errorf("rule name %q is not a valid section name (lower-case letters, digits and '-')", *rule.Name)
			}
			cr.comment += fmt.Sprintf(" (%s)", *rule.Name)
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
