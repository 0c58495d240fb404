package haproxy

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"hagate.io/hagate/haproxy/bundle"
)

// OpKind is a kind of Runtime API change.
type OpKind string

// Runtime API changes, in the order a plan applies them.
const (
	// OpCertNew creates a certificate in memory (new, set, commit): one a
	// crt-list line added by the same plan will use.
	OpCertNew OpKind = "cert-new"
	// OpCertSet replaces the content of a loaded certificate (set, commit).
	OpCertSet OpKind = "cert-set"
	// OpCAFileSet replaces the content of a loaded CA file (set, commit).
	OpCAFileSet OpKind = "cafile-set"
	// OpCrtListAdd adds a crt-list line.
	OpCrtListAdd OpKind = "crtlist-add"
	// OpCrtListDel removes a crt-list line, by certificate.
	OpCrtListDel OpKind = "crtlist-del"
	// OpCertDel removes a certificate no crt-list uses any more.
	OpCertDel OpKind = "cert-del"
	// OpServerAdd adds a server to a backend and makes it ready.
	OpServerAdd OpKind = "server-add"
	// OpServerDel drains a server (maintenance) and deletes it.
	OpServerDel OpKind = "server-del"
	// OpMapReplace replaces the entries of a map atomically (prepare, add,
	// commit), keeping their order.
	OpMapReplace OpKind = "map-replace"
)

// Op is one Runtime API change. Paths are absolute (as HAProxy knows the
// files); Content holds a certificate, CA file or map payload.
type Op struct {
	Kind OpKind
	// File is the certificate, CA file, crt-list or map the op is about.
	File string
	// Line is the crt-list line (for OpCrtListAdd) or the certificate
	// path (for OpCrtListDel).
	Line string
	// Backend and Server name a server; Params are its server-line
	// arguments after the address, the address included.
	Backend, Server, Params string
	// Content is the new file content.
	Content []byte
}

// String describes the op for logs (never the content).
func (o Op) String() string {
	switch o.Kind {
	case OpServerAdd, OpServerDel:
		return fmt.Sprintf("%s %s/%s", o.Kind, o.Backend, o.Server)
	case OpCrtListAdd, OpCrtListDel:
		return fmt.Sprintf("%s %s %s", o.Kind, o.File, o.Line)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.File)
}

// Plan is how to go from the Bundle that runs to the next one.
type Plan struct {
	// Reload is set when HAProxy must reload the configuration; Reasons
	// say why.
	Reload  bool
	Reasons []string
	// Ops are the Runtime API changes that make HAProxy equal to the next
	// Bundle without a reload (when Reload is false).
	Ops []Op
}

// Empty reports whether nothing changes.
func (p *Plan) Empty() bool { return !p.Reload && len(p.Ops) == 0 }

// Kinds counts the ops by kind, for metrics.
func (p *Plan) Kinds() map[OpKind]int {
	m := map[OpKind]int{}
	for _, o := range p.Ops {
		m[o.Kind]++
	}
	return m
}

func (p *Plan) reload(format string, a ...any) {
	p.Reload = true
	p.Reasons = append(p.Reasons, fmt.Sprintf(format, a...))
}

// Files of a Bundle by what they are.
const (
	dirCerts    = "certs/"
	dirCAs      = "cas/"
	dirCrtLists = "crt-lists/"
	dirMaps     = "maps/"
)

