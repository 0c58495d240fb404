package haproxy

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/haproxytech/client-native/v6/models"

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
	// OpCRLFileSet replaces the content of a loaded CRL file (set,
	// commit).
	OpCRLFileSet OpKind = "crlfile-set"
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
	// OpMapAdd adds entries to a map (Content: "key value" lines).
	OpMapAdd OpKind = "map-add"
	// OpMapSet changes the value of a key of a map.
	OpMapSet OpKind = "map-set"
	// OpMapDel deletes a key from a map.
	OpMapDel OpKind = "map-del"
)

// maxMapEntryOps bounds the keys deleted or set one by one in a map (one
// Runtime API command each); beyond it, or when the map is ordered, the
// map is replaced whole (prepare, add, commit: a few commands for
// thousands of entries).
const maxMapEntryOps = 64

// Op is one Runtime API change. Paths are absolute (as HAProxy knows the
// files); Content holds a certificate, CA file or map payload.
type Op struct {
	Kind OpKind
	// File is the certificate, CA file, crt-list or map the op is about.
	File string
	// Line is the crt-list line (for OpCrtListAdd) or the certificate
	// path (for OpCrtListDel), as the crt-list writes them.
	Line string
	// Entry is the crt-list line of an OpCrtListAdd, as the Runtime API
	// takes it.
	Entry models.SslCrtListEntry
	// Backend and Server name a server; Params are its server-line
	// arguments after the address, the address included.
	Backend, Server, Params string
	// Content is the new file content (OpMapAdd: the entries added, one
	// "key value" line each).
	Content []byte
	// Key and Value are a map entry (OpMapSet, OpMapDel).
	Key, Value string
	// Level is the map's level (bundle.Map), for ordering.
	Level int
}

