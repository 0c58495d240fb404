package render

import (
	"fmt"
	"strconv"

	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// compiledRule is a route rule checked and turned into IR parts that do
// not depend on the frontend.
type compiledRule struct {
	name string
	// origin is the route the rule belongs to, place the rule in it.
	origin   ir.Origin
	place    ir.Place
	matches  []ir.Match
	reqHdr   *ir.HeaderModifier
	respHdr  *ir.HeaderModifier
	redirect *gwapiv1.HTTPRequestRedirectFilter
	rewrite  *gwapiv1.HTTPURLRewriteFilter
	cors     *ir.CORS
	// timeout is the server timeout of rules[].timeouts ("" when none).
	timeout string
	// prefixes are the PathPrefix values of the matches, for a
	// ReplacePrefixMatch redirect or rewrite.
	prefixes []string
	backends []resolvedBackend
	// mirrors are the RequestMirror filters, in filter order.
	mirrors []mirrorRef
	// grpc ranks the matches of a GRPCRoute rule (nil for HTTPRoute).
	grpc []grpcRank
}

// grpcRank is what orders a GRPCRoute match: the characters of the service
// and of the method it matches.
type grpcRank struct {
	service, method int
}

// newRule starts the compiled rule i of a route: its name
// ("namespace/route/index"; "grpc/namespace/route/index" for a
// GRPCRoute, which may have the name of an HTTPRoute on the same
// listener) and its comment, with the rule's own name, which must be a
// valid section name.
func newRule(kind string, o metav1.Object, i int, name *gwapiv1.SectionName) (*compiledRule, error) {
	prefix := ""
	if kind == kindGRPCRoute {
		prefix = "grpc/"
	}
	cr := &compiledRule{
		name:   prefix + o.GetNamespace() + "/" + o.GetName() + "/" + strconv.Itoa(i),
		origin: ir.Origin{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName()},
		place:  ir.Place{Rule: i, Match: -1},
	}
	if name != nil && *name != "" {
		if len(validation.IsDNS1123Label(string(*name))) > 0 {
			return nil, fmt.Errorf("rule name %q is not a valid section name (lower-case letters, digits and '-')", *name)
		}
		cr.place.RuleName = string(*name)
	}
	return cr, nil
}

// compileHTTPRoute compiles the rules of an HTTPRoute into r. A rule with
// a value hagate cannot express is left out (r.partial says which); when
// none is left, r.invalid says why.
func (t *translator) compileHTTPRoute(r *route, o *gwapiv1.HTTPRoute) {
	t.compileRules(r, len(o.Spec.Rules), func(i int) (*compiledRule, error) { return t.compileHTTPRule(o, i) })
}

// compileRules compiles n rules with compile, recording the rules left out
// and the first backendRef problem in r.
func (t *translator) compileRules(r *route, n int, compile func(int) (*compiledRule, error)) {
	var dropped []string
	for i := range n {
		cr, err := compile(i)
		if err != nil {
			dropped = append(dropped, fmt.Sprintf("rule %d: %v", i, err))
			continue
		}
		for _, b := range cr.backends {
			if b.problem != nil && r.refProblem == nil {
				r.refProblem = b.problem
			}
		}
		for _, m := range cr.mirrors {
			if m.problem != nil && r.refProblem == nil {
				r.refProblem = m.problem
			}
		}
		r.rules = append(r.rules, cr)
	}
	if len(dropped) > 0 {
		msg := upperFirst(strings.Join(dropped, "; ")) + "."
		if len(r.rules) == 0 {
			r.invalid = &routeProblem{gwapiv1.RouteReasonUnsupportedValue, msg + " No rule is usable: the route is not served."}
			r.refProblem = nil
			return
		}
		r.partial = &routeProblem{gwapiv1.RouteReasonUnsupportedValue, msg + " These rules are not served; the others are."}
	}
}

// compileHTTPRule checks one HTTPRoute rule.
func (t *translator) compileHTTPRule(r *gwapiv1.HTTPRoute, i int) (*compiledRule, error) {
	rule := &r.Spec.Rules[i]
	cr, err := newRule(kindHTTPRoute, r, i, rule.Name)
	if err != nil {
		return nil, err
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
		im.Place = cr.place
		im.Place.Match = j
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
			if err == nil && f.RequestRedirect.Path != nil {
				err = checkPrefixReplace(f.RequestRedirect.Path, allPrefix, prefixMatches, "redirect")
			}
		case gwapiv1.HTTPRouteFilterURLRewrite:
			err = checkRewrite(f.URLRewrite)
			cr.rewrite = f.URLRewrite
			if err == nil && f.URLRewrite.Path != nil {
				err = checkPrefixReplace(f.URLRewrite.Path, allPrefix, prefixMatches, "rewrite")
			}
		case gwapiv1.HTTPRouteFilterCORS:
			cr.cors, err = compileCORS(f.CORS)
		case gwapiv1.HTTPRouteFilterRequestMirror:
			var m mirrorRef
			m, err = t.compileMirror(kindHTTPRoute, r.Namespace, f.RequestMirror)
			cr.mirrors = append(cr.mirrors, m)
		default:
			err = fmt.Errorf("filter type %q is not supported (RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite, CORS, RequestMirror are)", f.Type)
		}
		if err != nil {
			return nil, err
		}
	}
	if cr.redirect != nil && cr.rewrite != nil {
		return nil, fmt.Errorf("a rule cannot have both a RequestRedirect and a URLRewrite filter")
	}
	if rule.Timeouts != nil {
		if cr.timeout, err = compileTimeouts(rule.Timeouts); err != nil {
			return nil, err
		}
	}
	cr.prefixes = prefixMatches
	for k, br := range rule.BackendRefs {
		rb := t.resolveBackend(kindHTTPRoute, r.Namespace, br.BackendRef, protoHTTP)
		for _, f := range br.Filters {
			var err error
			switch f.Type {
			case gwapiv1.HTTPRouteFilterRequestHeaderModifier:
				rb.reqHdr, err = compileHeaderFilter(f.RequestHeaderModifier)
			case gwapiv1.HTTPRouteFilterResponseHeaderModifier:
				rb.respHdr, err = compileHeaderFilter(f.ResponseHeaderModifier)
			default:
				err = fmt.Errorf("filter type %q is not supported on backendRefs (RequestHeaderModifier, ResponseHeaderModifier are)", f.Type)
			}
			if err != nil {
				return nil, fmt.Errorf("backendRef %d: %v", k, err)
			}
		}
		if rb.weight > 0 || rb.problem != nil {
			cr.backends = append(cr.backends, rb)
		}
	}
	return cr, nil
}
