package harness

import (
	"context"
	"net/netip"
	"os/exec"
	"reflect"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// RequestedAddresses is the Service annotation listing the addresses a
// Service asks its load balancer for (hagate's provisioned Services set it
// from the Gateway's spec.addresses), besides spec.loadBalancerIP.
const RequestedAddresses = "gateway.hagate.io/requested-addresses"

// syncLoadBalancers stands in for a load balancer controller: a Service of
// type LoadBalancer gets, in status.loadBalancer.ingress, the addresses it
// asks for that lie in LoadBalancerPool (each made to reach the first
// ready Pod it selects: added to the Pod's network namespace and routed
// there), or, when it asks for none, that Pod's IP. An address outside the
// pool is never given.
func (n *Node) syncLoadBalancers(ctx context.Context) error {
	var svcs corev1.ServiceList
	if err := n.C.List(ctx, &svcs); err != nil {
		return err
	}
	var pods corev1.PodList
	if err := n.C.List(ctx, &pods); err != nil {
		return err
	}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Selector) == 0 || svc.DeletionTimestamp != nil {
			continue
		}
		target := n.lbTarget(svc, pods.Items)
		var want []corev1.LoadBalancerIngress
		if target != nil {
			requested := requestedAddresses(svc)
			for _, a := range requested {
				ip, err := netip.ParseAddr(a)
				if err != nil || !n.LoadBalancerPool.IsValid() || !n.LoadBalancerPool.Contains(ip) {
					continue
				}
				if err := n.routeTo(ip, target); err != nil {
					n.once("lb"+ip.String()+err.Error(), "load balancer address not routed", "address", ip.String(), "error", err.Error())
					continue
				}
				want = append(want, corev1.LoadBalancerIngress{IP: ip.String(), IPMode: new(corev1.LoadBalancerIPModeVIP)})
			}
			if len(requested) == 0 {
				want = []corev1.LoadBalancerIngress{{IP: target.Status.PodIP, IPMode: new(corev1.LoadBalancerIPModeVIP)}}
			}
		}
		if reflect.DeepEqual(want, svc.Status.LoadBalancer.Ingress) || len(want) == 0 && len(svc.Status.LoadBalancer.Ingress) == 0 {
			continue
		}
		svc.Status.LoadBalancer.Ingress = want
		if err := n.C.Status().Update(ctx, svc); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// lbTarget is the first ready Pod (by name) a Service selects that runs
// here.
func (n *Node) lbTarget(svc *corev1.Service, pods []corev1.Pod) *corev1.Pod {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var ready []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Namespace == svc.Namespace && p.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Labels)) && podReady(p) && p.Status.PodIP != "" {
			ready = append(ready, p)
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].Name < ready[j].Name })
	for _, p := range ready {
		if n.hostOf(p) != nil {
			return p
		}
	}
	return nil
}

// hostOf is the Host a Pod runs on here, nil if none.
func (n *Node) hostOf(p *corev1.Pod) Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	if pr := n.pods[p.UID]; pr != nil {
		return pr.host
	}
	return nil
}

// routeTo makes ip reach Pod p: the address is added inside its network
// namespace and routed to it from here.
func (n *Node) routeTo(ip netip.Addr, p *corev1.Pod) error {
	h := n.hostOf(p)
	if h == nil {
		return nil
	}
	out, err := exec.Command("ip", "-n", h.NetnsName(), "addr", "replace", ip.String()+"/32", "dev", "eth0").CombinedOutput()
	if err != nil {
		return &cmdError{args: "ip addr replace " + ip.String(), out: string(out), err: err}
	}
	out, err = exec.Command("ip", "route", "replace", ip.String()+"/32", "via", h.IP()).CombinedOutput()
	if err != nil {
		return &cmdError{args: "ip route replace " + ip.String(), out: string(out), err: err}
	}
	return nil
}

type cmdError struct {
	args, out string
	err       error
}

func (e *cmdError) Error() string {
	return e.args + ": " + e.err.Error() + ": " + strings.TrimSpace(e.out)
}

func requestedAddresses(svc *corev1.Service) []string {
	var out []string
	for _, a := range strings.Split(svc.Annotations[RequestedAddresses], ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if ip := svc.Spec.LoadBalancerIP; ip != "" && !contains(out, ip) {
		out = append(out, ip)
	}
	return out
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// collectGarbage stands in for the garbage collector, for what owner
// references to Gateways hold (the objects hagate controller generates):
// when the Gateway is gone, they go.
func (n *Node) collectGarbage(ctx context.Context) error {
	var gws gwapiv1.GatewayList
	if err := n.C.List(ctx, &gws); err != nil {
		return err
	}
	live := map[types.UID]bool{}
	for _, g := range gws.Items {
		live[g.UID] = true
	}
	for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{}, &rbacv1.RoleList{}, &rbacv1.RoleBindingList{}} {
		if err := n.C.List(ctx, list); err != nil {
			return err
		}
		var objs []client.Object
		switch l := list.(type) {
		case *appsv1.DeploymentList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		case *corev1.ServiceList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		case *corev1.ServiceAccountList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		case *rbacv1.RoleList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		case *rbacv1.RoleBindingList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		}
		for _, o := range objs {
			for _, ref := range o.GetOwnerReferences() {
				if ref.Kind == "Gateway" && ref.APIVersion == gwapiv1.GroupVersion.String() && !live[ref.UID] {
					if err := client.IgnoreNotFound(n.C.Delete(ctx, o)); err != nil {
						return err
					}
					break
				}
			}
		}
	}
	return nil
}
