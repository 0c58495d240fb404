// Package bundle holds the Bundle: the exact set of files HAProxy reads
// (haproxy.cfg, crt-lists, maps, PEM files), with their paths relative to the
// configuration root and their modes, and what of them the Runtime API can
// change, as data (State); it writes the files to a directory atomically.
package bundle

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// ConfigFile is the path of the main configuration inside a Bundle.
const ConfigFile = "haproxy.cfg"

// File is one file of a Bundle.
type File struct {
	// Path is relative to the configuration root, with forward slashes.
	Path string
	// Content is the file's bytes.
	Content []byte
	// Mode is the file's permission bits; private keys are 0600.
	Mode fs.FileMode
}

// Secret reports whether the file holds private key material.
func (f *File) Secret() bool { return f.Mode&0o077 == 0 }

// Bundle is a set of files, and the description of what in them the
// Runtime API can change.
type Bundle struct {
	files map[string]*File
	// State describes the files' servers, crt-list lines, map entries,
	// certificates and CA files, bind addresses and folders; nil when
	// unknown (a Bundle read from disk), which makes any change to it a
	// reload.
	State *State
}

// New returns an empty Bundle.
func New() *Bundle { return &Bundle{files: map[string]*File{}} }

// Add puts a file in the Bundle, replacing one at the same path.
func (b *Bundle) Add(f *File) { b.files[f.Path] = f }

// Get returns the file at path, or nil.
func (b *Bundle) Get(path string) *File { return b.files[path] }

// Files returns every file, sorted by path.
func (b *Bundle) Files() []*File {
	out := make([]*File, 0, len(b.files))
	for _, f := range b.files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Equal reports whether two Bundles hold the same files with the same
// content and modes (their States are not compared: they describe the
// files).
func (b *Bundle) Equal(o *Bundle) bool {
	if len(b.files) != len(o.files) {
		return false
	}
	for p, f := range b.files {
		g, ok := o.files[p]
		if !ok || g.Mode != f.Mode || !bytes.Equal(f.Content, g.Content) {
			return false
		}
	}
	return true
}

// checkPath refuses paths that would leave the root.
func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return fmt.Errorf("bundle path %q is not relative", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("bundle path %q is not clean", p)
		}
	}
	return nil
}

// WriteTree writes every file below dir, which must not exist or be
// empty-able by the caller: files are created with their modes, folders
// holding a secret file with 0700, others 0755.
func (b *Bundle) WriteTree(dir string) error { return b.writeTree(dir, "") }

// writeTree is WriteTree; a file that prev (a folder, "" for none) holds
// already, with the same content and mode, is hard-linked from there
// rather than written: creating a thousand certificate files again costs
// the file system more than comparing them.
func (b *Bundle) writeTree(dir, prev string) error {
	for _, f := range b.Files() {
		if err := checkPath(f.Path); err != nil {
			return err
		}
		full := filepath.Join(dir, filepath.FromSlash(f.Path))
		dmode := fs.FileMode(0o755)
		if f.Secret() {
			dmode = 0o700
		}
		if err := os.MkdirAll(filepath.Dir(full), dmode); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
		if f.Secret() {
			if err := os.Chmod(filepath.Dir(full), 0o700); err != nil {
				return fmt.Errorf("write bundle: %w", err)
			}
		}
		if prev != "" && sameFile(filepath.Join(prev, filepath.FromSlash(f.Path)), f) {
			if err := os.Link(filepath.Join(prev, filepath.FromSlash(f.Path)), full); err == nil {
				continue
			}
		}
		if err := os.WriteFile(full, f.Content, f.Mode); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
		if err := os.Chmod(full, f.Mode); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
	}
	return nil
}

// sameFile reports whether the regular file at p (not a link), owned by
// this user and linked once, holds f's content with f's mode.
func sameFile(p string, f *File) bool {
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != f.Mode.Perm() || fi.Size() != int64(len(f.Content)) {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() || st.Nlink != 1 {
		return false
	}
	data, err := os.ReadFile(p)
	return err == nil && bytes.Equal(data, f.Content)
}

// ReplaceDir makes dir hold exactly the Bundle: it writes the Bundle into a
// new sibling folder, then swaps it in with renames, so that dir is either
// the old tree or the new one, never a mix. On error dir is untouched.
func (b *Bundle) ReplaceDir(dir string) error {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-")
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := b.writeTree(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	old := ""
	if _, err := os.Lstat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("write bundle: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir)
		}
		os.RemoveAll(tmp)
		return fmt.Errorf("write bundle: %w", err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("write bundle: remove previous tree: %w", err)
		}
	}
	return nil
}

// ReadTree reads the regular files below dir (what an earlier WriteTree or
// apply left there) into a Bundle, with their modes; sockets, links and
// other special files are left out, and so are files over maxFile bytes.
func ReadTree(dir string, maxFile int64) (*Bundle, error) {
	b := New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Size() > maxFile {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b.Add(&File{Path: filepath.ToSlash(rel), Content: data, Mode: fi.Mode().Perm()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	return b, nil
}
