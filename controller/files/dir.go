package files

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hagate.io/hagate/render/snapshot"
)

// Dir is a folder of manifests read again on every change (hagate run
// --source-dir). A file with a bad document keeps contributing the objects
// of its last good version, so that a typo never takes down what was
// serving; a new file with a bad document contributes its good documents.
// So does a file that cannot be read (not a regular file, over a limit)
// and a file found empty whose last good version held objects: it is
// taken to be half-written (truncated, not yet written again). Deleting a
// file is how to remove its objects.
//
// A change costs what it changes: a file is parsed again only when it
// changed (Load compares each file's size, times and inode with those it
// was parsed at; LoadChanged reads only the paths it is told changed).
type Dir struct {
	// Root is the folder.
	Root string
	// MaxFileBytes is the most one file may hold; a larger file is not
	// read. Zero means DefaultMaxFileBytes.
	MaxFileBytes int64
	// MaxTotalBytes is the most read from the folder in one Load; a file
	// that would take the total past it is not read. Zero means
	// DefaultMaxTotalBytes.
	MaxTotalBytes int64
	// last holds the last good version of each file, by path.
	last map[string]lastGood
	// parsed holds what each file held when it was last read, by path.
	parsed map[string]*parsedFile
	// paths are the files found by the last walk of the folder, sorted;
	// nil before the first Load. set holds them too.
	paths []string
	set   map[string]bool
}

// lastGood is the last version of a file read without error.
type lastGood struct {
	// snap holds its objects.
	snap *snapshot.Snapshot
	// objects is how many objects snap holds.
	objects int
}

// parsedFile is a file as it was read: its signature then, its size, and
// what its documents gave.
type parsedFile struct {
	sig  fileSig
	size int64
	docs int
	res  *Result
}

// fileSig tells whether a file changed since it was read: a file replaced
// (renamed into place) has a new inode, one written in place a new
// modification or change time or size.
type fileSig struct {
	dev, ino, size   uint64
	mtimeNs, ctimeNs int64
}

func sigOf(info fs.FileInfo) (fileSig, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileSig{}, false
	}
	return fileSig{dev: uint64(st.Dev), ino: st.Ino, size: uint64(st.Size),
		mtimeNs: st.Mtim.Nano(), ctimeNs: st.Ctim.Nano()}, true
}

// DirResult is one reading of a Dir.
type DirResult struct {
	// Snapshot holds every object (Now is left zero).
	Snapshot *snapshot.Snapshot
	// Warnings are sentences about skipped input, including files that
	// could not be read and files found empty that held objects.
	Warnings []string
	// Errors are the bad documents, naming file and document.
	Errors []*DocError
	// Stale are the files whose last good version is used because the
	// current one has errors, cannot be read, or is empty while the last
	// good version held objects.
	Stale []string
	// Read is how many files were read (the others had not changed).
	Read int
}

// Load reads the folder: it walks it, and reads again the files that
// changed since the last Load. It fails only when the folder cannot be
// read.
func (d *Dir) Load() (*DirResult, error) {
	paths, err := expand(d.Root)
	if err != nil {
		return nil, fmt.Errorf("read source folder: %w", err)
	}
	d.paths = paths
	d.set = make(map[string]bool, len(paths))
	for _, p := range paths {
		d.set[p] = true
	}
	return d.read(nil, true), nil
}

// LoadChanged is Load when only the given paths changed (created, written,
// removed, renamed), as a watcher of the folder reports them: only they
// are looked at and read; the other files keep what they held. A path that
// is not a manifest file below the folder (the folder itself, a
// subfolder, a link Kubernetes swaps) makes it a whole Load, as does the
// first call.
func (d *Dir) LoadChanged(changed []string) (*DirResult, error) {
	if d.paths == nil {
		return d.Load()
	}
	root := filepath.Clean(d.Root)
	set := d.set
	dirty := map[string]bool{}
	moved := false // files appeared or went
	for _, p := range changed {
		rel, err := filepath.Rel(root, p)
		if err != nil || !filepath.IsLocal(rel) {
			return d.Load()
		}
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" {
			return d.Load()
		}
		skipped := false
		for _, part := range strings.Split(filepath.Dir(rel), string(filepath.Separator)) {
			if strings.HasPrefix(part, "..") {
				skipped = true // as expand: Kubernetes' "..<time>" folders
			}
		}
		if skipped || strings.HasPrefix(filepath.Base(rel), "..") {
			continue
		}
		// The walk finds the file under the folder's own name, as given.
		found := filepath.Join(d.Root, rel)
		dirty[found] = true
		_, err = os.Lstat(found)
		if exists := err == nil; exists != set[found] {
			moved = true
			if exists {
				set[found] = true
			} else {
				delete(set, found)
			}
		}
	}
	if moved {
		d.paths = d.paths[:0]
		for p := range set {
			d.paths = append(d.paths, p)
		}
		slices.Sort(d.paths)
	}
	return d.read(dirty, moved), nil
}

