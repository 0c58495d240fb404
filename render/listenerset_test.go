package render

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/provision"
	"hagate.io/hagate/render/snapshot"
)

// The ports a provisioned Gateway's Service exposes for its ListenerSets:
// those of the ListenerSets it accepts (allowedListeners: Selector), not
// of the others.
func TestListenerSetPortsOfProvisionedGateway(t *testing.T) {
	sel := gwapiv1.NamespacesFromSelector
	gw := &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "infra"},
		Spec: gwapiv1.GatewaySpec{
			GatewayClassName: "hagate",
			AllowedListeners: &gwapiv1.AllowedListeners{Namespaces: &gwapiv1.ListenerNamespaces{From: &sel,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"shared": "yes"}}}},
			Listeners: []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}},
		},
	}
	ls := func(ns string, port gwapiv1.PortNumber) *gwapiv1.ListenerSet {
		return &gwapiv1.ListenerSet{
			ObjectMeta: metav1.ObjectMeta{Name: "ls", Namespace: ns},
			Spec: gwapiv1.ListenerSetSpec{
				ParentRef: gwapiv1.ParentGatewayReference{Name: "gw", Namespace: ptrTo(gwapiv1.Namespace("infra"))},
				Listeners: []gwapiv1.ListenerEntry{{Name: "l", Port: port, Protocol: gwapiv1.HTTPProtocolType}},
			},
		}
	}
	snap := &snapshot.Snapshot{
		GatewayClasses: []*gwapiv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "hagate"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: DefaultControllerName}}},
		Gateways:       []*gwapiv1.Gateway{gw},
		ListenerSets:   []*gwapiv1.ListenerSet{ls("team-a", 8080), ls("team-b", 9090)},
		Namespaces: []*corev1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"shared": "yes"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}},
		},
	}
	ports := ListenerSetPorts(snap, Options{Provisioned: true})
	if !slices.Equal(ports, []int32{8080}) {
		t.Fatalf("ListenerSetPorts = %v, want [8080] (team-b's namespace is not selected)", ports)
	}
	dp := provision.Build(gw, &provision.Parameters{}, provision.Options{ListenerSetPorts: ports})
	var svc []int32
	for _, p := range dp.Service.Spec.Ports {
		svc = append(svc, p.Port)
	}
	if !slices.Equal(svc, []int32{80, 8080}) {
		t.Errorf("Service ports %v, want [80 8080]", svc)
	}
}

func ptrTo[T any](v T) *T { return &v }
