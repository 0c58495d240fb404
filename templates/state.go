package templates

import (
	"fmt"
	"slices"
	"strings"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render/ir"
)

// This file describes, as data, what of a rendered Bundle the Runtime API
// can change (bundle.State): the haproxy package plans runtime changes
// from it, and compares the rest of haproxy.cfg as text. What it says
// must be what the files say: state_test.go checks it against the files.

// crtListPath is the Bundle path of a TLS frontend's crt-list.
func crtListPath(frontend string) string {
	return ir.DirCrtLists + frontend + ".crt-list"
}

// mapPath is the Bundle path of one of an HTTP frontend's maps (what:
// hosts, suffixes, sni-hosts, sni-suffixes, paths, prefixes).
func mapPath(frontend, what string) string {
	return ir.DirMaps + frontend + "." + what + ".map"
}

// crtListState is a crt-list's lines as crtList writes them.
func crtListState(p string, tb *ir.TLSBind) bundle.CrtList {
	l := bundle.CrtList{Path: p}
	for _, e := range tb.CrtList {
		l.Lines = append(l.Lines, bundle.CrtListLine{Cert: e.Cert, Options: slices.Clone(e.Options), SNIFilters: slices.Clone(e.SNIFilters)})
	}
	return l
}

// mapState is a map's entries as addMap writes them.
func mapState(p, kind string, entries []ir.MapEntry) bundle.Map {
	l := mapLookups[kind]
	m := bundle.Map{Path: p, Ordered: l.ordered, Level: l.level, Entries: make([]bundle.MapEntry, 0, len(entries))}
	for _, e := range entries {
		m.Entries = append(m.Entries, bundle.MapEntry{Key: e.Key, Value: e.Value})
	}
	return m
}

// mapLookups say how haproxy.cfg looks each kind of map up (see
// bundle.Map): suffix maps (map_end) take the first match in file order;
// the others are exact lookups (map_str). A request's lookups chain from
// the highest level down: its host (or SNI) finds a virtual host (level
// 2), the virtual host and path a rule, or the backend of a rule that
// does nothing else (1).
var mapLookups = map[string]struct {
	ordered bool
	level   int
}{
	"hosts":        {false, 2},
	"suffixes":     {true, 2},
	"sni-hosts":    {false, 2},
	"sni-suffixes": {true, 2},
	"paths":        {false, 1},
	"prefixes":     {false, 1},
}

// bindAddrs are the TCP addresses of a bind line, from what the bindAddr
// template function writes ("127.0.0.1:443,[::1]:443", ":::443 v4v6").
func bindAddrs(bind func([]string, int32) string, addrs []string, port int32) []string {
	var out []string
	for _, a := range strings.Split(bind(addrs, port), ",") {
		if f := strings.Fields(a); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// backendsState are the server lines of the backends, as
// haproxy.cfg.tmpl writes them (render gives a backend that must not
// reach its servers none).
func backendsState(backends []*ir.Backend, file func(string) string) []bundle.Backend {
	var out []bundle.Backend
	for _, b := range backends {
		if len(b.Servers) == 0 {
			continue
		}
		sb := bundle.Backend{Name: b.Name, Servers: make([]bundle.Server, 0, len(b.Servers))}
		for _, s := range b.Servers {
			sb.Servers = append(sb.Servers, bundle.Server{Name: s.Name, Params: serverParams(b, s, file)})
		}
		out = append(out, sb)
	}
	slices.SortFunc(out, func(x, y bundle.Backend) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// serverParams are a server line's arguments after the server's name,
// as haproxy.cfg.tmpl writes them.
func serverParams(b *ir.Backend, s ir.Server, file func(string) string) string {
	if s.Socket != "" {
		return fmt.Sprintf("unix@%s send-proxy-v2", file(s.Socket))
	}
	var p strings.Builder
	p.WriteString(serverAddr(s))
	if t := b.TLS; t != nil {
		ca := ir.SystemCA
		if t.CAFile != ir.SystemCA {
			ca = file(t.CAFile)
		}
		fmt.Fprintf(&p, " ssl verify required ca-file %s sni str(%s)", ca, t.SNI)
		if t.ClientCert != "" {
			fmt.Fprintf(&p, " crt %s", file(t.ClientCert))
		}
		if b.H2 {
			p.WriteString(" alpn h2")
		}
	}
	if b.H2 {
		p.WriteString(" proto h2")
	}
	return p.String()
}

// finishState sorts what the State lists by path, each once.
func finishState(st *bundle.State) {
	sortUniq := func(s []string) []string {
		slices.Sort(s)
		return slices.Compact(s)
	}
	st.Certificates = sortUniq(st.Certificates)
	st.CAFiles = sortUniq(st.CAFiles)
	st.CRLFiles = sortUniq(st.CRLFiles)
	st.DefaultContextFiles = sortUniq(st.DefaultContextFiles)
	st.Binds = sortUniq(st.Binds)
	slices.SortFunc(st.CrtLists, func(x, y bundle.CrtList) int { return strings.Compare(x.Path, y.Path) })
	slices.SortFunc(st.Maps, func(x, y bundle.Map) int { return strings.Compare(x.Path, y.Path) })
}
