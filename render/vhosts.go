package render

import (
	"sort"

	"hagate.io/hagate/render/ir"
)

// vhost is the routes of one listener for one hostname pattern.
type vhost struct {
	name     string
	listener *listenerCtx
	host     string
	matches  []*rankedMatch
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

// hostMaps fills the host maps: every virtual host and, on a port of
// several listeners, every listener hostname without a virtual host of
// its own (so that the request's listener is known for the 421 check even
// when no route matches). With one listener such an entry would only name
// a virtual host without routes: the request gets 404 without it too.
func (t *translator) hostMaps(fe *ir.Frontend, ls []*listenerCtx, vhosts []*vhost) {
	type entry struct{ host, value string }
	var entries []entry
	has := map[string]bool{}
	for _, vh := range vhosts {
		entries = append(entries, entry{vh.host, vh.name})
		has[vh.host] = true
	}
	for _, l := range ls {
		if len(ls) > 1 && !has[l.hostname] {
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
