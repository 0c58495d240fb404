package render

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// catchAllFilter is the SNI filter of the default certificate's crt-list
// line: a negative filter only, so the certificate's own names are not
// indexed and it is served only when no other line matches.
const catchAllFilter = "!*"

// vhost is the routes of one listener for one hostname pattern.
type vhost struct {
	name     string
	listener *listenerCtx
	host     string
	matches  []*rankedMatch
}

// rankedMatch is a match with what orders it.
type rankedMatch struct {
	m     ir.Match
	route metav1.Object
	// cr is the rule the match selects.
	cr *compiledRule
	// grpc is set for GRPCRoute matches, which rank by service and method.
	grpc  *grpcRank
	rule  int
	index int
}

// buildFrontends groups served listeners by port into frontends: an HTTP
// frontend for plain HTTP, or for HTTPS alone; a TCP frontend for TLS
// listeners; an SNI router in front of internal frontends when one port
// mixes passthrough and terminated TLS, or HTTPS and TLSRoutes.
func (t *translator) buildFrontends() {
	byGroup := map[bindGroup][]*listenerCtx{}
	for _, l := range t.listeners {
		if l.served() {
			byGroup[l.group()] = append(byGroup[l.group()], l)
		}
	}
	var groups []bindGroup
	for bg := range byGroup {
		groups = append(groups, bg)
	}
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].port != groups[j].port {
			return groups[i].port < groups[j].port
		}
		return groups[i].addrs < groups[j].addrs
	})
	for _, port := range groups {
		ls := byGroup[port]
		sortBySpecificity(ls)
		if ls[0].family() == "HTTP" {
			t.res.Config.Frontends = append(t.res.Config.Frontends, t.frontend(port, ls, ""))
			continue
		}
		var https, term, pass []*listenerCtx
		for _, l := range ls {
			switch l.kind {
			case lkHTTPS:
				https = append(https, l)
			case lkTLSTerminate:
				term = append(term, l)
			case lkTLSPassthrough:
				pass = append(pass, l)
			}
		}
		idx := newListenerIndex(ls)
		switch {
		case len(term) == 0 && len(pass) == 0:
			t.res.Config.Frontends = append(t.res.Config.Frontends, t.frontend(port, https, ""))
		case len(https) == 0 && len(pass) == 0:
			t.res.Config.TCPFrontends = append(t.res.Config.TCPFrontends, t.terminateFrontend(port, term, idx, ""))
		default:
			t.res.Config.TCPFrontends = append(t.res.Config.TCPFrontends, t.sniRouter(port, ls, https, term, pass, idx))
		}
	}
	t.reportTLSRouteConflicts()
}

// sortBySpecificity orders listeners most specific hostname first.
func sortBySpecificity(ls []*listenerCtx) {
	sort.SliceStable(ls, func(i, j int) bool {
		if ls[i].hostname != ls[j].hostname {
			return moreSpecific(ls[i].hostname, ls[j].hostname)
		}
		return false
	})
}

