package agent

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/snapshot"
)

// TestCheckAddresses: addresses of this host are usable, others are
// recorded with why; other types and non-IPs are left to render.
func TestCheckAddresses(t *testing.T) {
	hostname := gwapiv1.HostnameAddressType
	snap := &snapshot.Snapshot{Gateways: []*gwapiv1.Gateway{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw"},
		Spec: gwapiv1.GatewaySpec{Addresses: []gwapiv1.GatewaySpecAddress{
			{Value: "127.0.0.1"},
			{Value: "127.0.60.9"}, // loopback: the whole 127/8 is local
			{Value: "::ffff:198.51.100.7"},
			{Type: &hostname, Value: "gw.example.com"},
			{Value: "not-an-ip"},
		}},
	}}}
	snap.UnusableAddresses = map[string]string{"stale": "from an earlier check"}
	checkAddresses(snap)
	if len(snap.UnusableAddresses) != 1 || snap.UnusableAddresses["198.51.100.7"] == "" {
		t.Fatalf("unusable addresses %v, want only 198.51.100.7 (canonical)", snap.UnusableAddresses)
	}
	if got := snap.UnusableAddresses["198.51.100.7"]; got != "not an address of this host" {
		t.Errorf("why: %q", got)
	}
}
