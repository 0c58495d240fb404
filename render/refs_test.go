package render

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/snapshot"
)

func TestReferencedObjectsOnlyPermitted(t *testing.T) {
	other := gwapiv1.Namespace("other")
	denied := gwapiv1.Namespace("denied")
	name := gwapiv1.ObjectName("granted")
	snap := &snapshot.Snapshot{
		GatewayClasses: []*gwapiv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "hagate"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: DefaultControllerName}}},
		Gateways: []*gwapiv1.Gateway{{
			ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "default"},
			Spec: gwapiv1.GatewaySpec{GatewayClassName: "hagate", Listeners: []gwapiv1.Listener{{
				Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType,
				TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{
					{Name: "local"}, {Name: "granted", Namespace: &other}, {Name: "nope", Namespace: &denied},
				}},
			}}},
		}, {
			ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "default"},
			Spec: gwapiv1.GatewaySpec{GatewayClassName: "someone-else", Listeners: []gwapiv1.Listener{{
				Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType,
				TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "theirs"}}},
			}}},
		}},
		ReferenceGrants: []*gwapiv1.ReferenceGrant{{
			ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "other"},
			Spec: gwapiv1.ReferenceGrantSpec{
				From: []gwapiv1.ReferenceGrantFrom{{Group: gwapiv1.GroupName, Kind: "Gateway", Namespace: "default"}},
				To:   []gwapiv1.ReferenceGrantTo{{Group: "", Kind: "Secret", Name: &name}},
			},
		}},
	}
	got := ReferencedObjects(snap, Options{})
	want := []string{"default/local", "other/granted"}
	if len(got.Secrets) != len(want) {
		t.Fatalf("secrets %v, want %v", got.Secrets, want)
	}
	for i, n := range got.Secrets {
		if n.String() != want[i] {
			t.Errorf("secret %d = %s, want %s", i, n, want[i])
		}
	}
}
