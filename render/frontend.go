package render

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"hagate.io/hagate/render/ir"
)

// buildFrontends groups served listeners by port into frontends: an HTTP
// frontend for plain HTTP, or for HTTPS alone; a TCP frontend for TLS
// listeners, or a TCP listener; an SNI router in front of internal frontends when one port
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
		if ls[0].family() == "TCP" {
			t.res.Config.TCPFrontends = append(t.res.Config.TCPFrontends, t.tcpFrontend(port, ls))
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
			if v.crl != nil {
				t.crls[v.crl.Path] = v.crl
				fe.TLS.ClientCRL = v.crl.Path
			}
		}
		// With one listener on the port, a request cannot be misdirected:
		// no SNI maps, no 421 check.
		for _, l := range ls {
			switch {
			case len(ls) == 1:
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
	// Map keys taken by a match of higher precedence: keys start with
	// the virtual host's name, so only a virtual host's own matches can
	// take one another's.
	type pathKey struct {
		exact bool
		path  string
	}
	var seen map[pathKey]bool
	for _, vh := range vhosts {
		if len(vh.matches) > 1 {
			sort.SliceStable(vh.matches, func(i, j int) bool { return matchBefore(vh.matches[i], vh.matches[j]) })
		}
		plain := true
		for _, rm := range vh.matches {
			plain = plain && plainPath(&rm.m)
		}
		clear(seen)
		taken := func(exact bool, path string) bool {
			if len(vh.matches) == 1 {
				return false
			}
			if seen == nil {
				seen = map[pathKey]bool{}
			}
			k := pathKey{exact, path}
			if seen[k] {
				return true
			}
			seen[k] = true
			return false
		}
		for _, rm := range vh.matches {
			m := rm.m
			m.VHost = vh.name
			m.Origin = rm.cr.origin
			key := rm.cr.name
			if len(gateways) > 1 {
				key = fmt.Sprintf("%s/%s:%s", vh.listener.g.gw.Namespace, vh.listener.g.gw.Name, rm.cr.name)
			}
			r, ok := rules[key]
			if !ok {
				r = t.frontendRule(rm.cr, vh.listener)
				r.Name = key
				r.BackendByMap = onlyBackend(r)
				rules[key] = r
				t.ruleTimeouts(r)
			}
			// A rule that only sends to its one backend is found as that
			// backend: no rule-to-backend lookup per request.
			to := key
			if r.BackendByMap {
				to = r.Backends[0].Backend
				if t.opts.RuleNames {
					to = key + "|" + to
					fe.RuleNames = true
				}
				fe.BackendByMap = true
			}
			m.Rule = to
			if !plain {
				fe.Matches = append(fe.Matches, &m)
				continue
			}
			// Precedence order puts exact paths first and longer prefixes
			// before shorter ones, which the lookups keep; of two matches
			// with one key, the first wins.
			switch {
			case m.PathExact != "":
				if !taken(true, m.PathExact) {
					fe.PathExact = append(fe.PathExact, ir.MapEntry{Key: vh.name + "|" + m.PathExact, Value: to})
				}
			default:
				if !taken(false, m.PathPrefix) {
					fe.PathPrefix = append(fe.PathPrefix, ir.MapEntry{Key: vh.name + "|" + m.PathPrefix, Value: to})
					fe.PrefixDepth = max(fe.PrefixDepth, strings.Count(m.PathPrefix, "/"))
				}
			}
		}
	}
	fe.Rules = make([]*ir.Rule, 0, len(rules))
	for _, r := range rules {
		fe.Rules = append(fe.Rules, r)
	}
	if len(fe.Rules) == 0 {
		fe.Rules = nil
	}
	slices.SortFunc(fe.Rules, func(a, b *ir.Rule) int { return strings.Compare(a.Name, b.Name) })
	// The request's host is kept in a variable when it is used twice: by
	// both host maps, or by a redirect that keeps it.
	fe.HostVar = len(fe.HostExact) > 0 && len(fe.HostSuffix) > 0
	for _, r := range fe.Rules {
		if r.Redirect != nil && r.Redirect.Hostname == "" {
			fe.HostVar = true
		}
	}
	return fe
}

// onlyBackend reports whether a rule does nothing but send requests to
// its one (resolved) backend: no redirect, rewrite, CORS, header filter
// or mirror of its own or of the backend's share.
func onlyBackend(r *ir.Rule) bool {
	return r.Redirect == nil && r.Rewrite == nil && r.CORS == nil && r.RequestHeaders == nil && r.ResponseHeaders == nil && r.Timeout == "" && len(r.Mirrors) == 0 &&
		len(r.Backends) == 1 && r.Backends[0].Backend != "" &&
		r.Backends[0].RequestHeaders == nil && r.Backends[0].ResponseHeaders == nil
}

// plainPath reports whether a match tests the path only, exactly or by
// prefix, so that a map lookup can stand for it.
func plainPath(m *ir.Match) bool {
	return m.PathRegex == "" && m.Method == "" && len(m.Headers) == 0 && len(m.QueryParams) == 0
}
