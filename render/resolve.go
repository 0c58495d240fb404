package render

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// One reference resolver: every reference render follows (listener
// certificates, the backend client certificate, CA bundles of frontend
// validation and BackendTLSPolicies, backendRefs, parameters) goes through
// resolveRef and the index's lookups, so that which objects a translation
// reads is decided in one place; ReferencedObjects runs the same code to
// tell a source which Secrets and ConfigMaps to load.

// refProblemKind says what is wrong with a reference.
type refProblemKind int

const (
	// refWrongKind: the reference names another group or kind.
	refWrongKind refProblemKind = iota + 1
	// refBadName: the name is not a valid object name.
	refBadName
	// refNotPermitted: another namespace, and no ReferenceGrant allows it.
	refNotPermitted
	// refNotFound: no such object.
	refNotFound
)

// refProblem is why a reference does not resolve, with the sentence a
// condition gives.
type refProblem struct {
	kind refProblemKind
	msg  string
}

// refSpec is a kind of reference: what it is called in messages, what it
// must point to, and from where.
type refSpec struct {
	// label names the field in messages ("certificateRef").
	label string
	// want is the core kind it must point to ("Secret").
	want string
	// supported says what is supported, for a reference to another kind
	// ("only core Services are supported").
	supported string
	// checkName: the name must be a valid object name.
	checkName bool
	// fromKind and fromNS are the referring object's kind (of the Gateway
	// API group) and namespace.
	fromKind, fromNS string
}

// resolveRef checks a reference (group, kind, namespace as written,
// defaults already applied; ns "" is the referrer's): its group and kind,
// its name, and, across namespaces, a ReferenceGrant. It returns the
// referenced object's name; the caller looks it up (secret, configMap,
// service), so that a missing object is reported in its terms.
func (t *translator) resolveRef(s refSpec, group, kind, ns, name string) (types.NamespacedName, *refProblem) {
	if ns == "" {
		ns = s.fromNS
	}
	n := types.NamespacedName{Namespace: ns, Name: name}
	switch {
	case group != "" || kind != s.want:
		return n, &refProblem{refWrongKind, fmt.Sprintf("%s %s refers to %s; %s.", s.label, n, groupKind(group, kind), s.supported)}
	case s.checkName && !validName(ns, name):
		return n, &refProblem{refBadName, fmt.Sprintf("%s %q is not a valid %s name.", s.label, n.String(), s.want)}
	case !t.idx.refGranted(gwapiv1.GroupName, s.fromKind, s.fromNS, "", s.want, ns, name):
		return n, &refProblem{refNotPermitted, fmt.Sprintf("%s to %s %s is not permitted: no ReferenceGrant in namespace %s allows %ss of namespace %s to refer to it.",
			s.label, s.want, n, ns, s.fromKind, s.fromNS)}
	}
	return n, nil
}

// notFound is the problem of a reference to an object that does not exist.
func notFound(kind string, n types.NamespacedName) *refProblem {
	return &refProblem{refNotFound, fmt.Sprintf("%s %s/%s does not exist.", kind, n.Namespace, n.Name)}
}

// The index's lookups of the objects references lead to. When the index
// records (ReferencedObjects), every lookup is noted.

func (x *index) secret(n types.NamespacedName) (*corev1.Secret, bool) {
	if x.record != nil {
		x.record.Secrets[n] = true
	}
	s, ok := x.secrets[n]
	return s, ok
}

func (x *index) configMap(n types.NamespacedName) (*corev1.ConfigMap, bool) {
	if x.record != nil {
		x.record.ConfigMaps[n] = true
	}
	c, ok := x.configMaps[n]
	return c, ok
}

func (x *index) service(n types.NamespacedName) (*corev1.Service, bool) {
	s, ok := x.services[n]
	return s, ok
}

// lookupSecret looks a resolved reference's Secret up.
func (t *translator) lookupSecret(n types.NamespacedName) (*corev1.Secret, *refProblem) {
	if s, ok := t.idx.secret(n); ok {
		return s, nil
	}
	return nil, notFound("Secret", n)
}

// lookupConfigMap looks a resolved reference's ConfigMap up.
func (t *translator) lookupConfigMap(n types.NamespacedName) (*corev1.ConfigMap, *refProblem) {
	if c, ok := t.idx.configMap(n); ok {
		return c, nil
	}
	return nil, notFound("ConfigMap", n)
}

// lookups are the Secrets and ConfigMaps a translation looked up.
type lookups struct {
	Secrets, ConfigMaps map[types.NamespacedName]bool
}

func deref[T ~string](p *T, def string) string {
	if p == nil {
		return def
	}
	return string(*p)
}