// read builds the result from d.paths. With dirty nil, every file is
// looked at (stat) and read when it changed; otherwise only the dirty
// ones are read, and the others are taken as parsed before. prune: files
// may have gone, what was kept of them is dropped.
func (d *Dir) read(dirty map[string]bool, prune bool) *DirResult {
	if d.last == nil {
		d.last = map[string]lastGood{}
	}
	if d.parsed == nil {
		d.parsed = map[string]*parsedFile{}
	}
	out := &DirResult{Snapshot: &snapshot.Snapshot{}}
	rd := newReader(d.MaxFileBytes, d.MaxTotalBytes)
	seen := make(map[objectKey]bool, len(d.paths))
	for _, p := range d.paths {
		prev, hasPrev := d.last[p]
		// stale adds the last good version of p, if there is one.
		stale := func() {
			if !hasPrev {
				return
			}
			out.Stale = append(out.Stale, p)
			for _, w := range merge(out.Snapshot, prev.snap, seen) {
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %s", p, w))
			}
		}
		pf, err := d.file(rd, p, dirty)
		if err != nil {
			// Unreadable for now (replaced, permissions mid-save, not a
			// regular file, too large): its last good version still
			// applies. The error names p.
			out.Warnings = append(out.Warnings, err.Error())
			stale()
			continue
		}
		if pf.fresh {
			out.Read++
		}
		res := pf.res
		if pf.docs == 0 && hasPrev && prev.objects > 0 {
			held := "1 object"
			if prev.objects != 1 {
				held = fmt.Sprintf("%d objects", prev.objects)
			}
			out.Warnings = append(out.Warnings, fmt.Sprintf(
				"%s: is empty, but its last good version held %s: taken to be half-written, that version still applies (delete the file to remove its objects).",
				p, held))
			stale()
			continue
		}
		out.Warnings = append(out.Warnings, res.Warnings...)
		if len(res.Errors) > 0 {
			out.Errors = append(out.Errors, res.Errors...)
			if hasPrev {
				stale()
				continue
			}
		} else {
			d.last[p] = lastGood{snap: res.Snapshot, objects: len(res.Origins)}
		}
		for _, w := range merge(out.Snapshot, res.Snapshot, seen) {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %s", p, w))
		}
	}
	if prune {
		for p := range d.last {
			if !d.set[p] {
				delete(d.last, p)
			}
		}
		for p := range d.parsed {
			if !d.set[p] {
				delete(d.parsed, p)
			}
		}
	}
	return out
}

// racyWindow is how recently changed a file must not be for its parse to
// be kept: Linux stamps changes with a coarse clock.
const racyWindow = 50 * time.Millisecond

// readFile is a file's content as parsed, and whether it was read now.
type readFile struct {
	*parsedFile
	fresh bool
}