// MakePlan compares the Bundle HAProxy runs (cur, nil when nothing runs)
// with the next one, both rendered for the configuration root root, and
// chooses the cheapest correct path: Runtime API changes when only
// certificates, CA files, crt-list lines, servers or map entries differ;
// a reload otherwise. It is pure.
func MakePlan(cur, next *bundle.Bundle, root string) *Plan {
	p := &Plan{}
	if cur == nil {
		p.reload("nothing runs yet")
		return p
	}
	abs := func(rel string) string { return strings.TrimSuffix(root, "/") + "/" + rel }

	// haproxy.cfg: anything but server lines needs a reload.
	oldCfg, newCfg := cur.Get(bundle.ConfigFile), next.Get(bundle.ConfigFile)
	if oldCfg == nil || newCfg == nil {
		p.reload("haproxy.cfg is new")
		return p
	}
	oldSk, oldSrv := parseConfig(oldCfg.Content)
	newSk, newSrv := parseConfig(newCfg.Content)
	if !bytes.Equal(oldSk, newSk) {
		p.reload("haproxy.cfg changed beyond server lines (%s)", firstDiff(oldSk, newSk))
	}

	// Files that appear or vanish.
	paths := map[string]bool{}
	for _, f := range cur.Files() {
		paths[f.Path] = true
	}
	for _, f := range next.Files() {
		paths[f.Path] = true
	}
	var sorted []string
	for q := range paths {
		sorted = append(sorted, q)
	}
	sort.Strings(sorted)

	crtListUses := map[string]int{} // certificate path -> lines using it, in next
	for _, q := range sorted {
		if strings.HasPrefix(q, dirCrtLists) {
			if f := next.Get(q); f != nil {
				for _, l := range crtListLines(f.Content) {
					crtListUses[lineCert(l)]++
				}
			}
		}
	}

	var newCerts, setCerts, delCerts, caSets, listAdds, listDels, maps []Op
	for _, q := range sorted {
		o, n := cur.Get(q), next.Get(q)
		if o != nil && n != nil && bytes.Equal(o.Content, n.Content) && o.Mode == n.Mode {
			continue
		}
		switch {
		case q == bundle.ConfigFile:
			// Handled above.
		case strings.HasPrefix(q, dirCerts):
			switch {
			case o != nil && n != nil:
				setCerts = append(setCerts, Op{Kind: OpCertSet, File: abs(q), Content: n.Content})
			case n != nil:
				// A new certificate: usable at run time only through a
				// crt-list line (a server "crt" changes haproxy.cfg).
				newCerts = append(newCerts, Op{Kind: OpCertNew, File: abs(q), Content: n.Content})
			default:
				delCerts = append(delCerts, Op{Kind: OpCertDel, File: abs(q)})
			}
		case strings.HasPrefix(q, dirCAs):
			if o == nil || n == nil {
				p.reload("CA file %s appears or vanishes", q)
				continue
			}
			caSets = append(caSets, Op{Kind: OpCAFileSet, File: abs(q), Content: n.Content})
		case strings.HasPrefix(q, dirCrtLists):
			if o == nil || n == nil {
				p.reload("crt-list %s appears or vanishes", q)
				continue
			}
			add, del, why := diffCrtList(o.Content, n.Content, root)
			if why != "" {
				p.reload("crt-list %s: %s", q, why)
				continue
			}
			for _, l := range add {
				listAdds = append(listAdds, Op{Kind: OpCrtListAdd, File: abs(q), Line: l})
			}
			for _, c := range del {
				listDels = append(listDels, Op{Kind: OpCrtListDel, File: abs(q), Line: c})
			}
		case strings.HasPrefix(q, dirMaps):
			if o == nil || n == nil {
				p.reload("map %s appears or vanishes", q)
				continue
			}
			maps = append(maps, Op{Kind: OpMapReplace, File: abs(q), Content: mapPayload(n.Content)})
		default:
			p.reload("%s changed", q)
		}
	}
	// A new certificate must be used by an added crt-list line, and a
	// removed one by no line left.
	for _, c := range newCerts {
		if crtListUses[c.File] == 0 {
			p.reload("certificate %s is new and no crt-list line added at run time uses it", strings.TrimPrefix(c.File, abs("")))
		}
	}
	for _, c := range delCerts {
		if crtListUses[c.File] > 0 {
			p.reload("certificate %s is removed but still listed", strings.TrimPrefix(c.File, abs("")))
		}
	}
	if p.Reload {
		p.Ops = nil
		return p
	}
	p.Ops = append(p.Ops, newCerts...)
	p.Ops = append(p.Ops, setCerts...)
	p.Ops = append(p.Ops, caSets...)
	p.Ops = append(p.Ops, listAdds...)
	p.Ops = append(p.Ops, listDels...)
	p.Ops = append(p.Ops, delCerts...)
	// Servers are added before the maps send traffic to them, and removed
	// after the maps stopped sending it there.
	var adds, dels []Op
	for _, o := range diffServers(oldSrv, newSrv) {
		if o.Kind == OpServerAdd {
			adds = append(adds, o)
		} else {
			dels = append(dels, o)
		}
	}
	// A changed server (same name) must be deleted before it is added:
	// then removals come first.
	changed := map[string]bool{}
	for _, o := range dels {
		changed[o.Backend+"/"+o.Server] = true
	}
	reAdd := false
	for _, o := range adds {
		if changed[o.Backend+"/"+o.Server] {
			reAdd = true
		}
	}
	if reAdd {
		p.Ops = append(p.Ops, dels...)
		p.Ops = append(p.Ops, adds...)
		p.Ops = append(p.Ops, maps...)
	} else {
		p.Ops = append(p.Ops, adds...)
		p.Ops = append(p.Ops, maps...)
		p.Ops = append(p.Ops, dels...)
	}
	return p
}

