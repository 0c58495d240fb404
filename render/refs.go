package render

import (
	"sort"

	"k8s.io/apimachinery/pkg/types"

	"hagate.io/hagate/render/snapshot"
)

// Referenced are the Secrets and ConfigMaps a translation of a Snapshot
// may read: those our Gateways and BackendTLSPolicies refer to, in their
// own namespace or where a ReferenceGrant permits it. A source loads only
// these (and nothing from a Secret no Gateway may use).
type Referenced struct {
	// Secrets hold certificates (listeners, backend client certificates).
	Secrets []types.NamespacedName
	// ConfigMaps hold CA certificates (frontend validation, policies).
	ConfigMaps []types.NamespacedName
}

// ReferencedObjects lists what Translate would read of Secrets and
// ConfigMaps, from a Snapshot whose Secrets and ConfigMaps are not loaded
// yet: it runs the phases of a translation that follow references to them
// (Gateways and their parameters, ListenerSets, listeners: certificates and client
// validation, the backend client certificate, BackendTLSPolicies) and
// notes every lookup. The same code as Translate decides, so the two
// cannot drift: a reference no ReferenceGrant permits is never looked up.
func ReferencedObjects(snap *snapshot.Snapshot, opts Options) Referenced {
	t := newTranslator(snap, opts)
	rec := &lookups{Secrets: map[types.NamespacedName]bool{}, ConfigMaps: map[types.NamespacedName]bool{}}
	t.idx.record = rec
	t.selectGateways()
	t.resolveAddresses()
	t.selectListenerSets()
	t.buildListeners()
	t.indexPolicies()
	return rec.referenced()
}

// referenced lists the lookups, sorted.
func (l *lookups) referenced() Referenced {
	var out Referenced
	for n := range l.Secrets {
		out.Secrets = append(out.Secrets, n)
	}
	for n := range l.ConfigMaps {
		out.ConfigMaps = append(out.ConfigMaps, n)
	}
	sort.Slice(out.Secrets, func(i, j int) bool { return out.Secrets[i].String() < out.Secrets[j].String() })
	sort.Slice(out.ConfigMaps, func(i, j int) bool { return out.ConfigMaps[i].String() < out.ConfigMaps[j].String() })
	return out
}

// TranslateRecording is Translate, also returning the Secrets and
// ConfigMaps it looked up (for tests that hold ReferencedObjects against
// what a translation reads).
func TranslateRecording(snap *snapshot.Snapshot, opts Options) (*Result, Referenced) {
	rec := &lookups{Secrets: map[types.NamespacedName]bool{}, ConfigMaps: map[types.NamespacedName]bool{}}
	opts.record = rec
	res := Translate(snap, opts)
	return res, rec.referenced()
}
