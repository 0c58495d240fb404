package files

import (
	"fmt"
	"sort"

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
}

// lastGood is the last version of a file read without error.
type lastGood struct {
	// snap holds its objects.
	snap *snapshot.Snapshot
	// objects is how many objects snap holds.
	objects int
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
}

// Load reads the folder. It fails only when the folder cannot be read.
func (d *Dir) Load() (*DirResult, error) {
	paths, err := expand(d.Root)
	if err != nil {
		return nil, fmt.Errorf("read source folder: %w", err)
	}
	if d.last == nil {
		d.last = map[string]lastGood{}
	}
	out := &DirResult{Snapshot: &snapshot.Snapshot{}}
	rd := newReader(d.MaxFileBytes, d.MaxTotalBytes)
	seen := map[string]bool{}
	present := map[string]bool{}
	for _, p := range paths {
		present[p] = true
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
		data, err := rd.file(p)
		if err != nil {
			// Unreadable for now (replaced, permissions mid-save, not a
			// regular file, too large): its last good version still
			// applies. The error names p.
			out.Warnings = append(out.Warnings, err.Error())
			stale()
			continue
		}
		l := newLoader()
		docs := l.loadFile(p, data)
		res := l.res
		if docs == 0 && hasPrev && prev.objects > 0 {
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
	for p := range d.last {
		if !present[p] {
			delete(d.last, p)
		}
	}
	return out, nil
}

// merge appends the objects of src to dst, skipping objects already there
// (by kind, namespace and name), and says which it skipped.
func merge(dst, src *snapshot.Snapshot, seen map[string]bool) []string {
	var dup []string
	keep := func(kind string, o metav1.Object) bool {
		k := kind + "/" + o.GetNamespace() + "/" + o.GetName()
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