// server is a server line: its name and everything after it.
type server struct {
	name, params string
}

// parseConfig splits haproxy.cfg into its skeleton (every line but the
// server lines of backends, whose position is kept by a marker) and the
// server lines by backend.
func parseConfig(cfg []byte) ([]byte, map[string][]server) {
	var sk bytes.Buffer
	servers := map[string][]server{}
	backend := ""
	for _, line := range strings.Split(string(cfg), "\n") {
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			backend = ""
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "backend" {
				backend = f[1]
			}
		}
		if backend != "" && strings.HasPrefix(trimmed, "server ") {
			f := strings.Fields(trimmed)
			if len(f) >= 3 {
				servers[backend] = append(servers[backend], server{name: f[1], params: strings.Join(f[2:], " ")})
				continue
			}
		}
		sk.WriteString(line)
		sk.WriteByte('\n')
	}
	return sk.Bytes(), servers
}

// diffServers adds servers new in a backend and removes those gone; a
// server whose line changed is removed and added again.
func diffServers(cur, next map[string][]server) []Op {
	var adds, dels []Op
	var backends []string
	seen := map[string]bool{}
	for b := range cur {
		backends = append(backends, b)
		seen[b] = true
	}
	for b := range next {
		if !seen[b] {
			backends = append(backends, b)
		}
	}
	sort.Strings(backends)
	for _, b := range backends {
		o := map[string]string{}
		for _, s := range cur[b] {
			o[s.name] = s.params
		}
		n := map[string]string{}
		for _, s := range next[b] {
			n[s.name] = s.params
		}
		for _, s := range cur[b] {
			if np, ok := n[s.name]; !ok || np != s.params {
				dels = append(dels, Op{Kind: OpServerDel, Backend: b, Server: s.name})
			}
		}
		for _, s := range next[b] {
			if op, ok := o[s.name]; !ok || op != s.params {
				adds = append(adds, Op{Kind: OpServerAdd, Backend: b, Server: s.name, Params: s.params})
			}
		}
	}
	// Removals first: a changed server is deleted before it is added
	// again under the same name.
	return append(dels, adds...)
}

// crtListLines are the lines of a crt-list without comments and blanks.
func crtListLines(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// lineCert is the certificate path of a crt-list line.
func lineCert(line string) string {
	if i := strings.IndexAny(line, " \t"); i > 0 {
		return line[:i]
	}
	return line
}

// diffCrtList returns the lines to add and the certificates whose line to
// delete, or why the change needs a reload: the first line (the default
// certificate) changed, or a certificate is listed twice (HAProxy deletes
// lines by certificate).
func diffCrtList(cur, next []byte, root string) (add, del []string, why string) {
	o, n := crtListLines(cur), crtListLines(next)
	if len(o) == 0 || len(n) == 0 || o[0] != n[0] {
		return nil, nil, "the default certificate (first line) changed"
	}
	countO, countN := map[string]int{}, map[string]int{}
	inO, inN := map[string]bool{}, map[string]bool{}
	for _, l := range o {
		inO[l] = true
		countO[lineCert(l)]++
	}
	for _, l := range n {
		inN[l] = true
		countN[lineCert(l)]++
	}
	for _, l := range o {
		if !inN[l] {
			del = append(del, lineCert(l))
		}
	}
	for _, l := range n {
		if !inO[l] {
			add = append(add, l)
		}
	}
	for _, l := range append(append([]string{}, add...), del...) {
		if c := lineCert(l); countO[c] > 1 || countN[c] > 1 {
			return nil, nil, fmt.Sprintf("certificate %s is on several lines", strings.TrimPrefix(c, root))
		}
	}
	// A line whose options or names change keeps its certificate: HAProxy
	// deletes lines by certificate, so it would delete both.
	for _, l := range add {
		for _, d := range del {
			if lineCert(l) == d {
				return nil, nil, fmt.Sprintf("the line of certificate %s changes", strings.TrimPrefix(d, root))
			}
		}
	}
	if len(add) == 0 && len(del) == 0 {
		return nil, nil, "lines moved"
	}
	return add, del, ""
}

// mapPayload is the map file without comments: the entries, in order.
func mapPayload(data []byte) []byte {
	var out bytes.Buffer
	for _, l := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		out.WriteString(l)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// firstDiff names the first line that differs, for the log.
func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			if y == "" {
				y = x
			}
			y = strings.TrimSpace(y)
			if len(y) > 80 {
				y = y[:80] + "..."
			}
			return fmt.Sprintf("line %d: %q", i+1, y)
		}
	}
	return "no line"
}