// frontend builds the HTTP frontend of HTTP or HTTPS listeners of a port,
// bound on the port, or on socket behind an SNI router.
func (t *translator) frontend(bg bindGroup, ls []*listenerCtx, socket string) *ir.Frontend {
	proto := ir.ProtocolHTTP
	if ls[0].kind == lkHTTPS {
		proto = ir.ProtocolHTTPS
	}
	fe := &ir.Frontend{
		Name:           bg.name(strings.ToLower(string(proto))),
		Port:           bg.port,
		Addresses:      bg.addresses(),
		Socket:         socket,
		Protocol:       proto,
		ForwardedProto: strings.ToLower(string(proto)),
	}
	for _, l := range ls {
		fe.Listeners = append(fe.Listeners, &ir.Listener{Name: l.name, Hostname: l.hostname})
	}
	if proto == ir.ProtocolHTTPS {
		fe.TLS = t.tlsBind(ls, []string{"h2", "http/1.1"})
		if v := ls[0].validation; v != nil && v.ca != nil {
			t.cas[v.ca.Path] = v.ca
			fe.TLS.ClientCA = v.ca.Path
			fe.TLS.ClientOptional = v.optional
		}
		for _, l := range ls {
			switch {
			case l.hostname == "":
				fe.SNIDefault = l.name
			case isWildcard(l.hostname):
				fe.SNISuffix = append(fe.SNISuffix, ir.MapEntry{Key: l.hostname[1:], Value: l.name})
			default:
				fe.SNIExact = append(fe.SNIExact, ir.MapEntry{Key: l.hostname, Value: l.name})
			}
		}
	}
	vhosts := t.vhosts(ls)
	t.hostMaps(fe, ls, vhosts)
	// A rule's backends depend on its Gateway (the client certificate
	// of BackendTLSPolicy servers): when Gateways share this port, each
	// keeps its own copy of the rule.
	gateways := map[*gatewayCtx]bool{}
	for _, l := range ls {
		gateways[l.g] = true
	}
	rules := map[string]*ir.Rule{}
	seen := map[string]bool{} // map keys taken by a match of higher precedence
	for _, vh := range vhosts {
		sort.SliceStable(vh.matches, func(i, j int) bool { return matchBefore(vh.matches[i], vh.matches[j]) })
		plain := true
		for _, rm := range vh.matches {
			plain = plain && plainPath(&rm.m)
		}
		for _, rm := range vh.matches {
			m := rm.m
			m.VHost = vh.name
			m.Origin = rm.cr.origin
			key := rm.cr.name
			if len(gateways) > 1 {
				key = fmt.Sprintf("%s/%s:%s", vh.listener.g.gw.Namespace, vh.listener.g.gw.Name, rm.cr.name)
			}
			m.Rule = key
			if _, ok := rules[key]; !ok {
				r := t.frontendRule(rm.cr, vh.listener)
				r.Name = key
				rules[key] = r
			}
			if !plain {
				fe.Matches = append(fe.Matches, &m)
				continue
			}
			// Precedence order puts exact paths first and longer prefixes
			// before shorter ones, which the lookups keep; of two matches
			// with one key, the first wins.
			switch {
			case m.PathExact != "":
				if k := vh.name + "|" + m.PathExact; !seen["exact "+k] {
					seen["exact "+k] = true
					fe.PathExact = append(fe.PathExact, ir.MapEntry{Key: k, Value: key})
				}
			default:
				if k := vh.name + "|" + m.PathPrefix; !seen["prefix "+k] {
					seen["prefix "+k] = true
					fe.PathPrefix = append(fe.PathPrefix, ir.MapEntry{Key: k, Value: key})
					fe.PrefixDepth = max(fe.PrefixDepth, strings.Count(m.PathPrefix, "/"))
				}
			}
		}
	}
	for _, r := range rules {
		if r.Redirect == nil && len(r.Backends) == 1 && r.Backends[0].Backend != "" &&
			r.Backends[0].RequestHeaders == nil && r.Backends[0].ResponseHeaders == nil {
			r.BackendByMap = true
			fe.RuleBackends = append(fe.RuleBackends, ir.MapEntry{Key: r.Name, Value: r.Backends[0].Backend})
		}
		fe.Rules = append(fe.Rules, r)
	}
	sort.Slice(fe.Rules, func(i, j int) bool { return fe.Rules[i].Name < fe.Rules[j].Name })
	sort.Slice(fe.RuleBackends, func(i, j int) bool { return fe.RuleBackends[i].Key < fe.RuleBackends[j].Key })
	return fe
}

// plainPath reports whether a match tests the path only, exactly or by
// prefix, so that a map lookup can stand for it.
func plainPath(m *ir.Match) bool {
	return m.PathRegex == "" && m.Method == "" && len(m.Headers) == 0 && len(m.QueryParams) == 0
}

// tlsBind builds the crt-list of a port. The catch-all listener's first
// certificate comes first, as the default certificate, with a negative
// filter only so that its own names never select it; its other
// certificates are served for their names that no other listener owns.
// Every named listener's certificates follow, with the listener hostname as
// SNI filter. Certificates become files of the configuration here, once
// their listener is known to be served.
func (t *translator) tlsBind(ls []*listenerCtx, alpn []string) *ir.TLSBind {
	b := &ir.TLSBind{StrictSNI: true, ALPN: alpn}
	idx := newListenerIndex(ls)
	use := func(c *servedCert) string {
		t.certs[c.file.Path] = c.file
		return c.file.Path
	}
	for _, l := range ls {
		if l.hostname != "" || l != idx.catchAll {
			continue
		}
		b.StrictSNI = false
		for i, c := range l.certs {
			if i == 0 {
				b.CrtList = append(b.CrtList, ir.CrtListEntry{
					Comment:    fmt.Sprintf("listener %s (no hostname): the default certificate", l.name),
					Cert:       use(c),
					SNIFilters: []string{catchAllFilter},
					Options:    l.tlsOptions,
					Origin:     l.origin(),
				})
				continue
			}
			var names []string
			for _, n := range c.names {
				n = strings.ToLower(n)
				if validHostname(n) && idx.owner(n) == l {
					names = append(names, n)
				}
			}
			if len(names) == 0 {
				continue
			}
			b.CrtList = append(b.CrtList, ir.CrtListEntry{
				Comment:    fmt.Sprintf("listener %s (no hostname): for its names no other listener owns", l.name),
				Cert:       use(c),
				SNIFilters: names,
				Options:    l.tlsOptions,
				Origin:     l.origin(),
			})
		}
	}
	for _, l := range ls {
		if l.hostname == "" {
			continue
		}
		for _, c := range l.certs {
			e := ir.CrtListEntry{
				Comment:    fmt.Sprintf("listener %s", l.name),
				Cert:       use(c),
				SNIFilters: []string{l.hostname},
				Options:    l.tlsOptions,
				Origin:     l.origin(),
			}
			if deeper := deeperNames(l, c, idx); len(deeper) > 0 {
				e.Comment += ", with the names of its certificate more than one label below " + l.hostname[2:]
				e.SNIFilters = append(e.SNIFilters, deeper...)
			}
			b.CrtList = append(b.CrtList, e)
		}
	}
	b.CrtList = splitCrtListLines(b.CrtList)
	return b
}

