package files

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hagate.io/hagate/internal/snapshot"
)

// Dir is a folder of manifests read again on every change (hagate run
// --source-dir). A file with a bad document keeps contributing the objects
// of its last good version, so that a typo never takes down what was
// serving; a new file with a bad document contributes its good documents.
type Dir struct {
	// Root is the folder.
	Root string
	last map[string]*snapshot.Snapshot
}

// DirResult is one reading of a Dir.
type DirResult struct {
	// Snapshot holds every object (Now is left zero).
	Snapshot *snapshot.Snapshot
	// Warnings are sentences about skipped input.
	Warnings []string
	// Errors are the bad documents, naming file and document.
	Errors []*DocError
	// Stale are the files whose last good version is used because the
	// current one has errors.
	Stale []string
}

// Load reads the folder. It fails only when the folder cannot be read.
func (d *Dir) Load() (*DirResult, error) {
	paths, err := expand(d.Root)
	if err != nil {
		return nil, fmt.Errorf("read source folder: %w", err)
	}
	if d.last == nil {
		d.last = map[string]*snapshot.Snapshot{}
	}
	out := &DirResult{Snapshot: &snapshot.Snapshot{}}
	seen := map[string]bool{}
	present := map[string]bool{}
	for _, p := range paths {
		present[p] = true
		res, err := Load(Options{Paths: []string{p}})
		if err != nil {
			// Unreadable for now (replaced, permissions mid-save): its
			// last good version still applies.
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %v", p, err))
			if prev, ok := d.last[p]; ok {
				out.Stale = append(out.Stale, p)
				for _, w := range merge(out.Snapshot, prev, seen) {
					out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %s", p, w))
				}
			}
			continue
		}
		out.Warnings = append(out.Warnings, res.Warnings...)
		snap := res.Snapshot
		if len(res.Errors) > 0 {
			out.Errors = append(out.Errors, res.Errors...)
			if prev, ok := d.last[p]; ok {
				snap = prev
				out.Stale = append(out.Stale, p)
			}
		} else {
			d.last[p] = snap
		}
		for _, w := range merge(out.Snapshot, snap, seen) {
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
