package haproxy

import (
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strings"
	"testing"

	"hagate.io/hagate/haproxy/bundle"
)

const root = "/etc/hagate"

const baseCfg = `global
    stats socket /etc/hagate/haproxy.sock mode 600 level admin expose-fd listeners

frontend https-443 from http
    bind :::443 v4v6 ssl crt-list /etc/hagate/crt-lists/https-443.crt-list
    use_backend default_web_80 if { var(txn.rule) -m str default/web/0 }

backend default_web_80 from http
    balance roundrobin
    server 10.0.0.1:8080 10.0.0.1:8080
    server 10.0.0.2:8080 10.0.0.2:8080
`

const baseList = `# Certificates of frontend https-443
# listener default/gw/any (no hostname): the default certificate
/etc/hagate/certs/default/any.pem !*
# listener default/gw/foo
/etc/hagate/certs/default/foo.pem foo.example.com
`

// files builds a Bundle from path -> content; "certs/" files are 0600.
// Its State is read from the files, the way templates describes what it
// renders: server lines by backend, crt-list lines, map entries, which
// files are certificates and CA files, by their folders.
func files(m map[string]string) *bundle.Bundle {
	b := bundle.New()
	for p, c := range m {
		mode := 0o644
		if strings.HasPrefix(p, "certs/") {
			mode = 0o600
		}
		b.Add(&bundle.File{Path: p, Content: []byte(c), Mode: fsMode(mode)})
	}
	b.State = describeFiles(b)
	return b
}

// describeFiles reads a test Bundle's State from its files (test Bundles are
// written by hand; templates describes what it renders from the IR).
func describeFiles(b *bundle.Bundle) *bundle.State {
	st := &bundle.State{Dirs: []string{"certs/", "cas/", "crt-lists/", "maps/"}}
	for _, f := range b.Files() {
		switch {
		case f.Path == bundle.ConfigFile:
			backend := -1
			for _, line := range strings.Split(string(f.Content), "\n") {
				fl := strings.Fields(line)
				switch {
				case len(fl) >= 2 && fl[0] == "backend":
					st.Backends = append(st.Backends, bundle.Backend{Name: fl[1]})
					backend = len(st.Backends) - 1
				case len(fl) >= 2 && (fl[0] == "frontend" || fl[0] == "global" || fl[0] == "defaults"):
					backend = -1
				case len(fl) >= 3 && fl[0] == "server" && backend >= 0:
					st.Backends[backend].Servers = append(st.Backends[backend].Servers, bundle.Server{Name: fl[1], Params: strings.Join(fl[2:], " ")})
				case len(fl) >= 2 && fl[0] == "bind" && !strings.Contains(fl[1], "@"):
					st.Binds = append(st.Binds, strings.Split(fl[1], ",")...)
				}
			}
		case strings.HasPrefix(f.Path, "certs/"):
			st.Certificates = append(st.Certificates, f.Path)
		case strings.HasPrefix(f.Path, "cas/") && strings.HasSuffix(f.Path, ".crl.pem"):
			st.CRLFiles = append(st.CRLFiles, f.Path)
			// A catch-all port's CRL ("any" in its name, for the tests).
			if strings.Contains(f.Path, "any") {
				st.DefaultContextFiles = append(st.DefaultContextFiles, f.Path)
			}
		case strings.HasPrefix(f.Path, "cas/"):
			st.CAFiles = append(st.CAFiles, f.Path)
		case strings.HasPrefix(f.Path, "crt-lists/"):
			l := bundle.CrtList{Path: f.Path}
			for _, line := range strings.Split(string(f.Content), "\n") {
				fl := strings.Fields(line)
				if len(fl) == 0 || strings.HasPrefix(fl[0], "#") {
					continue
				}
				cl := bundle.CrtListLine{Cert: strings.TrimPrefix(fl[0], root+"/")}
				rest := fl[1:]
				if len(rest) > 0 && strings.HasPrefix(rest[0], "[") {
					opts := strings.Join(rest, " ")
					end := strings.Index(opts, "]")
					cl.Options = []string{opts[1:end]}
					rest = strings.Fields(opts[end+1:])
				}
				cl.SNIFilters = rest
				l.Lines = append(l.Lines, cl)
			}
			st.CrtLists = append(st.CrtLists, l)
		case strings.HasPrefix(f.Path, "maps/"):
			mp := bundle.Map{Path: f.Path}
			for _, line := range strings.Split(string(f.Content), "\n") {
				if k, v, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(k, "#") {
					mp.Entries = append(mp.Entries, bundle.MapEntry{Key: k, Value: v})
				}
			}
			st.Maps = append(st.Maps, mp)
		}
	}
	return st
}