// HAProxy 2.6 refuses a crt-list line of more than 2,047 words or 65,535
// characters ("too many args", "line too long"), and the Runtime API takes
// a line in one command of at most its buffer size (16 kB by default).
// Lines are kept well below all three.
const (
	maxLineFilters     = 1000
	maxLineFilterBytes = 12 << 10
)

// splitCrtListLines splits lines with too many SNI filters into several
// lines of the same certificate and options, each with part of the
// filters: HAProxy selects the certificate for any of them, as for one
// line.
func splitCrtListLines(in []ir.CrtListEntry) []ir.CrtListEntry {
	var out []ir.CrtListEntry
	for _, e := range in {
		var parts [][]string
		var cur []string
		size := 0
		for _, f := range e.SNIFilters {
			if len(cur) > 0 && (len(cur) == maxLineFilters || size+len(f)+1 > maxLineFilterBytes) {
				parts = append(parts, cur)
				cur, size = nil, 0
			}
			cur = append(cur, f)
			size += len(f) + 1
		}
		parts = append(parts, cur)
		if len(parts) == 1 {
			out = append(out, e)
			continue
		}
		for i, p := range parts {
			x := e
			x.SNIFilters = p
			x.Comment = fmt.Sprintf("%s (line %d of %d: its names are split to keep each line within HAProxy's limits)", e.Comment, i+1, len(parts))
			out = append(out, x)
		}
	}
	return out
}

