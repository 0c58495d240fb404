package render

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/provision"
)

// A Gateway's infrastructure: its provisioning parameters (GatewayClass
// and Gateway parametersRef), and, for a provisioned data plane, its
// addresses, which are those of its Service.

// configMap looks a ConfigMap up in the Snapshot.
func (t *translator) configMap(ns, name string) *corev1.ConfigMap {
	cm, _ := t.idx.configMap(types.NamespacedName{Namespace: ns, Name: name})
	return cm
}

// classParametersProblem says why a GatewayClass's parametersRef is not
// usable ("" when it is, or there is none).
func (t *translator) classParametersProblem(gc *gwapiv1.GatewayClass) string {
	if _, err := provision.ClassParameters(gc, t.configMap); err != nil {
		return upperFirst(err.Error()) + "."
	}
	return ""
}

// gatewayParametersProblem says why a Gateway's
// infrastructure.parametersRef is not usable ("" when it is, or there is
// none).
func (t *translator) gatewayParametersProblem(gw *gwapiv1.Gateway) string {
	if _, err := provision.GatewayParameters(gw, t.configMap); err != nil {
		return upperFirst(err.Error()) + "."
	}
	return ""
}

// serviceAddresses gives a provisioned Gateway the addresses of its
// Service: the load balancer's (status.loadBalancer.ingress) or the
// cluster IPs. Its listeners bind every address of the Pod (the Service
// brings the traffic there). spec.addresses are what it asked the load
// balancer for: one not given makes it not Programmed (AddressNotUsable);
// no address yet, AddressNotAssigned.
func (t *translator) serviceAddresses(g *gatewayCtx) {
	name := types.NamespacedName{Namespace: g.gw.Namespace, Name: provision.Name(g.gw.Name)}
	svc, _ := t.idx.service(name)
	if svc != nil && g.gw.UID != "" && !ownedBy(svc, g.gw.UID) {
		svc = nil
	}
	if svc == nil {
		g.addrPending = fmt.Sprintf("The Gateway's Service %s does not exist yet.", name)
		return
	}
	var assigned []gwapiv1.GatewayStatusAddress
	add := func(typ gwapiv1.AddressType, v string) {
		for _, a := range assigned {
			if a.Value == v {
				return
			}
		}
		assigned = append(assigned, gwapiv1.GatewayStatusAddress{Type: new(typ), Value: v})
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if ip, ok := canonicalIP(in.IP); ok {
				add(gwapiv1.IPAddressType, ip)
			} else if in.Hostname != "" {
				add(gwapiv1.HostnameAddressType, in.Hostname)
			}
		}
	} else {
		for _, c := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
			if ip, ok := canonicalIP(c); ok {
				add(gwapiv1.IPAddressType, ip)
			}
		}
	}
	var missing []string
	for _, r := range provision.RequestedIPs(g.gw) {
		ip, ok := canonicalIP(r)
		if !ok {
			continue // reported as unsupported
		}
		if !slices.ContainsFunc(assigned, func(a gwapiv1.GatewayStatusAddress) bool { return a.Value == ip }) {
			missing = append(missing, ip)
		}
	}
	g.status.Addresses = assigned
	switch {
	case len(missing) > 0:
		g.addrUnusable = fmt.Sprintf("Requested address(es) %s are not given to the Gateway's Service %s by its load balancer.", strings.Join(missing, ", "), name)
	case len(assigned) == 0:
		g.addrPending = fmt.Sprintf("The Gateway's Service %s has no address yet (type %s).", name, svc.Spec.Type)
	}
}

func ownedBy(svc *corev1.Service, uid types.UID) bool {
	for _, r := range svc.OwnerReferences {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// requestedValid checks a provisioned Gateway's spec.addresses: only IP
// addresses are supported (the Service's load balancer is asked for them).
func requestedValid(gw *gwapiv1.Gateway) []string {
	var bad []string
	for _, a := range gw.Spec.Addresses {
		typ := gwapiv1.IPAddressType
		if a.Type != nil {
			typ = *a.Type
		}
		switch {
		case typ != gwapiv1.IPAddressType:
			bad = append(bad, fmt.Sprintf("%q of type %s (only IPAddress is supported)", a.Value, typ))
		case a.Value == "":
		default:
			if _, err := netip.ParseAddr(a.Value); err != nil {
				bad = append(bad, fmt.Sprintf("%q is not an IP address", a.Value))
			}
		}
	}
	return bad
}