func base() map[string]string {
	return map[string]string{
		"haproxy.cfg":                  baseCfg,
		"crt-lists/https-443.crt-list": baseList,
		"certs/default/any.pem":        "ANY",
		"certs/default/foo.pem":        "FOO",
		"cas/default/gw-443.pem":       "CA1",
		"maps/https-443.hosts.map":     "# exact request hosts\nfoo.example.com default/gw/foo@foo.example.com\n",
	}
}

func with(m map[string]string, changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func ops(p *Plan) string {
	var s []string
	for _, o := range p.Ops {
		s = append(s, o.String())
	}
	return strings.Join(s, "; ")
}

func TestMakePlan(t *testing.T) {
	cur := files(base())
	for _, tc := range []struct {
		name    string
		next    map[string]string
		reload  string // substring of the reasons; "" for a runtime plan
		wantOps string
	}{
		{"nothing changes", base(), "", ""},
		{"certificate rotated", with(base(), map[string]string{"certs/default/foo.pem": "FOO2"}), "",
			"cert-set /etc/hagate/certs/default/foo.pem"},
		{"certificate and crt-list line added", with(base(), map[string]string{
			"certs/default/bar.pem":        "BAR",
			"crt-lists/https-443.crt-list": baseList + "/etc/hagate/certs/default/bar.pem [ssl-min-ver TLSv1.3] bar.example.com\n",
		}), "", "cert-new /etc/hagate/certs/default/bar.pem; crtlist-add /etc/hagate/crt-lists/https-443.crt-list /etc/hagate/certs/default/bar.pem [ssl-min-ver TLSv1.3] bar.example.com"},
		{"certificate and crt-list line removed", with(base(), map[string]string{
			"certs/default/foo.pem":        "",
			"crt-lists/https-443.crt-list": strings.Split(baseList, "# listener default/gw/foo")[0],
		}), "", "crtlist-del /etc/hagate/crt-lists/https-443.crt-list /etc/hagate/certs/default/foo.pem; cert-del /etc/hagate/certs/default/foo.pem"},
		{"default certificate changed", with(base(), map[string]string{
			"crt-lists/https-443.crt-list": strings.Replace(baseList, "any.pem !*", "foo.pem !*", 1),
		}), "default certificate", ""},
		{"a certificate on two lines", with(base(), map[string]string{
			"crt-lists/https-443.crt-list": baseList + "/etc/hagate/certs/default/foo.pem bar.example.com\n",
		}), "several lines", ""},
		{"new certificate no line uses", with(base(), map[string]string{"certs/default/new.pem": "NEW"}), "no crt-list line", ""},
		{"server added and removed", with(base(), map[string]string{
			"haproxy.cfg": strings.Replace(baseCfg, "server 10.0.0.2:8080 10.0.0.2:8080", "server 10.0.0.3:8080 10.0.0.3:8080", 1),
		}), "", "server-add default_web_80/10.0.0.3:8080; server-del default_web_80/10.0.0.2:8080"},
		{"server line changed", with(base(), map[string]string{
			"haproxy.cfg": strings.Replace(baseCfg, "server 10.0.0.1:8080 10.0.0.1:8080", "server 10.0.0.1:8080 10.0.0.1:8080 proto h2", 1),
		}), "", "server-del default_web_80/10.0.0.1:8080; server-add default_web_80/10.0.0.1:8080"},
		{"a crt-list line's options changed", with(base(), map[string]string{
			"crt-lists/https-443.crt-list": strings.Replace(baseList, "foo.pem foo.example.com", "foo.pem [ssl-min-ver TLSv1.3] foo.example.com", 1),
		}), "line of certificate", ""},
		{"only comments changed (a listener joins a frontend's list)", with(base(), map[string]string{
			"haproxy.cfg": "# a new comment\n" + strings.Replace(baseCfg, "\n", "\n    # listener default/ls/x\n\n", 3),
		}), "", ""},
		{"a rule changed", with(base(), map[string]string{
			"haproxy.cfg": strings.Replace(baseCfg, "default/web/0", "default/web/1", 1),
		}), "beyond server lines", ""},
		{"CA bundle content changed", with(base(), map[string]string{"cas/default/gw-443.pem": "CA2"}), "",
			"cafile-set /etc/hagate/cas/default/gw-443.pem"},
		{"CRL content changed", with(base(), map[string]string{"cas/default/gw-443.crl.pem": "CRL1"}), "appears or vanishes", ""},
		{"CA bundle added", with(base(), map[string]string{"cas/default/other.pem": "CA3"}), "appears or vanishes", ""},
		{"map entries changed", with(base(), map[string]string{"maps/https-443.hosts.map": "bar.example.com x\n"}), "",
			"map-add /etc/hagate/maps/https-443.hosts.map (1); map-del /etc/hagate/maps/https-443.hosts.map foo.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := MakePlan(cur, files(tc.next), root)
			if tc.reload != "" {
				if !p.Reload || !strings.Contains(strings.Join(p.Reasons, "; "), tc.reload) {
					t.Fatalf("want a reload because %q, got reload=%v reasons %q ops %q", tc.reload, p.Reload, p.Reasons, ops(p))
				}
				if len(p.Ops) != 0 {
					t.Errorf("a reload plan has runtime ops: %s", ops(p))
				}
				return
			}
			if p.Reload {
				t.Fatalf("want a runtime plan, got a reload: %q", p.Reasons)
			}
			if got := ops(p); got != tc.wantOps {
				t.Errorf("ops:\n got %s\nwant %s", got, tc.wantOps)
			}
		})
	}
	if p := MakePlan(nil, cur, root); !p.Reload {
		t.Error("a first apply must reload (start)")
	}
	if p := MakePlan(cur, cur, root); !p.Empty() {
		t.Errorf("same Bundle: plan %v", p)
	}
}