// file returns what the file at p holds: as parsed before when it did not
// change (dirty nil: its signature is the same; dirty set: p is not in
// it), else read and parsed now. The limits count every file, read now or
// before.
func (d *Dir) file(rd *reader, p string, dirty map[string]bool) (readFile, error) {
	pf := d.parsed[p]
	switch {
	case pf == nil:
	case dirty != nil && !dirty[p]:
		if err := rd.take(p, pf.size); err == nil {
			return readFile{parsedFile: pf}, nil
		}
	case dirty == nil:
		if info, err := os.Stat(p); err == nil {
			if sig, ok := sigOf(info); ok && sig == pf.sig {
				if err := rd.take(p, pf.size); err == nil {
					return readFile{parsedFile: pf}, nil
				}
			}
		}
	}
	delete(d.parsed, p)
	before, _ := os.Stat(p)
	data, err := rd.file(p)
	if err != nil {
		return readFile{}, err
	}
	l := newLoader()
	docs := l.loadFile(p, data)
	pf = &parsedFile{size: int64(len(data)), docs: docs, res: l.res}
	// Kept for the next reading only when the file did not change while
	// it was read, and was last changed long enough ago that a change
	// within the file system's timestamp granularity (a few ms) cannot
	// go unseen.
	if after, err := os.Stat(p); err == nil && before != nil {
		s1, ok1 := sigOf(before)
		s2, ok2 := sigOf(after)
		settled := time.Since(time.Unix(0, max(s2.mtimeNs, s2.ctimeNs))) > racyWindow
		if ok1 && ok2 && s1 == s2 && s2.size == uint64(len(data)) && settled {
			pf.sig = s2
			d.parsed[p] = pf
		}
	}
	return readFile{parsedFile: pf, fresh: true}, nil
}

// objectKey names an object of a kind.
type objectKey struct{ kind, namespace, name string }

// merge appends the objects of src to dst, skipping objects already there
// (by kind, namespace and name), and says which it skipped.
func merge(dst, src *snapshot.Snapshot, seen map[objectKey]bool) []string {
	var dup []string
	keep := func(kind string, o metav1.Object) bool {
		k := objectKey{kind, o.GetNamespace(), o.GetName()}
		if seen[k] {
			dup = append(dup, fmt.Sprintf("duplicate %s %s/%s skipped: an earlier file defines it", kind, o.GetNamespace(), o.GetName()))
			return false
		}
		seen[k] = true
		return true
	}
	for _, o := range src.GatewayClasses {
		if keep("GatewayClass", o) {
			dst.GatewayClasses = append(dst.GatewayClasses, o)
		}
	}
	for _, o := range src.Gateways {
		if keep("Gateway", o) {
			dst.Gateways = append(dst.Gateways, o)
		}
	}
	for _, o := range src.ListenerSets {
		if keep("ListenerSet", o) {
			dst.ListenerSets = append(dst.ListenerSets, o)
		}
	}
	for _, o := range src.HTTPRoutes {
		if keep("HTTPRoute", o) {
			dst.HTTPRoutes = append(dst.HTTPRoutes, o)
		}
	}
	for _, o := range src.GRPCRoutes {
		if keep("GRPCRoute", o) {
			dst.GRPCRoutes = append(dst.GRPCRoutes, o)
		}
	}
	for _, o := range src.TLSRoutes {
		if keep("TLSRoute", o) {
			dst.TLSRoutes = append(dst.TLSRoutes, o)
		}
	}
	for _, o := range src.TCPRoutes {
		if keep("TCPRoute", o) {
			dst.TCPRoutes = append(dst.TCPRoutes, o)
		}
	}
	for _, o := range src.BackendTLSPolicies {
		if keep("BackendTLSPolicy", o) {
			dst.BackendTLSPolicies = append(dst.BackendTLSPolicies, o)
		}
	}
	for _, o := range src.ReferenceGrants {
		if keep("ReferenceGrant", o) {
			dst.ReferenceGrants = append(dst.ReferenceGrants, o)
		}
	}
	for _, o := range src.Secrets {
		if keep("Secret", o) {
			dst.Secrets = append(dst.Secrets, o)
		}
	}
	for _, o := range src.ConfigMaps {
		if keep("ConfigMap", o) {
			dst.ConfigMaps = append(dst.ConfigMaps, o)
		}
	}
	for _, o := range src.Services {
		if keep("Service", o) {
			dst.Services = append(dst.Services, o)
		}
	}
	for _, o := range src.EndpointSlices {
		if keep("EndpointSlice", o) {
			dst.EndpointSlices = append(dst.EndpointSlices, o)
		}
	}
	for _, o := range src.Namespaces {
		if keep("Namespace", o) {
			dst.Namespaces = append(dst.Namespaces, o)
		}
	}
	sort.Strings(dup)
	return dup
}

// take counts size bytes of the file at p, read before, against the total
// limit, as if it were read now.
func (r *reader) take(p string, size int64) error {
	if size > r.maxFile || size > r.maxTotal-r.done {
		return fmt.Errorf("%s: over a limit", p)
	}
	r.done += size
	return nil
}
