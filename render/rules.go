package render

import (
	"sort"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// frontendRule finishes a compiled rule for the frontend of listener l
// (redirect defaults depend on the listener's port and protocol).
func (t *translator) frontendRule(cr *compiledRule, l *listenerCtx) *ir.Rule {
	r := &ir.Rule{
		Name:            cr.name,
		Place:           cr.place,
		Origin:          cr.origin,
		RequestHeaders:  cr.reqHdr,
		ResponseHeaders: cr.respHdr,
		Timeout:         cr.timeout,
	}
	if cr.redirect == nil {
		for _, b := range cr.backends {
			if b.weight == 0 {
				continue
			}
			wb := ir.WeightedBackend{Weight: b.weight, RequestHeaders: b.reqHdr, ResponseHeaders: b.respHdr}
			if b.problem == nil {
				wb.Backend = t.serviceBackend(b.svc, b.port, b.proto, l.g, false)
			}
			r.Backends = append(r.Backends, wb)
		}
	}
	if cr.redirect == nil {
		// Mirrors copy forwarded requests: a redirect forwards none.
		r.Mirrors = t.ruleMirrors(cr, l.g)
	}
	if f := cr.redirect; f != nil {
		rd := &ir.Redirect{Code: 302}
		if f.StatusCode != nil {
			rd.Code = *f.StatusCode
		}
		scheme := "http"
		if l.kind == lkHTTPS {
			scheme = "https"
		}
		port := int32(l.spec.Port)
		if f.Scheme != nil {
			scheme = *f.Scheme
			port = map[string]int32{"http": 80, "https": 443}[scheme]
		}
		if f.Port != nil {
			port = int32(*f.Port)
		}
		if scheme == "http" && port == 80 || scheme == "https" && port == 443 {
			port = 0
		}
		rd.Scheme, rd.Port = scheme, port
		if f.Hostname != nil {
			rd.Hostname = string(*f.Hostname)
		}
		rd.PathModifier = pathModifier(f.Path, cr.prefixes)
		r.Redirect = rd
		r.Backends = nil
	}
	r.CORS = cr.cors
	if f := cr.rewrite; f != nil {
		rw := &ir.Rewrite{Path: pathModifier(f.Path, cr.prefixes)}
		if f.Hostname != nil {
			rw.Hostname = string(*f.Hostname)
		}
		r.Rewrite = rw
	}
	return r
}

// pathModifier is a checked path modifier of a redirect or rewrite, for a
// rule whose PathPrefix matches are prefixes.
func pathModifier(p *gwapiv1.HTTPPathModifier, prefixes []string) ir.PathModifier {
	var pm ir.PathModifier
	if p == nil {
		return pm
	}
	switch p.Type {
	case gwapiv1.FullPathHTTPPathModifier:
		pm.FullPath = *p.ReplaceFullPath
	case gwapiv1.PrefixMatchHTTPPathModifier:
		pm.PrefixReplace = true
		if p.ReplacePrefixMatch != nil {
			pm.PrefixTo = normPrefix(*p.ReplacePrefixMatch)
		}
		// Longest first: the line of the longest prefix that matches
		// applies.
		pm.Prefixes = append([]string(nil), prefixes...)
		sort.SliceStable(pm.Prefixes, func(i, j int) bool { return len(pm.Prefixes[i]) > len(pm.Prefixes[j]) })
	}
	return pm
}
