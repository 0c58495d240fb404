package render

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/snapshot"
)

// index gives the lookups a translation needs over a Snapshot.
type index struct {
	secrets    map[types.NamespacedName]*corev1.Secret
	configMaps map[types.NamespacedName]*corev1.ConfigMap
	services   map[types.NamespacedName]*corev1.Service
	namespaces map[string]*corev1.Namespace
	gateways   map[types.NamespacedName]*gwapiv1.Gateway
	// slices are the EndpointSlices of each Service.
	slices map[types.NamespacedName][]*discoveryv1.EndpointSlice
	// grants are the ReferenceGrants of each namespace.
	grants map[string][]*gwapiv1.ReferenceGrant
	// record, when set, notes every Secret and ConfigMap looked up.
	record *lookups
}

// validName reports whether an object's namespace and name are what the
// API server accepts (DNS labels and subdomains). Objects with other names
// never reach the configuration: names become file names and config text.
func validName(ns, name string) bool {
	if ns != "" && !isDNS1123Label(ns) {
		return false
	}
	return isDNS1123Subdomain(name)
}

func newIndex(s *snapshot.Snapshot) *index {
	x := &index{
		secrets:    map[types.NamespacedName]*corev1.Secret{},
		configMaps: map[types.NamespacedName]*corev1.ConfigMap{},
		services:   map[types.NamespacedName]*corev1.Service{},
		namespaces: map[string]*corev1.Namespace{},
		gateways:   map[types.NamespacedName]*gwapiv1.Gateway{},
		slices:     map[types.NamespacedName][]*discoveryv1.EndpointSlice{},
		grants:     map[string][]*gwapiv1.ReferenceGrant{},
	}
	for _, o := range s.Secrets {
		if !validName(o.Namespace, o.Name) {
			continue
		}
		x.secrets[nn(o)] = o
	}
	for _, o := range s.ConfigMaps {
		if !validName(o.Namespace, o.Name) {
			continue
		}
		x.configMaps[nn(o)] = o
	}
	for _, o := range s.Services {
		if !validName(o.Namespace, o.Name) {
			continue
		}
		x.services[nn(o)] = o
	}
	for _, o := range s.Namespaces {
		x.namespaces[o.Name] = o
	}
	for _, o := range s.Gateways {
		x.gateways[nn(o)] = o
	}
	for _, o := range s.EndpointSlices {
		svc := o.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		k := types.NamespacedName{Namespace: o.Namespace, Name: svc}
		x.slices[k] = append(x.slices[k], o)
	}
	for _, o := range s.ReferenceGrants {
		x.grants[o.Namespace] = append(x.grants[o.Namespace], o)
	}
	return x
}

// namespaceLabels returns the labels of a namespace; a namespace absent
// from the snapshot has only the kubernetes.io/metadata.name label the API
// server always sets.
func (x *index) namespaceLabels(ns string) map[string]string {
	if n, ok := x.namespaces[ns]; ok {
		l := map[string]string{corev1.LabelMetadataName: ns}
		for k, v := range n.Labels {
			l[k] = v
		}
		return l
	}
	return map[string]string{corev1.LabelMetadataName: ns}
}

// refGranted reports whether an object of fromGroup/fromKind in fromNS may
// refer to the object toGroup/toKind toNS/toName, through a ReferenceGrant
// in toNS.
func (x *index) refGranted(fromGroup, fromKind, fromNS, toGroup, toKind, toNS, toName string) bool {
	if fromNS == toNS {
		return true
	}
	for _, g := range x.grants[toNS] {
		from := false
		for _, f := range g.Spec.From {
			if string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNS {
				from = true
				break
			}
		}
		if !from {
			continue
		}
		for _, to := range g.Spec.To {
			if string(to.Group) == toGroup && string(to.Kind) == toKind && (to.Name == nil || *to.Name == "" || string(*to.Name) == toName) {
				return true
			}
		}
	}
	return false
}
