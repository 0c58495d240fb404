package haproxy

import (
	"fmt"
	"io/fs"
	"net"
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
func files(m map[string]string) *bundle.Bundle {
	b := bundle.New()
	for p, c := range m {
		mode := 0o644
		if strings.HasPrefix(p, "certs/") {
			mode = 0o600
		}
		b.Add(&bundle.File{Path: p, Content: []byte(c), Mode: fsMode(mode)})
	}
	return b
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
		{"a rule changed", with(base(), map[string]string{
			"haproxy.cfg": strings.Replace(baseCfg, "default/web/0", "default/web/1", 1),
		}), "beyond server lines", ""},
		{"CA bundle content changed", with(base(), map[string]string{"cas/default/gw-443.pem": "CA2"}), "",
			"cafile-set /etc/hagate/cas/default/gw-443.pem"},
		{"CA bundle added", with(base(), map[string]string{"cas/default/other.pem": "CA3"}), "appears or vanishes", ""},
		{"map entries changed", with(base(), map[string]string{"maps/https-443.hosts.map": "bar.example.com x\n"}), "",
			"map-replace /etc/hagate/maps/https-443.hosts.map"},
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
	got := string(mapPayload([]byte("# suffixes\n.b.example.com x\n.example.com y\n")))
	if got != ".b.example.com x\n.example.com y\n" {
		t.Errorf("payload %q", got)
	}
	_ = fmt.Sprint()
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