func TestMapPayloadKeepsOrder(t *testing.T) {
	m := bundle.Map{Entries: []bundle.MapEntry{{Key: ".b.example.com", Value: "x"}, {Key: ".example.com", Value: "y"}}}
	if got := string(m.Payload()); got != ".b.example.com x\n.example.com y\n" {
		t.Errorf("payload %q", got)
	}
}

// The State decides what is a runtime change; the rest of haproxy.cfg
// only guards that nothing else changed.
func TestMakePlanReadsTheState(t *testing.T) {
	cur := files(base())
	t.Run("a Bundle without a State reloads unless the files are the same", func(t *testing.T) {
		disk := files(base())
		disk.State = nil
		for _, pair := range [][2]*bundle.Bundle{{disk, cur}, {cur, disk}} {
			if p := MakePlan(pair[0], pair[1], root); !p.Empty() {
				t.Errorf("same files: plan %+v", p)
			}
		}
		next := files(with(base(), map[string]string{"certs/default/foo.pem": "FOO2"}))
		if p := MakePlan(disk, next, root); !p.Reload || !strings.Contains(p.Reasons[0], "not known") {
			t.Errorf("plan %+v", p)
		}
	})
	t.Run("a server line the State describes but haproxy.cfg lacks reloads", func(t *testing.T) {
		next := files(base())
		next.State.Backends[0].Servers[0].Params += " check"
		if p := MakePlan(cur, next, root); !p.Reload || !strings.Contains(strings.Join(p.Reasons, "; "), "does not hold the line") {
			t.Errorf("plan %+v", p)
		}
	})
	t.Run("a server line the State does not describe is part of the rest", func(t *testing.T) {
		next := files(with(base(), map[string]string{
			"haproxy.cfg": strings.Replace(baseCfg, "server 10.0.0.2:8080 10.0.0.2:8080", "server 10.0.0.3:8080 10.0.0.3:8080", 1),
		}))
		next.State.Backends[0].Servers = next.State.Backends[0].Servers[:1]
		if p := MakePlan(cur, next, root); !p.Reload || !strings.Contains(strings.Join(p.Reasons, "; "), "beyond server lines") {
			t.Errorf("plan %+v", p)
		}
	})
	t.Run("the indentation of server lines does not matter", func(t *testing.T) {
		next := files(with(base(), map[string]string{
			"haproxy.cfg": strings.Replace(baseCfg, "    server 10.0.0.2:8080 10.0.0.2:8080", "\tserver 10.0.0.4:8080 10.0.0.4:8080", 1),
		}))
		p := MakePlan(cur, next, root)
		if p.Reload || ops(p) != "server-add default_web_80/10.0.0.4:8080; server-del default_web_80/10.0.0.2:8080" {
			t.Errorf("plan %+v: %s", p, ops(p))
		}
	})
	t.Run("a file that changes kind reloads", func(t *testing.T) {
		next := files(base())
		next.State.Certificates = slices.DeleteFunc(slices.Clone(next.State.Certificates), func(p string) bool { return p == "certs/default/foo.pem" })
		next.State.CAFiles = append(next.State.CAFiles, "certs/default/foo.pem")
		next.Add(&bundle.File{Path: "certs/default/foo.pem", Content: []byte("CA"), Mode: 0o644})
		if p := MakePlan(cur, next, root); !p.Reload || !strings.Contains(strings.Join(p.Reasons, "; "), "kind") {
			t.Errorf("plan %+v", p)
		}
	})
	t.Run("a file the State does not describe reloads when it changes", func(t *testing.T) {
		next := files(with(base(), map[string]string{"errors/503.http": "HTTP/1.0 503\r\n\r\n"}))
		if p := MakePlan(cur, next, root); !p.Reload || !strings.Contains(strings.Join(p.Reasons, "; "), "errors/503.http changed") {
			t.Errorf("plan %+v", p)
		}
	})
	t.Run("map entries come from the State, comments left out", func(t *testing.T) {
		next := files(with(base(), map[string]string{"maps/https-443.hosts.map": "# exact request hosts\nbar.example.com x\nfoo.example.com y\n"}))
		p := MakePlan(cur, next, root)
		if p.Reload || len(p.Ops) != 2 || string(p.Ops[0].Content) != "bar.example.com x\n" || p.Ops[1].Kind != OpMapSet || p.Ops[1].Value != "y" {
			t.Errorf("plan %+v", p)
		}
	})
	t.Run("a crt-list line is added with its entry", func(t *testing.T) {
		next := files(with(base(), map[string]string{
			"certs/default/bar.pem":        "BAR",
			"crt-lists/https-443.crt-list": baseList + "/etc/hagate/certs/default/bar.pem [ssl-min-ver TLSv1.3] bar.example.com *.bar.example.com\n",
		}))
		p := MakePlan(cur, next, root)
		if p.Reload || len(p.Ops) != 2 {
			t.Fatalf("plan %+v", p)
		}
		e := p.Ops[1].Entry
		if e.File != "/etc/hagate/certs/default/bar.pem" || e.SSLBindConfig != "ssl-min-ver TLSv1.3" || strings.Join(e.SNIFilter, ",") != "bar.example.com,*.bar.example.com" {
			t.Errorf("entry %+v", e)
		}
	})
	t.Run("only comments of a crt-list changed", func(t *testing.T) {
		next := files(with(base(), map[string]string{"crt-lists/https-443.crt-list": strings.Replace(baseList, "# listener default/gw/foo", "# listener default/gw/foo2", 1)}))
		if p := MakePlan(cur, next, root); !p.Reload || !strings.Contains(strings.Join(p.Reasons, "; "), "comments") {
			t.Errorf("plan %+v", p)
		}
	})
	t.Run("servers of two backends with the same line", func(t *testing.T) {
		two := baseCfg + "\nbackend default_web_81 from tcp\n    server 10.0.0.1:8080 10.0.0.1:8080\n"
		cur := files(with(base(), map[string]string{"haproxy.cfg": two}))
		next := files(with(base(), map[string]string{"haproxy.cfg": baseCfg + "\nbackend default_web_81 from tcp\n"}))
		p := MakePlan(cur, next, root)
		if p.Reload || ops(p) != "server-del default_web_81/10.0.0.1:8080" {
			t.Errorf("plan %+v: %s", p, ops(p))
		}
	})
}

