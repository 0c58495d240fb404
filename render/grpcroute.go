package render

import (
	"fmt"
	"regexp"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

var (
	// grpcServiceRE and grpcMethodRE are the names the GRPCRoute API
	// accepts for Exact matches.
	grpcServiceRE = regexp.MustCompile(`^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`)
	grpcMethodRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)
)

// compileGRPCRoute compiles the rules of a GRPCRoute into r: gRPC requests
// are HTTP/2 requests to /<service>/<method>, so service and method matches
// become path matches, and backends are spoken to in HTTP/2.
func (t *translator) compileGRPCRoute(r *route, o *gwapiv1.GRPCRoute) {
	t.compileRules(r, len(o.Spec.Rules), func(i int) (*compiledRule, error) { return t.compileGRPCRule(o, i) })
}

func (t *translator) compileGRPCRule(r *gwapiv1.GRPCRoute, i int) (*compiledRule, error) {
	rule := &r.Spec.Rules[i]
	cr, err := newRule(kindGRPCRoute, r, i, rule.Name)
	if err != nil {
		return nil, err
	}
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []gwapiv1.GRPCRouteMatch{{}}
	}
	for j, m := range matches {
		im, err := compileGRPCMatch(m)
		if err != nil {
			return nil, fmt.Errorf("match %d: %v", j, err)
		}
		im.Place = cr.place
		im.Place.Match = j
		im.Rule = cr.name
		cr.matches = append(cr.matches, im)
		var rank grpcRank
		if m.Method != nil && m.Method.Service != nil {
			rank.service = len(*m.Method.Service)
		}
		if m.Method != nil && m.Method.Method != nil {
			rank.method = len(*m.Method.Method)
		}
		cr.grpc = append(cr.grpc, rank)
	}
	if cr.reqHdr, cr.respHdr, err = grpcHeaderFilters(rule.Filters); err != nil {
		return nil, err
	}
	for k, br := range rule.BackendRefs {
		rb := t.resolveBackend(kindGRPCRoute, r.Namespace, br.BackendRef, protoH2C)
		if rb.reqHdr, rb.respHdr, err = grpcHeaderFilters(br.Filters); err != nil {
			return nil, fmt.Errorf("backendRef %d: %v", k, err)
		}
		if rb.weight > 0 || rb.problem != nil {
			cr.backends = append(cr.backends, rb)
		}
	}
	return cr, nil
}

// grpcHeaderFilters compiles the filters of a GRPCRoute rule or backendRef:
// header modifiers only.
func grpcHeaderFilters(fs []gwapiv1.GRPCRouteFilter) (req, resp *ir.HeaderModifier, err error) {
	for _, f := range fs {
		switch f.Type {
		case gwapiv1.GRPCRouteFilterRequestHeaderModifier:
			req, err = compileHeaderFilter(f.RequestHeaderModifier)
		case gwapiv1.GRPCRouteFilterResponseHeaderModifier:
			resp, err = compileHeaderFilter(f.ResponseHeaderModifier)
		default:
			err = fmt.Errorf("filter type %q is not supported (RequestHeaderModifier, ResponseHeaderModifier are)", f.Type)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return req, resp, nil
}

// compileGRPCMatch turns a service/method match into a path match.
func compileGRPCMatch(m gwapiv1.GRPCRouteMatch) (ir.Match, error) {
	var im ir.Match
	if mm := m.Method; mm != nil && (mm.Service != nil || mm.Method != nil) {
		typ := gwapiv1.GRPCMethodMatchExact
		if mm.Type != nil {
			typ = *mm.Type
		}
		svc, meth := "", ""
		if mm.Service != nil {
			svc = *mm.Service
		}
		if mm.Method != nil {
			meth = *mm.Method
		}
		switch typ {
		case gwapiv1.GRPCMethodMatchExact:
			if svc != "" && !grpcServiceRE.MatchString(svc) {
				return im, fmt.Errorf("service %q is not a gRPC service name", svc)
			}
			if meth != "" && !grpcMethodRE.MatchString(meth) {
				return im, fmt.Errorf("method %q is not a gRPC method name", meth)
			}
			switch {
			case svc != "" && meth != "":
				im.PathExact = "/" + svc + "/" + meth
			case svc != "":
				im.PathPrefix = "/" + svc
			default:
				im.PathRegex = "^/[^/]+/" + meth + "$"
			}
		case gwapiv1.GRPCMethodMatchRegularExpression:
			if svc == "" {
				svc = "[^/]+"
			}
			if meth == "" {
				meth = "[^/]+"
			}
			for _, re := range []string{svc, meth} {
				if err := checkRegex("service or method regular expression", re); err != nil {
					return im, err
				}
			}
			im.PathRegex = "^/(" + svc + ")/(" + meth + ")$"
			if err := checkRegex("method match", im.PathRegex); err != nil {
				return im, err
			}
		default:
			return im, fmt.Errorf("method match type %q is not supported", typ)
		}
	}
	seen := map[string]bool{}
	for _, h := range m.Headers {
		if err := checkHeaderName("header", string(h.Name)); err != nil {
			return im, err
		}
		key := strings.ToLower(string(h.Name))
		if seen[key] {
			continue
		}
		seen[key] = true
		sm, err := stringMatch("header "+string(h.Name), string(h.Name), h.Type, h.Value)
		if err != nil {
			return im, err
		}
		im.Headers = append(im.Headers, sm)
	}
	return im, nil
}
