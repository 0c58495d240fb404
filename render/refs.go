package render

import (
	"sort"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/provision"
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
// yet.
func ReferencedObjects(snap *snapshot.Snapshot, opts Options) Referenced {
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	t := &translator{snap: snap, opts: opts, idx: newIndex(snap), res: &Result{}}
	secrets := map[types.NamespacedName]bool{}
	cms := map[types.NamespacedName]bool{}
	ours := map[string]bool{}
	for _, gc := range snap.GatewayClasses {
		if string(gc.Spec.ControllerName) == opts.ControllerName {
			ours[gc.Name] = true
			// Provisioning parameters.
			if r := gc.Spec.ParametersRef; r != nil && r.Group == "" && r.Kind == provision.ParamsKind && r.Namespace != nil {
				if n := (types.NamespacedName{Namespace: string(*r.Namespace), Name: r.Name}); validName(n.Namespace, n.Name) {
					cms[n] = true
				}
			}
		}
	}
	addSecret := func(gw *gwapiv1.Gateway, group *gwapiv1.Group, k *gwapiv1.Kind, ns *gwapiv1.Namespace, name gwapiv1.ObjectName) {
		if group != nil && *group != "" || k != nil && *k != "Secret" {
			return
		}
		n := types.NamespacedName{Namespace: gw.Namespace, Name: string(name)}
		if ns != nil && *ns != "" {
			n.Namespace = string(*ns)
		}
		if !validName(n.Namespace, n.Name) {
			return
		}
		if t.idx.refGranted(gwapiv1.GroupName, "Gateway", gw.Namespace, "", "Secret", n.Namespace, n.Name) {
			secrets[n] = true
		}
	}
	for _, gw := range snap.Gateways {
		if len(snap.GatewayClasses) > 0 && !ours[string(gw.Spec.GatewayClassName)] {
			continue
		}
		if inf := gw.Spec.Infrastructure; inf != nil && inf.ParametersRef != nil && inf.ParametersRef.Group == "" && inf.ParametersRef.Kind == provision.ParamsKind {
			if n := (types.NamespacedName{Namespace: gw.Namespace, Name: inf.ParametersRef.Name}); validName(n.Namespace, n.Name) {
				cms[n] = true
			}
		}
		for _, l := range gw.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, ref := range l.TLS.CertificateRefs {
				addSecret(gw, ref.Group, ref.Kind, ref.Namespace, ref.Name)
			}
		}
		tc := gw.Spec.TLS
		if tc == nil {
			continue
		}
		if tc.Backend != nil && tc.Backend.ClientCertificateRef != nil {
			r := tc.Backend.ClientCertificateRef
			addSecret(gw, r.Group, r.Kind, r.Namespace, r.Name)
		}
		if tc.Frontend != nil {
			vals := []*gwapiv1.FrontendTLSValidation{tc.Frontend.Default.Validation}
			for _, pp := range tc.Frontend.PerPort {
				vals = append(vals, pp.TLS.Validation)
			}
			for _, v := range vals {
				if v == nil {
					continue
				}
				for _, ref := range v.CACertificateRefs {
					if ref.Group != "" || ref.Kind != "ConfigMap" {
						continue
					}
					n := types.NamespacedName{Namespace: gw.Namespace, Name: string(ref.Name)}
					if ref.Namespace != nil && *ref.Namespace != "" {
						n.Namespace = string(*ref.Namespace)
					}
					if validName(n.Namespace, n.Name) && (n.Namespace == gw.Namespace || t.idx.refGranted(gwapiv1.GroupName, "Gateway", gw.Namespace, "", "ConfigMap", n.Namespace, n.Name)) {
						cms[n] = true
					}
				}
			}
		}
	}
	for _, p := range snap.BackendTLSPolicies {
		for _, ref := range p.Spec.Validation.CACertificateRefs {
			n := types.NamespacedName{Namespace: p.Namespace, Name: string(ref.Name)}
			if ref.Group == "" && ref.Kind == "ConfigMap" && validName(n.Namespace, n.Name) {
				cms[n] = true
			}
		}
	}
	var out Referenced
	for n := range secrets {
		out.Secrets = append(out.Secrets, n)
	}
	for n := range cms {
		out.ConfigMaps = append(out.ConfigMaps, n)
	}
	sort.Slice(out.Secrets, func(i, j int) bool { return out.Secrets[i].String() < out.Secrets[j].String() })
	sort.Slice(out.ConfigMaps, func(i, j int) bool { return out.ConfigMaps[i].String() < out.ConfigMaps[j].String() })
	return out
}
