package bundle

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestReplaceDirModes(t *testing.T) {
	b := New()
	b.Add(&File{Path: "haproxy.cfg", Content: []byte("cfg\n"), Mode: 0o644})
	b.Add(&File{Path: "certs/default/a.pem", Content: []byte("key\n"), Mode: 0o600})
	dir := filepath.Join(t.TempDir(), "out")
	if err := b.ReplaceDir(dir); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		"haproxy.cfg":         0o644,
		"certs/default/a.pem": 0o600,
		"certs/default":       0o700 | os.ModeDir,
		"certs":               0o700 | os.ModeDir,
	} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestReplaceDirSwapsWhole(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	old := New()
	old.Add(&File{Path: "old.txt", Content: []byte("old"), Mode: 0o644})
	if err := old.ReplaceDir(dir); err != nil {
		t.Fatal(err)
	}
	nb := New()
	nb.Add(&File{Path: "new.txt", Content: []byte("new"), Mode: 0o644})
	if err := nb.ReplaceDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "old.txt")); !os.IsNotExist(err) {
		t.Error("old file survived")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("temporary folders left next to the output: %d entries", len(entries))
	}
}

func TestWriteTreeRefusesEscapingPaths(t *testing.T) {
	for _, p := range []string{"../x", "/etc/passwd", "a/../../x", "a//b", ""} {
		b := New()
		b.Add(&File{Path: p, Content: []byte("x"), Mode: 0o644})
		if err := b.WriteTree(t.TempDir()); err == nil {
			t.Errorf("path %q was written", p)
		}
	}
}

// A file that did not change keeps its inode (hard-linked from the
// previous tree); a changed one, or one whose mode changed, is new.
func TestReplaceDirLinksUnchangedFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	write := func(cfg, key string, keyMode os.FileMode) map[string]uint64 {
		t.Helper()
		b := New()
		b.Add(&File{Path: "haproxy.cfg", Content: []byte(cfg), Mode: 0o644})
		b.Add(&File{Path: "certs/a.pem", Content: []byte(key), Mode: keyMode})
		b.Add(&File{Path: "maps/m.map", Content: []byte("k v\n"), Mode: 0o644})
		if err := b.ReplaceDir(dir); err != nil {
			t.Fatal(err)
		}
		inodes := map[string]uint64{}
		for _, p := range []string{"haproxy.cfg", "certs/a.pem", "maps/m.map"} {
			fi, err := os.Lstat(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if st.Nlink != 1 {
				t.Errorf("%s has %d links after the swap", p, st.Nlink)
			}
			inodes[p] = st.Ino
		}
		return inodes
	}
	first := write("cfg 1\n", "key\n", 0o600)
	second := write("cfg 2\n", "key\n", 0o600)
	if first["haproxy.cfg"] == second["haproxy.cfg"] {
		t.Error("a changed file kept its inode")
	}
	if first["certs/a.pem"] != second["certs/a.pem"] || first["maps/m.map"] != second["maps/m.map"] {
		t.Error("unchanged files were written again")
	}
	third := write("cfg 2\n", "key\n", 0o640)
	if third["certs/a.pem"] == second["certs/a.pem"] {
		t.Error("a file whose mode changed kept its inode")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "haproxy.cfg")); string(data) != "cfg 2\n" {
		t.Errorf("haproxy.cfg = %q", data)
	}
}
