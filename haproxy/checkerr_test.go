package haproxy

import (
	"errors"
	"testing"

	"hagate.io/hagate/haproxy/bundle"
)

func TestParseCheck(t *testing.T) {
	const root = "/var/lib/hagate/stage"
	out := `[NOTICE]   (5941) : haproxy version is 2.6.12-1+deb12u4
[ALERT]    (5941) : config : parsing [/var/lib/hagate/stage/haproxy.cfg:5] : 'bind :::443' in section 'frontend' : 'crt-list' : error processing line 4 in file '/var/lib/hagate/stage/crt-lists/https-443.crt-list' : unable to load SSL certificate into SSL Context '/var/lib/hagate/stage/certs/default/weak.pem'.
[ALERT]    (6485) : config : parsing [/var/lib/hagate/stage/haproxy.cfg:5] : 'bind :::443' in section 'frontend' : 'crt-list' : parsing [/var/lib/hagate/stage/crt-lists/https-443.crt-list:2]: too many args 
[ALERT]    (14031) : config : parsing [/var/lib/hagate/stage/haproxy.cfg:45]: too many words, truncating after word 64, position 357: <{>.
[ALERT]    (28691) : config : parsing [/var/lib/hagate/stage/haproxy.cfg:9] : 'bind 127.0.0.1:18443' in section 'frontend' : 'ca-file' : unable to load /var/lib/hagate/stage/cas/frontend/default/gw-443.pem
[ALERT]    (28691) : config : Proxy 'https-443': unable to find required use_backend: 'nosuch'.
[ALERT]    (5941) : config : Error(s) found in configuration file : /var/lib/hagate/stage/haproxy.cfg
[ALERT]    (5941) : config : Fatal errors found in configuration.
`
	b := bundle.New()
	for _, p := range []string{"haproxy.cfg", "crt-lists/https-443.crt-list", "certs/default/weak.pem", "cas/frontend/default/gw-443.pem"} {
		b.Add(&bundle.File{Path: p, Mode: 0o644})
	}
	b.State = &bundle.State{
		Certificates: []string{"certs/default/weak.pem"},
		CAFiles:      []string{"cas/frontend/default/gw-443.pem"},
		CrtLists:     []bundle.CrtList{{Path: "crt-lists/https-443.crt-list"}},
	}
	ce := parseCheck(out, root, b, errors.New("exit status 1"))
	want := []Problem{
		{Path: "certs/default/weak.pem"},
		{Path: "crt-lists/https-443.crt-list", Line: 2},
		{Path: "haproxy.cfg", Line: 45},
		{Path: "cas/frontend/default/gw-443.pem"},
		{Path: ""},
	}
	if len(ce.Problems) != len(want) {
		t.Fatalf("problems = %+v, want %d", ce.Problems, len(want))
	}
	for i, w := range want {
		got := ce.Problems[i]
		if got.Path != w.Path || got.Line != w.Line {
			t.Errorf("problem %d = %s:%d (%s), want %s:%d", i, got.Path, got.Line, got.Message, w.Path, w.Line)
		}
	}
	if want := "parsing [haproxy.cfg:45]: too many words, truncating after word 64, position 357: <{>."; ce.Problems[2].Message != want {
		t.Errorf("message = %q, want %q", ce.Problems[2].Message, want)
	}
}
