package templates

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"hagate.io/hagate/render/ir"
)

var updateSections = flag.Bool("update", false, "rewrite templates/testdata/sections/*.cfg")

// section is one template test: a small IR and the section of haproxy.cfg
// it is about.
type section struct {
	// Section names the part of haproxy.cfg the case shows, as its
	// first line ("frontend http-80 from http", "backend web_80 from
	// http"): from that line to the next blank line.
	Section string `json:"section"`
	// Config is the IR.
	Config ir.Config `json:"config"`
}

// TestSections renders small IRs and compares the one section each case
// is about with templates/testdata/sections/<case>.cfg: the template's
// formatting of one thing at a time, without the global and defaults
// sections every golden of testdata/ repeats. go test ./templates -update
// rewrites the .cfg files.
func TestSections(t *testing.T) {
	ins, err := filepath.Glob("testdata/sections/*.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatal("no cases", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var c section
			if err := yaml.UnmarshalStrict(data, &c); err != nil {
				t.Fatal(err)
			}
			out, err := Render(&c.Config, Options{ConfigRoot: "/etc/hagate"})
			if err != nil {
				t.Fatal(err)
			}
			got := extract(string(out.Bundle.Get("haproxy.cfg").Content), c.Section)
			if got == "" {
				t.Fatalf("no section %q in:\n%s", c.Section, out.Bundle.Get("haproxy.cfg").Content)
			}
			golden := strings.TrimSuffix(in, ".yaml") + ".cfg"
			if *updateSections {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./templates -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("section differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// extract returns the lines from the one equal to first to the next blank
// line (or the end).
func extract(cfg, first string) string {
	var out []string
	in := false
	for _, l := range strings.Split(cfg, "\n") {
		switch {
		case l == first:
			in = true
		case in && strings.TrimSpace(l) == "":
			return strings.Join(out, "\n") + "\n"
		}
		if in {
			out = append(out, l)
		}
	}
	if !in {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}
