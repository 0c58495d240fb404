package pipeline

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/pki"
)

// Every golden configuration's lines trace to the object that wrote them:
// a route's match and rule lines to the route, a server line with TLS to
// its BackendTLSPolicy, a crt-list line to its listener, a certificate to
// its Secret; lines several objects share (binds) to none.
func TestOriginsOfGoldenConfigurations(t *testing.T) {
	ins, err := filepath.Glob("../../testdata/*/in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatal("no golden inputs", err)
	}
	ca := pki.NewCAValid(t, "origins CA", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	ruleName := regexp.MustCompile(`set-var\(txn\.rule\) str\(([^/)]+)/([^/)]+)/\d+\)`)
	checked := 0
	for _, in := range ins {
		t.Run(filepath.Base(filepath.Dir(in)), func(t *testing.T) {
			out, err := Render(loadGoldenInput(t, in, ca), Options{ConfigRoot: goldenRoot})
			if err != nil {
				t.Fatal(err)
			}
			section := ""
			for i, line := range strings.Split(string(out.Bundle.Get(bundle.ConfigFile).Content), "\n") {
				n := i + 1
				o := out.Origins.At(bundle.ConfigFile, n)
				trimmed := strings.TrimSpace(line)
				if !strings.HasPrefix(line, " ") && line != "" {
					section = line
				}
				switch {
				case strings.HasPrefix(trimmed, "bind "):
					if !o.IsZero() {
						t.Errorf("line %d %q traced to %v; a bind line is no single object's", n, trimmed, o)
					}
				case ruleName.MatchString(trimmed) && strings.HasPrefix(section, "frontend "):
					m := ruleName.FindStringSubmatch(trimmed)
					if !strings.HasSuffix(o.Kind, "Route") || o.Namespace != m[1] || o.Name != m[2] {
						t.Errorf("line %d %q traced to %v, want its route %s/%s", n, trimmed, o, m[1], m[2])
					}
					checked++
				case strings.HasPrefix(trimmed, "server ") && strings.Contains(trimmed, " ssl verify "):
					if o.Kind != "BackendTLSPolicy" {
						t.Errorf("line %d %q traced to %v, want its BackendTLSPolicy", n, trimmed, o)
					}
					checked++
				}
			}
			for _, f := range out.Bundle.Files() {
				o := out.Origins.At(f.Path, 0)
				switch {
				case strings.HasPrefix(f.Path, "certs/"):
					if o.Kind != "Secret" || "certs/"+o.Namespace+"/" != f.Path[:len("certs/")+len(o.Namespace)+1] {
						t.Errorf("%s traced to %v, want its Secret", f.Path, o)
					}
					checked++
				case strings.HasPrefix(f.Path, "crt-lists/"):
					for i, line := range strings.Split(string(f.Content), "\n") {
						if line == "" || strings.HasPrefix(line, "#") {
							continue
						}
						if lo := out.Origins.At(f.Path, i+1); lo.Kind != "Gateway" && lo.Kind != "ListenerSet" || lo.Section == "" {
							t.Errorf("%s line %d traced to %v, want its listener", f.Path, i+1, lo)
						}
						checked++
					}
				}
			}
		})
	}
	if checked == 0 {
		t.Fatal("no line was checked")
	}
}
