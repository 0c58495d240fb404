package files

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const gwDoc = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: hagate
  listeners: [{name: http, port: 8080, protocol: HTTP}]
`

func TestDirKeepsLastGoodVersionOfABrokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("gw.yaml", gwDoc)
	d := &Dir{Root: dir}
	res, err := d.Load()
	if err != nil || len(res.Errors) != 0 || len(res.Snapshot.Gateways) != 1 {
		t.Fatalf("first load: %v %v %d gateways", err, res.Errors, len(res.Snapshot.Gateways))
	}
	// A typo: the file no longer parses; its last good version is used.
	write("gw.yaml", strings.Replace(gwDoc, "listeners:", "listeners: [oops", 1))
	res, err = d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Error(), "gw.yaml: document 1") {
		t.Errorf("errors = %v, want one naming gw.yaml document 1", res.Errors)
	}
	if len(res.Snapshot.Gateways) != 1 || len(res.Stale) != 1 {
		t.Errorf("the Gateway of the last good version is gone: %d gateways, stale %v", len(res.Snapshot.Gateways), res.Stale)
	}
	// A new broken file contributes its good documents only.
	write("new.yaml", "kind: [x\n---\n"+strings.Replace(gwDoc, "name: gw,", "name: gw2,", 1))
	res, _ = d.Load()
	if len(res.Snapshot.Gateways) != 2 {
		t.Errorf("%d gateways, want 2 (gw from its last good version, gw2 from the new file)", len(res.Snapshot.Gateways))
	}
	// A duplicate across files is skipped with a warning.
	write("z.yaml", gwDoc)
	res, _ = d.Load()
	if len(res.Snapshot.Gateways) != 2 || !strings.Contains(strings.Join(res.Warnings, "\n"), "duplicate Gateway default/gw") {
		t.Errorf("duplicate: %d gateways, warnings %q", len(res.Snapshot.Gateways), res.Warnings)
	}
	// A removed file is forgotten.
	os.Remove(filepath.Join(dir, "gw.yaml"))
	os.Remove(filepath.Join(dir, "z.yaml"))
	res, _ = d.Load()
	if len(res.Snapshot.Gateways) != 1 {
		t.Errorf("%d gateways after removing gw.yaml", len(res.Snapshot.Gateways))
	}
}

// loadDirWithin runs d.Load, failing the test if it does not return within
// a few seconds.
func loadDirWithin(t *testing.T, d *Dir) *DirResult {
	t.Helper()
	type loaded struct {
		res *DirResult
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		res, err := d.Load()
		done <- loaded{res, err}
	}()
	select {
	case l := <-done:
		if l.err != nil {
			t.Fatalf("Load: %v", l.err)
		}
		return l.res
	case <-time.After(10 * time.Second):
		t.Fatal("Load blocked")
		return nil
	}
}

func TestDirKeepsLastGoodVersionOfAFileItCannotUse(t *testing.T) {
	route := service("web")
	type step struct {
		// change changes the folder, the working directory.
		change func(t *testing.T)
		// objects, stale and warnings are what Load must return;
		// warnings must each be in Warnings, which may hold more.
		objects  []string
		stale    []string
		warnings []string
	}
	// start has gw.yaml and web.yaml read once.
	start := step{
		change: func(t *testing.T) {
			write(t, "gw.yaml", gwDoc)
			write(t, "web.yaml", route)
		},
		objects: []string{"Gateway default/gw", "Service default/web"},
	}
	remove := func(name string) func(t *testing.T) {
		return func(t *testing.T) {
			if err := os.Remove(name); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name string
		// maxFile and maxTotal are the Dir's limits; zero for the defaults.
		maxFile, maxTotal int64
		steps             []step
	}{
		{
			name: "replaced by a named pipe",
			steps: []step{start, {
				change:   func(t *testing.T) { remove("gw.yaml")(t); mkfifo(t, "gw.yaml") },
				objects:  []string{"Gateway default/gw", "Service default/web"},
				stale:    []string{"gw.yaml"},
				warnings: []string{"gw.yaml: is a named pipe (FIFO), not a regular file"},
			}},
		},
		{
			name: "a new named pipe",
			steps: []step{start, {
				change:   func(t *testing.T) { mkfifo(t, "x.yaml") },
				objects:  []string{"Gateway default/gw", "Service default/web"},
				warnings: []string{"x.yaml: is a named pipe (FIFO), not a regular file"},
			}},
		},
		{
			name: "replaced by a symbolic link to /dev/zero",
			steps: []step{start, {
				change:   func(t *testing.T) { remove("gw.yaml")(t); symlink(t, "/dev/zero", "gw.yaml") },
				objects:  []string{"Gateway default/gw", "Service default/web"},
				stale:    []string{"gw.yaml"},
				warnings: []string{"gw.yaml: is a symbolic link to /dev/zero, which is a character device, not a regular file"},
			}},
		},
		{
			name: "a dangling symbolic link",
			steps: []step{start, {
				change:   func(t *testing.T) { symlink(t, "gone.yaml", "x.yaml") },
				objects:  []string{"Gateway default/gw", "Service default/web"},
				warnings: []string{"x.yaml: is a symbolic link to gone.yaml, which does not exist: no such file or directory"},
			}},
		},
		{
			name: "a symbolic link to a regular file",
			steps: []step{start, {
				change: func(t *testing.T) {
					write(t, "data/gw2", strings.Replace(gwDoc, "name: gw,", "name: gw2,", 1))
					symlink(t, "data/gw2", "x.yaml")
				},
				objects: []string{"Gateway default/gw", "Gateway default/gw2", "Service default/web"},
			}},
		},
		{
			name:    "over the limit per file",
			maxFile: 500,
			steps: []step{start, {
				change:   func(t *testing.T) { write(t, "gw.yaml", gwDoc+"# "+strings.Repeat("x", 500)+"\n") },
				objects:  []string{"Gateway default/gw", "Service default/web"},
				stale:    []string{"gw.yaml"},
				warnings: []string{fmt.Sprintf("gw.yaml: is %d bytes, over the limit of 500 bytes per file", len(gwDoc)+503)},
			}, {
				change:  func(t *testing.T) { write(t, "gw.yaml", strings.Replace(gwDoc, "name: gw,", "name: gw3,", 1)) },
				objects: []string{"Gateway default/gw3", "Service default/web"},
			}},
		},
		{
			name:     "over the limit in all",
			maxTotal: int64(len(gwDoc) + len(route) + 50),
			steps: []step{start, {
				// gw.yaml grows past what the folder may hold; web.yaml,
				// read after it, still fits.
				change:  func(t *testing.T) { write(t, "gw.yaml", gwDoc+"# "+strings.Repeat("x", 200)+"\n") },
				objects: []string{"Gateway default/gw", "Service default/web"},
				stale:   []string{"gw.yaml"},
				warnings: []string{fmt.Sprintf("gw.yaml: is %d bytes, which with the 0 bytes read before it is over the limit of %d bytes for all files together",
					len(gwDoc)+203, len(gwDoc)+len(route)+50)},
			}, {
				// A new file that does not fit: the others still apply.
				change:  func(t *testing.T) { write(t, "gw.yaml", gwDoc); write(t, "zz.yaml", service("zz")) },
				objects: []string{"Gateway default/gw", "Service default/web"},
				warnings: []string{fmt.Sprintf("zz.yaml: is %d bytes, which with the %d bytes read before it is over the limit of %d bytes for all files together",
					len(service("zz")), len(gwDoc)+len(route), len(gwDoc)+len(route)+50)},
			}},
		},
		{
			name: "emptied while being rewritten",
			steps: []step{start, {
				change:   func(t *testing.T) { write(t, "gw.yaml", "") },
				objects:  []string{"Gateway default/gw", "Service default/web"},
				stale:    []string{"gw.yaml"},
				warnings: []string{"gw.yaml: is empty, but its last good version held 1 object: taken to be half-written, that version still applies (delete the file to remove its objects)."},
			}, {
				change:   func(t *testing.T) { write(t, "gw.yaml", "# being edited\n\n---\n  \n") },
				objects:  []string{"Gateway default/gw", "Service default/web"},
				stale:    []string{"gw.yaml"},
				warnings: []string{"gw.yaml: is empty, but its last good version held 1 object"},
			}, {
				change:  func(t *testing.T) { write(t, "gw.yaml", strings.Replace(gwDoc, "name: gw,", "name: gw4,", 1)) },
				objects: []string{"Gateway default/gw4", "Service default/web"},
			}, {
				change:  remove("gw.yaml"),
				objects: []string{"Service default/web"},
			}},
		},
		{
			name: "always empty",
			steps: []step{{
				change:  func(t *testing.T) { write(t, "empty.yaml", ""); write(t, "comments.yaml", "# nothing yet\n---\n") },
				objects: nil,
			}, {
				change:  func(t *testing.T) { write(t, "empty.yaml", "\n") },
				objects: nil,
			}, {
				change:  func(t *testing.T) { write(t, "empty.yaml", route) },
				objects: []string{"Service default/web"},
			}},
		},
		{
			name: "emptied after holding no object hagate reads",
			steps: []step{{
				change: func(t *testing.T) {
					write(t, "deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n")
				},
				warnings: []string{`deploy.yaml: document 1: skipped apps/v1 Deployment "d"`},
			}, {
				change: func(t *testing.T) { write(t, "deploy.yaml", "") },
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			d := &Dir{Root: ".", MaxFileBytes: tt.maxFile, MaxTotalBytes: tt.maxTotal}
			for i, s := range tt.steps {
				s.change(t)
				res := loadDirWithin(t, d)
				if got := objects(res.Snapshot); !slices.Equal(got, s.objects) {
					t.Errorf("step %d: objects:\n got %q\nwant %q", i, got, s.objects)
				}
				if !slices.Equal(res.Stale, s.stale) {
					t.Errorf("step %d: stale %q, want %q", i, res.Stale, s.stale)
				}
				if len(res.Errors) > 0 {
					t.Errorf("step %d: errors %v", i, res.Errors)
				}
				for _, w := range s.warnings {
					if !slices.ContainsFunc(res.Warnings, func(got string) bool { return strings.HasPrefix(got, w) }) {
						t.Errorf("step %d: no warning %q in %q", i, w, res.Warnings)
					}
				}
				if len(s.warnings) == 0 && len(res.Warnings) > 0 {
					t.Errorf("step %d: warnings %q, want none", i, res.Warnings)
				}
			}
		})
	}
}

// A change costs what it changes: Load parses again only the files that
// changed since it read them, LoadChanged only the paths it is given; the
// result is the same as reading everything.
func TestDirReadsOnlyWhatChanged(t *testing.T) {
	dir := t.TempDir()
	route := func(i int, host string) string {
		return fmt.Sprintf("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r%d, namespace: default}\nspec: {hostnames: [%s]}\n", i, host)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		write(fmt.Sprintf("r%02d.yaml", i), route(i, "a.example.com"))
	}
	hosts := func(res *DirResult) string {
		var s []string
		for _, r := range res.Snapshot.HTTPRoutes {
			s = append(s, r.Name+"="+string(r.Spec.Hostnames[0]))
		}
		return strings.Join(s, ",")
	}
	// What a reader of the whole folder, with no memory, finds.
	fresh := func() string {
		t.Helper()
		res, err := (&Dir{Root: dir}).Load()
		if err != nil {
			t.Fatal(err)
		}
		return hosts(res)
	}
	time.Sleep(2 * racyWindow) // older than the timestamp granularity
	d := &Dir{Root: dir}
	if res, err := d.Load(); err != nil || res.Read != 20 {
		t.Fatalf("first load: %v, %d files read", err, res.Read)
	}
	if res, _ := d.Load(); res.Read != 0 || hosts(res) != fresh() {
		t.Errorf("nothing changed: %d files read, %s", res.Read, hosts(res))
	}
	// One file rewritten in place, same size: read again (by its times).
	write("r03.yaml", route(3, "b.example.com"))
	if res, _ := d.Load(); res.Read != 1 || hosts(res) != fresh() {
		t.Errorf("one file changed: %d files read, %s, want %s", res.Read, hosts(res), fresh())
	}

	// LoadChanged: only the paths given are looked at.
	time.Sleep(2 * racyWindow)
	d.Load()
	write("r05.yaml", route(5, "c.example.com"))
	write("new.yaml", route(99, "d.example.com"))
	if err := os.Remove(filepath.Join(dir, "r07.yaml")); err != nil {
		t.Fatal(err)
	}
	res, err := d.LoadChanged([]string{filepath.Join(dir, "r05.yaml"), filepath.Join(dir, "new.yaml"), filepath.Join(dir, "r07.yaml")})
	if err != nil || res.Read != 2 || hosts(res) != fresh() {
		t.Errorf("LoadChanged: %v, %d files read, %s, want %s", err, res.Read, hosts(res), fresh())
	}
	// A path that is not a manifest (a folder) reads the whole folder.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("sub/s.yaml", route(50, "e.example.com"))
	res, err = d.LoadChanged([]string{filepath.Join(dir, "sub")})
	if err != nil || hosts(res) != fresh() || !strings.Contains(hosts(res), "r50=e.example.com") {
		t.Errorf("LoadChanged of a folder: %v, %s, want %s", err, hosts(res), fresh())
	}
	// A file of Kubernetes' "..<time>" folders is not a manifest of its own.
	if err := os.Mkdir(filepath.Join(dir, "..2026_01_01"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("..2026_01_01/x.yaml", route(60, "f.example.com"))
	res, _ = d.LoadChanged([]string{filepath.Join(dir, "..2026_01_01", "x.yaml")})
	if strings.Contains(hosts(res), "r60") {
		t.Errorf("a file under a ..<time> folder was read: %s", hosts(res))
	}
}