func fsMode(m int) fs.FileMode { return fs.FileMode(m) }

func TestCheckNewPortsRefusesATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	cur := files(map[string]string{"haproxy.cfg": "frontend a\n    bind 127.0.0.1:1\n"})
	next := files(map[string]string{"haproxy.cfg": "frontend a\n    bind 127.0.0.1:1\nfrontend b\n    bind " + taken + " ssl crt-list x\n"})
	if err := checkNewPorts(cur, next); err == nil || !strings.Contains(err.Error(), taken) {
		t.Errorf("a port in use was not refused: %v", err)
	}
	// Ports the running configuration binds already are not checked.
	if err := checkNewPorts(next, next); err != nil {
		t.Errorf("running ports checked again: %v", err)
	}
}

// A map changes entry by entry when its lookups are exact and few keys go
// or change; otherwise it is replaced whole. Additions and changes come
// from the lowest level of the lookup chain up, deletions from the top
// down: a request never finds a key whose next lookup is missing.
func TestMapChanges(t *testing.T) {
	m := func(path string, level int, ordered bool, kv ...string) bundle.Map {
		mp := bundle.Map{Path: path, Level: level, Ordered: ordered}
		for i := 0; i+1 < len(kv); i += 2 {
			mp.Entries = append(mp.Entries, bundle.MapEntry{Key: kv[i], Value: kv[i+1]})
		}
		return mp
	}
	kinds := func(ops []Op) string {
		var s []string
		for _, o := range ops {
			s = append(s, string(o.Kind)+" "+o.Key)
		}
		return strings.Join(s, "; ")
	}
	for _, tc := range []struct {
		name string
		o, n bundle.Map
		want string
	}{
		{"an entry added", m("h", 2, false, "a", "1"), m("h", 2, false, "a", "1", "b", "2"), "map-add "},
		{"an entry changed and one deleted", m("h", 2, false, "a", "1", "b", "2"), m("h", 2, false, "a", "3"), "map-set a; map-del b"},
		{"an ordered map is replaced", m("s", 2, true, ".a", "1"), m("s", 2, true, ".b.a", "2", ".a", "1"), "map-replace "},
		{"a key the command line cannot carry", m("h", 2, false, "a", "1"), m("h", 2, false, "a", "1", "#ref", "2"), "map-replace "},
		{"a duplicate key", m("h", 2, false, "a", "1", "a", "2"), m("h", 2, false, "a", "1"), "map-replace "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kinds(diffMap(tc.o, tc.n, "/m")); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("many deletions replace the map", func(t *testing.T) {
		var kv []string
		for i := range maxMapEntryOps + 1 {
			kv = append(kv, fmt.Sprintf("k%d", i), "v")
		}
		if got := kinds(diffMap(m("h", 2, false, kv...), m("h", 2, false), "/m")); got != "map-replace " {
			t.Errorf("got %q", got)
		}
	})
	t.Run("order along the lookup chain", func(t *testing.T) {
		ops := orderMapOps([]Op{
			{Kind: OpMapDel, Key: "host-gone", Level: 2}, {Kind: OpMapAdd, Key: "host-new", Level: 2},
			{Kind: OpMapDel, Key: "rule-gone", Level: 0}, {Kind: OpMapAdd, Key: "rule-new", Level: 0},
			{Kind: OpMapDel, Key: "path-gone", Level: 1}, {Kind: OpMapSet, Key: "path-changed", Level: 1},
		})
		want := "map-add rule-new; map-set path-changed; map-add host-new; map-del host-gone; map-del path-gone; map-del rule-gone"
		if got := kinds(ops); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}

// A CRL's new content is a Runtime API change (set, commit), except on a
// bind whose default TLS context checks with it (a catch-all's "!*"
// line), which HAProxy 2.6's commit does not update: that reloads.
func TestPlanCRLFiles(t *testing.T) {
	withCRL := with(base(), map[string]string{"cas/default/gw-443.crl.pem": "CRL1", "cas/default/any-443.crl.pem": "CRL1"})
	cur := files(withCRL)
	p := MakePlan(cur, files(with(withCRL, map[string]string{"cas/default/gw-443.crl.pem": "CRL2"})), root)
	if p.Reload || ops(p) != "crlfile-set /etc/hagate/cas/default/gw-443.crl.pem" {
		t.Errorf("a CRL update: reload=%v %q, ops %q; want one crlfile-set", p.Reload, p.Reasons, ops(p))
	}
	p = MakePlan(cur, files(with(withCRL, map[string]string{"cas/default/any-443.crl.pem": "CRL2"})), root)
	if !p.Reload || !strings.Contains(strings.Join(p.Reasons, "; "), "default TLS context") {
		t.Errorf("a default context's CRL update: reload=%v %q; want a reload", p.Reload, p.Reasons)
	}
}
