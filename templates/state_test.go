package templates

import (
	"slices"
	"strings"
	"testing"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render/ir"
)

// stateConfig has every shape of what the State describes: binds on the
// default address, on a Gateway's addresses and on sockets; crt-lists
// with options and exclusions; maps; servers plain, over IPv6, on a
// socket, with TLS (CA file or system store, client certificate, h2).
func stateConfig() *ir.Config {
	cert := func(name string) *ir.Certificate {
		return &ir.Certificate{Path: ir.DirCerts + "default/" + name + ".pem", PEM: []byte("PEM " + name)}
	}
	crt := []ir.CrtListEntry{
		{Comment: "catch-all", Cert: ir.DirCerts + "default/any.pem", SNIFilters: []string{"!*"}},
		{Comment: "foo", Cert: ir.DirCerts + "default/foo.pem", SNIFilters: []string{"foo.example.com", "*.foo.example.com", "!a.foo.example.com"}, Options: []string{"ssl-min-ver TLSv1.3", "ciphers ECDHE-ECDSA-AES128-GCM-SHA256"}},
	}
	return &ir.Config{
		Frontends: []*ir.Frontend{
			{Name: "http-80", Port: 80, Protocol: ir.ProtocolHTTP, ForwardedProto: "http",
				HostExact:  []ir.MapEntry{{Key: "foo.example.com", Value: "default/gw/http@foo.example.com"}},
				HostSuffix: []ir.MapEntry{{Key: ".b.example.com", Value: "x"}, {Key: ".example.com", Value: "y"}}},
			{Name: "https-443", Port: 443, Addresses: []string{"10.1.2.3", "fd00::1"}, Protocol: ir.ProtocolHTTPS, ForwardedProto: "https",
				TLS:      &ir.TLSBind{CrtList: crt, ALPN: []string{"h2", "http/1.1"}, ClientCA: ir.DirCAs + "frontend/default/gw-443.pem"},
				SNIExact: []ir.MapEntry{{Key: "foo.example.com", Value: "default/gw/https"}}},
			{Name: "https-8443", Port: 8443, Socket: "sockets/https-8443.sock", Protocol: ir.ProtocolHTTPS, ForwardedProto: "https",
				TLS: &ir.TLSBind{CrtList: crt[1:], StrictSNI: true}},
		},
		TCPFrontends: []*ir.TCPFrontend{
			{Name: "tls-8443", Port: 8443, Comment: "SNI router"},
			{Name: "tls-9443", Port: 9443, Comment: "terminator", Addresses: []string{"::ffff:10.1.2.4"}, TLS: &ir.TLSBind{CrtList: crt[:1]}},
		},
		Backends: []*ir.Backend{
			{Name: "default_plain_80", Mode: ir.ModeHTTP, Servers: []ir.Server{{Name: "s1", Address: "10.0.0.1", Port: 80}, {Name: "s2", Address: "fd00::2", Port: 80}}},
			{Name: "default_h2c_80", Mode: ir.ModeHTTP, H2: true, Servers: []ir.Server{{Name: "s1", Address: "10.0.0.1", Port: 80}}},
			{Name: "default_tls_443", Mode: ir.ModeHTTP, H2: true, Servers: []ir.Server{{Name: "s1", Address: "10.0.0.3", Port: 443}},
				TLS: &ir.UpstreamTLS{CAFile: ir.DirCAs + "policy/default/p.pem", SNI: "api.example.com", ClientCert: ir.DirCerts + "default/client.pem", PolicyName: "default/p"}},
			{Name: "default_sys_443", Mode: ir.ModeTCP, Servers: []ir.Server{{Name: "s1", Address: "10.0.0.4", Port: 443}},
				TLS: &ir.UpstreamTLS{CAFile: ir.SystemCA, SNI: "sys.example.com", PolicyName: "default/q"}},
			{Name: "internal_https_8443", Mode: ir.ModeTCP, Servers: []ir.Server{{Name: "local", Socket: "sockets/https-8443.sock"}}},
			{Name: "default_empty_80", Mode: ir.ModeHTTP},
		},
		Certificates: []*ir.Certificate{cert("any"), cert("client"), cert("foo")},
		CAFiles: []*ir.CAFile{
			{Path: ir.DirCAs + "frontend/default/gw-443.pem", PEM: []byte("CA1")},
			{Path: ir.DirCAs + "policy/default/p.pem", PEM: []byte("CA2")},
		},
	}
}