// deeperNames are the names of a wildcard listener's certificate that the
// listener's hostname covers (any number of labels, as the Gateway API
// reads "*.example.com") but HAProxy's crt-list filter of the same
// spelling does not (one label): "a.b.example.com", "*.b.example.com".
// Each becomes a filter of its own, unless a more specific listener of the
// port owns it. A client only accepts these names from the certificate
// anyway, so the SNIs below the wildcard a certificate is valid for select
// it, and no other.
func deeperNames(l *listenerCtx, c *servedCert, idx *listenerIndex) []string {
	if !isWildcard(l.hostname) {
		return nil
	}
	suffix := l.hostname[1:] // ".example.com"
	var out []string
	for _, n := range c.names {
		n = strings.ToLower(n)
		if n == l.hostname || !validHostname(n) || !covers(l.hostname, n) || idx.owner(n) != l {
			continue
		}
		if i := strings.IndexByte(n, '.'); !isWildcard(n) && n[i:] == suffix {
			continue // one label below: the wildcard filter matches it
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// vhosts collects the routes of a port's listeners per (listener,
// hostname), leaving out hostnames a more specific listener owns.
func (t *translator) vhosts(ls []*listenerCtx) []*vhost {
	idx := newListenerIndex(ls)
	var out []*vhost
	for _, l := range ls {
		byHost := map[string]*vhost{}
		var order []string
		for _, a := range t.routes[l] {
			if a.kind == kindTLSRoute {
				continue
			}
			for _, h := range a.hostnames {
				if idx.owner(h) != l {
					continue
				}
				vh, ok := byHost[h]
				if !ok {
					vh = &vhost{name: vhostName(l, h), listener: l, host: h}
					byHost[h] = vh
					order = append(order, h)
				}
				for ri, cr := range a.rules {
					for mi, m := range cr.matches {
						rm := &rankedMatch{m: m, route: a.obj, rule: ri, index: mi, cr: cr}
						if cr.grpc != nil {
							rm.grpc = &cr.grpc[mi]
						}
						vh.matches = append(vh.matches, rm)
					}
				}
			}
		}
		sort.Slice(order, func(i, j int) bool { return moreSpecific(order[i], order[j]) })
		for _, h := range order {
			out = append(out, byHost[h])
		}
	}
	return out
}

// listenerIndex finds the most specific listener of a port whose hostname
// covers a hostname pattern, without scanning every listener.
type listenerIndex struct {
	exact    map[string]*listenerCtx
	wildcard map[string]*listenerCtx // by suffix without "*"
	catchAll *listenerCtx
}

func newListenerIndex(ls []*listenerCtx) *listenerIndex {
	x := &listenerIndex{exact: map[string]*listenerCtx{}, wildcard: map[string]*listenerCtx{}}
	for _, l := range ls { // most specific first: keep the first of a name
		switch {
		case l.hostname == "":
			if x.catchAll == nil {
				x.catchAll = l
			}
		case isWildcard(l.hostname):
			if _, ok := x.wildcard[l.hostname[1:]]; !ok {
				x.wildcard[l.hostname[1:]] = l
			}
		default:
			if _, ok := x.exact[l.hostname]; !ok {
				x.exact[l.hostname] = l
			}
		}
	}
	return x
}

// owner is the most specific listener whose hostname covers the pattern h
// (exact, "*.suffix" or "" for any).
func (x *listenerIndex) owner(h string) *listenerCtx {
	if h == "" {
		return x.catchAll
	}
	if !isWildcard(h) {
		if l, ok := x.exact[h]; ok {
			return l
		}
	}
	// Suffixes from the most specific: ".b.example.com", ".example.com", ...
	for i := 0; i < len(h); i++ {
		if h[i] != '.' {
			continue
		}
		if l, ok := x.wildcard[h[i:]]; ok {
			return l
		}
	}
	return x.catchAll
}

func vhostName(l *listenerCtx, h string) string {
	if h == "" {
		h = "*"
	}
	return l.name + "@" + h
}

// hostMaps fills the host maps: every virtual host, and every listener
// hostname without a virtual host of its own (so that the request's
// listener is known even when no route matches).
func (t *translator) hostMaps(fe *ir.Frontend, ls []*listenerCtx, vhosts []*vhost) {
	type entry struct{ host, value string }
	var entries []entry
	has := map[string]bool{}
	for _, vh := range vhosts {
		entries = append(entries, entry{vh.host, vh.name})
		has[vh.host] = true
	}
	for _, l := range ls {
		if !has[l.hostname] {
			entries = append(entries, entry{l.hostname, l.name})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return moreSpecific(entries[i].host, entries[j].host) })
	for _, e := range entries {
		switch {
		case e.host == "":
			fe.HostDefault = e.value
		case isWildcard(e.host):
			fe.HostSuffix = append(fe.HostSuffix, ir.MapEntry{Key: e.host[1:], Value: e.value})
		default:
			fe.HostExact = append(fe.HostExact, ir.MapEntry{Key: e.host, Value: e.value})
		}
	}
}

// matchBefore orders matches by the Gateway API's precedence: exact path,
// longest prefix, method, most headers, most query parameters, then the
// oldest route, its namespace/name, and rule and match order.
func matchBefore(a, b *rankedMatch) bool {
	if a.grpc != nil && b.grpc != nil {
		// GRPCRoute: the most characters of service, then of method, then
		// the most header matches.
		if a.grpc.service != b.grpc.service {
			return a.grpc.service > b.grpc.service
		}
		if a.grpc.method != b.grpc.method {
			return a.grpc.method > b.grpc.method
		}
		if len(a.m.Headers) != len(b.m.Headers) {
			return len(a.m.Headers) > len(b.m.Headers)
		}
		return sameRankOrder(a, b)
	}
	ka, kb := pathRank(a.m), pathRank(b.m)
	if ka != kb {
		return ka > kb
	}
	if (a.m.Method != "") != (b.m.Method != "") {
		return a.m.Method != ""
	}
	if len(a.m.Headers) != len(b.m.Headers) {
		return len(a.m.Headers) > len(b.m.Headers)
	}
	if len(a.m.QueryParams) != len(b.m.QueryParams) {
		return len(a.m.QueryParams) > len(b.m.QueryParams)
	}
	return sameRankOrder(a, b)
}

// sameRankOrder orders matches of equal rank: the oldest route, then its
// namespace/name, then rule and match order.
func sameRankOrder(a, b *rankedMatch) bool {
	if a.route != b.route {
		return olderFirst(a.route, b.route)
	}
	if a.rule != b.rule {
		return a.rule < b.rule
	}
	return a.index < b.index
}

// pathRank: exact paths first, then regular expressions (longer first),
// then prefixes by length.
func pathRank(m ir.Match) int {
	switch {
	case m.PathExact != "":
		return 1 << 30
	case m.PathRegex != "":
		return 1<<20 + len(m.PathRegex)
	}
	return len(m.PathPrefix) + 1
}

// frontendRule finishes a compiled rule for the frontend of listener l
// (redirect defaults depend on the listener's port and protocol).
func (t *translator) frontendRule(cr *compiledRule, l *listenerCtx) *ir.Rule {
	r := &ir.Rule{
		Name:            cr.name,
		Comment:         cr.comment,
		Origin:          cr.origin,
		RequestHeaders:  cr.reqHdr,
		ResponseHeaders: cr.respHdr,
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