// String describes the op for logs (never the content).
func (o Op) String() string {
	switch o.Kind {
	case OpServerAdd, OpServerDel:
		return fmt.Sprintf("%s %s/%s", o.Kind, o.Backend, o.Server)
	case OpCrtListAdd, OpCrtListDel:
		return fmt.Sprintf("%s %s %s", o.Kind, o.File, o.Line)
	case OpMapSet, OpMapDel:
		return fmt.Sprintf("%s %s %s", o.Kind, o.File, o.Key)
	case OpMapAdd:
		return fmt.Sprintf("%s %s (%d)", o.Kind, o.File, bytes.Count(o.Content, []byte("\n")))
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

// fileKind is what a file of a Bundle is, as its State says.
type fileKind int

const (
	// kindOther is haproxy.cfg, or a file the State does not describe:
	// any change to it reloads.
	kindOther fileKind = iota
	kindCert
	kindCAFile
	kindCRLFile
	kindCrtList
	kindMap
	kindTicketKeys
)

// kinds indexes a State's files by path.
func kinds(st *bundle.State) map[string]fileKind {
	k := map[string]fileKind{}
	for _, p := range st.Certificates {
		k[p] = kindCert
	}
	for _, p := range st.CAFiles {
		k[p] = kindCAFile
	}
	for _, p := range st.CRLFiles {
		k[p] = kindCRLFile
	}
	for _, l := range st.CrtLists {
		k[l.Path] = kindCrtList
	}
	for _, m := range st.Maps {
		k[m.Path] = kindMap
	}
	for _, p := range st.TicketKeys {
		k[p] = kindTicketKeys
	}
	return k
}

// MakePlan compares the Bundle HAProxy runs (cur, nil when nothing runs)
// with the next one, both rendered for the configuration root root, and
// chooses the cheapest correct path: Runtime API changes when only
// certificates, CA files, crt-list lines, servers or map entries differ;
// a reload otherwise. What may change at run time is read from the
// Bundles' States; the rest of haproxy.cfg (every line but the server
// lines the State describes) is compared as text, to be sure nothing else
// changed. A Bundle without a State (read from disk) is reloaded unless
// both hold the same files. It is pure.
func MakePlan(cur, next *bundle.Bundle, root string) *Plan {
	p := &Plan{}
	if cur == nil {
		p.reload("nothing runs yet")
		return p
	}
	if cur.State == nil || next.State == nil {
		if cur.Equal(next) {
			return p
		}
		p.reload("what the Runtime API may change in the configuration is not known (it was read from disk)")
		return p
	}
	abs := func(rel string) string { return bundle.Abs(root, rel) }

	// haproxy.cfg: anything but server lines needs a reload.
	oldCfg, newCfg := cur.Get(bundle.ConfigFile), next.Get(bundle.ConfigFile)
	if oldCfg == nil || newCfg == nil {
		p.reload("haproxy.cfg is new")
		return p
	}
	oldRest, err := configRest(oldCfg.Content, cur.State)
	if err != nil {
		p.reload("the running configuration: %v", err)
		return p
	}
	newRest, err := configRest(newCfg.Content, next.State)
	if err != nil {
		p.reload("the next configuration: %v", err)
		return p
	}
	if !bytes.Equal(oldRest, newRest) {
		p.reload("haproxy.cfg changed beyond server lines (%s)", firstDiff(oldRest, newRest))
	}

	// Files that appear, vanish or change.
	oldKinds, newKinds := kinds(cur.State), kinds(next.State)
	oldLists, newLists := crtLists(cur.State), crtLists(next.State)
	oldMaps, newMaps := map[string]bundle.Map{}, map[string]bundle.Map{}
	for _, m := range cur.State.Maps {
		oldMaps[m.Path] = m
	}
	for _, m := range next.State.Maps {
		newMaps[m.Path] = m
	}
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
	for _, l := range next.State.CrtLists {
		if next.Get(l.Path) == nil {
			continue
		}
		for _, line := range l.Lines {
			crtListUses[line.Cert]++
		}
	}

	var keyOps []Op // TLS session-ticket key rotations
	var newCerts, setCerts, delCerts, caSets, listAdds, listDels, maps []Op
	for _, q := range sorted {
		o, n := cur.Get(q), next.Get(q)
		if o != nil && n != nil && bytes.Equal(o.Content, n.Content) && o.Mode == n.Mode {
			continue
		}
		kind := newKinds[q]
		if n == nil {
			kind = oldKinds[q]
		}
		if o != nil && n != nil && oldKinds[q] != newKinds[q] {
			p.reload("%s is not the same kind of file any more", q)
			continue
		}
		switch {
		case q == bundle.ConfigFile:
			// Handled above.
		case kind == kindCert:
			switch {
			case o != nil && n != nil:
				setCerts = append(setCerts, Op{Kind: OpCertSet, File: abs(q), Content: n.Content})
			case n != nil:
				// A new certificate: usable at run time only through a
				// crt-list line (a server "crt" changes haproxy.cfg).
				if crtListUses[q] == 0 {
					p.reload("certificate %s is new and no crt-list line added at run time uses it", q)
					continue
				}
				newCerts = append(newCerts, Op{Kind: OpCertNew, File: abs(q), Content: n.Content})
			default:
				if crtListUses[q] > 0 {
					p.reload("certificate %s is removed but still listed", q)
					continue
				}
				delCerts = append(delCerts, Op{Kind: OpCertDel, File: abs(q)})
			}
		case (kind == kindCAFile || kind == kindCRLFile) && slices.Contains(next.State.DefaultContextFiles, q) && o != nil && n != nil:
			p.reload("%s is checked by a bind's default TLS context, which HAProxy 2.6's Runtime API does not update", q)
		case kind == kindCAFile:
			if o == nil || n == nil {
				p.reload("CA file %s appears or vanishes", q)
				continue
			}
			caSets = append(caSets, Op{Kind: OpCAFileSet, File: abs(q), Content: n.Content})
		case kind == kindCRLFile:
			if o == nil || n == nil {
				p.reload("CRL file %s appears or vanishes", q)
				continue
			}
			caSets = append(caSets, Op{Kind: OpCRLFileSet, File: abs(q), Content: n.Content})
		case kind == kindCrtList:
			if o == nil || n == nil {
				p.reload("crt-list %s appears or vanishes", q)
				continue
			}
			add, del, why := diffCrtList(oldLists[q], newLists[q], root)
			if why != "" {
				p.reload("crt-list %s: %s", q, why)
				continue
			}
			for _, l := range add {
				listAdds = append(listAdds, Op{Kind: OpCrtListAdd, File: abs(q), Line: l.Text(root), Entry: crtListEntry(l, root)})
			}
			for _, c := range del {
				listDels = append(listDels, Op{Kind: OpCrtListDel, File: abs(q), Line: abs(c)})
			}
		case kind == kindMap:
			if o == nil || n == nil {
				p.reload("map %s appears or vanishes", q)
				continue
			}
			maps = append(maps, diffMap(oldMaps[q], newMaps[q], abs(q))...)
		case kind == kindTicketKeys:
			if o == nil || n == nil {
				p.reload("TLS ticket keys %s appear or vanish", q)
				continue
			}
			ops, why := diffTicketKeys(o.Content, n.Content, abs(q))
			if why != "" {
				p.reload("TLS ticket keys %s: %s", q, why)
				continue
			}
			keyOps = append(keyOps, ops...)
		default:
			p.reload("%s changed", q)
		}
	}
	if p.Reload {
		p.Ops = nil
		return p
	}
	p.Ops = append(p.Ops, keyOps...)
	p.Ops = append(p.Ops, newCerts...)
	p.Ops = append(p.Ops, setCerts...)
	p.Ops = append(p.Ops, caSets...)
	p.Ops = append(p.Ops, listAdds...)
	p.Ops = append(p.Ops, listDels...)
	p.Ops = append(p.Ops, delCerts...)
	// Servers are added before the maps send traffic to them, and removed
	// after the maps stopped sending it there.
	var adds, dels []Op
	for _, o := range diffServers(cur.State.Backends, next.State.Backends) {
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
	maps = orderMapOps(maps)
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

// diffMap changes a running map from o to n: entry by entry (add, set,
// del) when lookups are exact and few keys are deleted or changed; else
// by replacing it whole.
func diffMap(o, n bundle.Map, file string) []Op {
	replace := func() []Op { return []Op{{Kind: OpMapReplace, File: file, Content: n.Payload(), Level: n.Level}} }
	if n.Ordered || o.Ordered {
		return replace()
	}
	cur := make(map[string]string, len(o.Entries))
	for _, e := range o.Entries {
		if _, dup := cur[e.Key]; dup {
			return replace()
		}
		cur[e.Key] = e.Value
	}
	var added bytes.Buffer
	var ops []Op
	seen := make(map[string]bool, len(n.Entries))
	for _, e := range n.Entries {
		if seen[e.Key] || !cliWord(e.Key) {
			return replace()
		}
		seen[e.Key] = true
		v, ok := cur[e.Key]
		switch {
		case !ok:
			added.WriteString(e.Key + " " + e.Value + "\n")
		case v != e.Value:
			if !cliWord(e.Value) {
				return replace()
			}
			ops = append(ops, Op{Kind: OpMapSet, File: file, Key: e.Key, Value: e.Value, Level: n.Level})
		}
	}
	for _, e := range o.Entries {
		if !seen[e.Key] {
			if !cliWord(e.Key) {
				return replace()
			}
			ops = append(ops, Op{Kind: OpMapDel, File: file, Key: e.Key, Level: n.Level})
		}
	}
	if len(ops) > maxMapEntryOps {
		return replace()
	}
	if added.Len() > 0 {
		ops = append([]Op{{Kind: OpMapAdd, File: file, Content: added.Bytes(), Level: n.Level}}, ops...)
	}
	return ops
}

// cliWord reports whether s can be sent as one word of a Runtime API
// command: no space or control character, and not "#<ref>" (which names
// an entry by reference). Semicolons and backslashes are escaped.
func cliWord(s string) bool {
	if s == "" || s[0] == '#' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// orderMapOps orders map changes so that a request never finds a key
// whose next lookup is missing: additions, changes and replacements from
// the lowest level up (a backend's rule before the path that leads to
// it), then deletions from the highest level down.
func orderMapOps(ops []Op) []Op {
	var up, down []Op
	for _, o := range ops {
		if o.Kind == OpMapDel {
			down = append(down, o)
		} else {
			up = append(up, o)
		}
	}
	sort.SliceStable(up, func(i, j int) bool { return up[i].Level < up[j].Level })
	sort.SliceStable(down, func(i, j int) bool { return down[i].Level > down[j].Level })
	return append(up, down...)
}

// crtListEntry is a crt-list line as the Runtime API takes it.
func crtListEntry(l bundle.CrtListLine, root string) models.SslCrtListEntry {
	return models.SslCrtListEntry{File: bundle.Abs(root, l.Cert), SSLBindConfig: strings.Join(l.Options, " "), SNIFilter: slices.Clone(l.SNIFilters)}
}

// crtLists indexes a State's crt-lists by path.
// commentsAlike reports whether haproxy.cfg and the crt-lists, where
// only comments may differ between two Bundles of an empty plan, are the
// same bytes.
func commentsAlike(a, b *bundle.Bundle) bool {
	same := func(p string) bool {
		x, y := a.Get(p), b.Get(p)
		return x != nil && y != nil && bytes.Equal(x.Content, y.Content)
	}
	if !same(bundle.ConfigFile) {
		return false
	}
	if b.State != nil {
		for _, l := range b.State.CrtLists {
			if !same(l.Path) {
				return false
			}
		}
	}
	return true
}

func crtLists(st *bundle.State) map[string][]bundle.CrtListLine {
	m := map[string][]bundle.CrtListLine{}
	for _, l := range st.CrtLists {
		m[l.Path] = l.Lines
	}
	return m
}

// configRest is haproxy.cfg without the server lines st describes, its
// comments and blank lines: what must not change for a runtime change to
// do (HAProxy ignores comments: a listener joining a port changes the
// frontend's comments, not what it does). Each described line must be in
// the file (once per description), whatever its indentation.
func configRest(cfg []byte, st *bundle.State) ([]byte, error) {
	want := map[string]int{}
	n := 0
	for _, b := range st.Backends {
		for _, s := range b.Servers {
			want[s.Line()]++
			n++
		}
	}
	var rest bytes.Buffer
	rest.Grow(len(cfg))
	for line := range strings.Lines(string(cfg)) {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		if want[t] > 0 {
			want[t]--
			n--
			continue
		}
		rest.WriteString(line)
	}
	if n > 0 {
		for _, b := range st.Backends {
			for _, s := range b.Servers {
				if want[s.Line()] > 0 {
					return nil, fmt.Errorf("haproxy.cfg does not hold the line %q of backend %s its description says it does", s.Line(), b.Name)
				}
			}
		}
	}
	return rest.Bytes(), nil
}

// diffServers adds servers new in a backend and removes those gone; a
// server whose line changed is removed and added again.
func diffServers(cur, next []bundle.Backend) []Op {
	var adds, dels []Op
	curBy, nextBy := map[string][]bundle.Server{}, map[string][]bundle.Server{}
	var backends []string
	for _, b := range cur {
		if _, ok := curBy[b.Name]; !ok {
			backends = append(backends, b.Name)
		}
		curBy[b.Name] = append(curBy[b.Name], b.Servers...)
	}
	for _, b := range next {
		if _, ok := curBy[b.Name]; !ok {
			if _, ok := nextBy[b.Name]; !ok {
				backends = append(backends, b.Name)
			}
		}
		nextBy[b.Name] = append(nextBy[b.Name], b.Servers...)
	}
	sort.Strings(backends)
	for _, b := range backends {
		o := map[string]string{}
		for _, s := range curBy[b] {
			o[s.Name] = s.Params
		}
		n := map[string]string{}
		for _, s := range nextBy[b] {
			n[s.Name] = s.Params
		}
		for _, s := range curBy[b] {
			if np, ok := n[s.Name]; !ok || np != s.Params {
				dels = append(dels, Op{Kind: OpServerDel, Backend: b, Server: s.Name})
			}
		}
		for _, s := range nextBy[b] {
			if op, ok := o[s.Name]; !ok || op != s.Params {
				adds = append(adds, Op{Kind: OpServerAdd, Backend: b, Server: s.Name, Params: s.Params})
			}
		}
	}
	// Removals first: a changed server is deleted before it is added
	// again under the same name.
	return append(dels, adds...)
}

// diffCrtList returns the lines to add and the certificates (Bundle
// paths) whose line to delete, or why the change needs a reload: the first
// line (the default certificate) changed, a certificate is listed twice
// (HAProxy deletes lines by certificate), or no line was added or removed
// (lines moved, or comments changed).
func diffCrtList(o, n []bundle.CrtListLine, root string) (add []bundle.CrtListLine, del []string, why string) {
	key := func(l bundle.CrtListLine) string { return l.Text(root) }
	if len(o) == 0 || len(n) == 0 || key(o[0]) != key(n[0]) {
		return nil, nil, "the default certificate (first line) changed"
	}
	countO, countN := map[string]int{}, map[string]int{}
	inO, inN := map[string]bool{}, map[string]bool{}
	for _, l := range o {
		inO[key(l)] = true
		countO[l.Cert]++
	}
	for _, l := range n {
		inN[key(l)] = true
		countN[l.Cert]++
	}
	for _, l := range o {
		if !inN[key(l)] {
			del = append(del, l.Cert)
		}
	}
	for _, l := range n {
		if !inO[key(l)] {
			add = append(add, l)
		}
	}
	var touched []string
	for _, l := range add {
		touched = append(touched, l.Cert)
	}
	touched = append(touched, del...)
	for _, c := range touched {
		if countO[c] > 1 || countN[c] > 1 {
			return nil, nil, fmt.Sprintf("certificate %s is on several lines", c)
		}
	}
	// A line whose options or names change keeps its certificate: HAProxy
	// deletes lines by certificate, so it would delete both.
	for _, l := range add {
		for _, d := range del {
			if l.Cert == d {
				return nil, nil, fmt.Sprintf("the line of certificate %s changes", d)
			}
		}
	}
	if len(add) == 0 && len(del) == 0 {
		return nil, nil, "lines moved, or only comments changed"
	}
	return add, del, ""
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