// The State says what the files say: every server line, bind address,
// crt-list line and map entry, and which files are certificates and CA
// files. (The files are read back here, in the test, only.)
func TestStateDescribesTheFiles(t *testing.T) {
	for _, bind := range []string{"", "127.0.0.1", "::1"} {
		t.Run("bind "+bind, func(t *testing.T) {
			const root = "/etc/hagate"
			out, err := Render(stateConfig(), Options{ConfigRoot: root, BindAddress: bind})
			if err != nil {
				t.Fatal(err)
			}
			b := out.Bundle
			st := b.State
			if st == nil {
				t.Fatal("no State")
			}
			cfg := string(b.Get(bundle.ConfigFile).Content)

			// Server lines, by backend, in order.
			var servers []bundle.Backend
			var binds []string
			for _, line := range strings.Split(cfg, "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) >= 2 && f[0] == "backend":
					servers = append(servers, bundle.Backend{Name: f[1]})
				case len(f) >= 2 && (f[0] == "frontend" || f[0] == "global" || f[0] == "defaults"):
					servers = append(servers, bundle.Backend{})
				case len(f) >= 3 && f[0] == "server":
					if line != "    "+strings.Join(f, " ") {
						t.Errorf("server line %q is not written as the plan expects", line)
					}
					last := &servers[len(servers)-1]
					last.Servers = append(last.Servers, bundle.Server{Name: f[1], Params: strings.Join(f[2:], " ")})
				case len(f) >= 2 && f[0] == "bind" && !strings.Contains(f[1], "@"):
					binds = append(binds, strings.Split(f[1], ",")...)
				}
			}
			servers = slices.DeleteFunc(servers, func(b bundle.Backend) bool { return len(b.Servers) == 0 })
			slices.SortFunc(servers, func(x, y bundle.Backend) int { return strings.Compare(x.Name, y.Name) })
			if got, want := backendsText(st.Backends), backendsText(servers); got != want {
				t.Errorf("State servers:\n%s\nhaproxy.cfg servers:\n%s", got, want)
			}
			if n := strings.Count(cfg, "server "); n < 6 {
				t.Errorf("only %d server lines: the test config lost its point", n)
			}
			slices.Sort(binds)
			if !slices.Equal(st.Binds, slices.Compact(binds)) {
				t.Errorf("State binds %q, haproxy.cfg binds %q", st.Binds, binds)
			}

			// crt-lists and maps: the lines that are not comments.
			lines := func(p string) []string {
				var out []string
				for _, l := range strings.Split(string(b.Get(p).Content), "\n") {
					if l != "" && !strings.HasPrefix(l, "#") {
						out = append(out, l)
					}
				}
				return out
			}
			var lists, maps, certs, cas []string
			for _, f := range b.Files() {
				switch {
				case strings.HasPrefix(f.Path, ir.DirCrtLists):
					lists = append(lists, f.Path)
				case strings.HasPrefix(f.Path, ir.DirMaps):
					maps = append(maps, f.Path)
				case strings.HasPrefix(f.Path, ir.DirCerts):
					certs = append(certs, f.Path)
				case strings.HasPrefix(f.Path, ir.DirCAs):
					cas = append(cas, f.Path)
				case f.Path != bundle.ConfigFile:
					t.Errorf("file %s is in none of the State's folders %q", f.Path, st.Dirs)
				}
			}
			var stLists, stMaps []string
			for _, l := range st.CrtLists {
				stLists = append(stLists, l.Path)
				var text []string
				for _, line := range l.Lines {
					text = append(text, line.Text(root))
				}
				if got := lines(l.Path); !slices.Equal(text, got) {
					t.Errorf("%s: State lines\n%q\nfile lines\n%q", l.Path, text, got)
				}
				if !strings.Contains(cfg, "crt-list "+bundle.Abs(root, l.Path)) {
					t.Errorf("haproxy.cfg does not load %s", l.Path)
				}
			}
			for _, m := range st.Maps {
				stMaps = append(stMaps, m.Path)
				if got := strings.Join(lines(m.Path), "\n") + "\n"; got != string(m.Payload()) {
					t.Errorf("%s: State payload %q, file %q", m.Path, m.Payload(), got)
				}
				if !strings.Contains(cfg, bundle.Abs(root, m.Path)) {
					t.Errorf("haproxy.cfg does not use %s", m.Path)
				}
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"crt-lists", stLists, lists}, {"maps", stMaps, maps}, {"certificates", st.Certificates, certs}, {"CA files", st.CAFiles, cas}} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("State %s %q, files %q", c.what, c.got, c.want)
				}
			}
			if len(stLists) != 3 || len(stMaps) != 3 {
				t.Errorf("crt-lists %q, maps %q: the test config lost its point", stLists, stMaps)
			}
		})
	}
}

func backendsText(bs []bundle.Backend) string {
	var s strings.Builder
	for _, b := range bs {
		s.WriteString(b.Name + "\n")
		for _, srv := range b.Servers {
			s.WriteString("  " + srv.Line() + "\n")
		}
	}
	return s.String()
}
