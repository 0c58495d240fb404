package agent

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// folderMode returns the permission bits of a folder.
func folderMode(t *testing.T, dir string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// openFolder makes dir with mode 0777, whatever the umask.
func openFolder(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
}

// TestStateDirCreated: a missing state folder, and the configuration
// folder in it, are created 0700.
func TestStateDirCreated(t *testing.T) {
	state := filepath.Join(t.TempDir(), "a", "state")
	a, err := New(Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{state, a.ConfigDir()} {
		if m := folderMode(t, dir); m != 0o700 {
			t.Errorf("%s: mode %v, want 0700", dir, m)
		}
	}
}

// TestStateDirTightened: a state folder others may use is made 0700, as is
// a configuration folder inside it; a configuration folder elsewhere (the
// shared folder of attach mode) keeps its mode.
func TestStateDirTightened(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	openFolder(t, state)
	openFolder(t, filepath.Join(state, "config"))
	if _, err := New(Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{state, filepath.Join(state, "config")} {
		if m := folderMode(t, dir); m != 0o700 {
			t.Errorf("%s: mode %v, want 0700", dir, m)
		}
	}

	state2 := filepath.Join(t.TempDir(), "state")
	openFolder(t, state2)
	nested := filepath.Join(state2, "haproxy", "config")
	openFolder(t, nested)
	if _, err := New(Options{StateDir: state2, ConfigDir: nested}); err != nil {
		t.Fatal(err)
	}
	if m := folderMode(t, nested); m != 0o700 {
		t.Errorf("%s: mode %v, want 0700", nested, m)
	}

	shared := filepath.Join(t.TempDir(), "shared")
	openFolder(t, shared)
	if _, err := New(Options{StateDir: filepath.Join(t.TempDir(), "state"), ConfigDir: shared, MasterSocket: "/nonexistent/master.sock"}); err != nil {
		t.Fatal(err)
	}
	if m := folderMode(t, shared); m != 0o777 {
		t.Errorf("shared configuration folder %s: mode %v, want it left at 0777", shared, m)
	}
}

// TestStateDirNotAFolder: a state folder path that is a file or a symbolic
// link is refused.
func TestStateDirNotAFolder(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "state")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{StateDir: file})
	if err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("state folder that is a file: error %v, want one saying it is not a folder", err)
	}

	target := filepath.Join(tmp, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(tmp, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{StateDir: link})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("state folder that is a symbolic link: error %v, want one saying so", err)
	}

	state := filepath.Join(tmp, "state2")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "config"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{StateDir: state})
	if err == nil || !strings.Contains(err.Error(), "configuration folder") {
		t.Errorf("configuration folder that is a file: error %v, want one naming it", err)
	}
}

// TestStateDirOtherOwner: a state folder, or a configuration folder in
// it, owned by another user is refused with a message naming the owner.
func TestStateDirOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a folder to another user needs root")
	}
	const nobody = 65534
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{StateDir: state})
	if err == nil || !strings.Contains(err.Error(), "uid 65534") || !strings.Contains(err.Error(), "owner") {
		t.Errorf("state folder of uid %d: error %v, want one naming the owner and what to do", nobody, err)
	}
	if m := folderMode(t, state); m != 0o700 {
		t.Errorf("refused folder's mode changed to %v", m)
	}

	state2 := filepath.Join(t.TempDir(), "state")
	config := filepath.Join(state2, "config")
	if err := os.MkdirAll(config, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(config, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{StateDir: state2})
	if err == nil || !strings.Contains(err.Error(), "configuration folder") || !strings.Contains(err.Error(), "uid 65534") {
		t.Errorf("configuration folder of uid %d: error %v, want one naming the folder and the owner", nobody, err)
	}
}
