package render

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/snapshot"
)

func testTicketKey(b byte, size int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, size))
}

func TestParseTicketKeys(t *testing.T) {
	a, b, c := testTicketKey('a', 80), testTicketKey('b', 80), testTicketKey('c', 80)
	unpadded := strings.TrimRight(c, "=")
	keys, err := ParseTicketKeys([]byte("  " + a + "\r\n\n" + b + "\n" + unpadded))
	if err != nil || !slices.Equal(keys, []string{a, b, c}) {
		t.Fatalf("ParseTicketKeys: %d keys, %v", len(keys), err)
	}
	if _, err := ParseTicketKeys([]byte(strings.Repeat(testTicketKey('x', 48)+"\n", 3))); err != nil {
		t.Errorf("AES-128 keys: %v", err)
	}
	for name, data := range map[string]string{
		"empty":       "",
		"two keys":    a + "\n" + b + "\n",
		"not base64":  a + "\n" + b + "\nnot a key!\n",
		"wrong size":  a + "\n" + b + "\n" + testTicketKey('d', 32) + "\n",
		"mixed sizes": a + "\n" + b + "\n" + testTicketKey('d', 48) + "\n",
		"a comment":   "# keys\n" + a + "\n" + b + "\n" + c + "\n",
	} {
		_, err := ParseTicketKeys([]byte(data))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, k := range []string{a, b, c, a[:20]} {
			if strings.Contains(err.Error(), k) {
				t.Errorf("%s: the error quotes a key: %v", name, err)
			}
		}
	}
}

// ticketSnapshot is one Gateway with an HTTPS listener (tls) or an HTTP
// one.
func ticketSnapshot(t *testing.T, tls bool) *snapshot.Snapshot {
	leaf := pki.NewCA(t, "tickets CA").Issue(t, pki.LeafOptions{DNSNames: []string{"a.example.com"}})
	l := gwapiv1.Listener{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}
	if tls {
		l = gwapiv1.Listener{Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType,
			TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "cert"}}}}
	}
	return &snapshot.Snapshot{
		GatewayClasses: []*gwapiv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "hagate"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: DefaultControllerName}}},
		Gateways: []*gwapiv1.Gateway{{
			ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "default"},
			Spec:       gwapiv1.GatewaySpec{GatewayClassName: "hagate", Listeners: []gwapiv1.Listener{l}},
		}},
		Secrets: []*corev1.Secret{{
			ObjectMeta: metav1.ObjectMeta{Name: "cert", Namespace: "default"},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: leaf.CertPEM, corev1.TLSPrivateKeyKey: leaf.KeyPEM},
		}},
	}
}

func TestTranslateTicketKeys(t *testing.T) {
	keys := []string{testTicketKey('a', 80), testTicketKey('b', 80), testTicketKey('c', 80), testTicketKey('d', 80)}

	snap := ticketSnapshot(t, true)
	if res := Translate(snap, Options{}); res.Config.TLSTicketKeys != nil {
		t.Error("keys without keys in the Snapshot")
	}
	snap.TLSTicketKeys = keys
	res := Translate(snap, Options{})
	k := res.Config.TLSTicketKeys
	if k == nil || k.Path != ir.TicketKeysPath || !slices.Equal(k.Keys, keys[1:]) {
		t.Fatalf("keys %+v: want the last %d of the Snapshot's at %s", k, ir.TicketKeysInUse, ir.TicketKeysPath)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q", res.Warnings)
	}

	// No bind terminates TLS: no keys file.
	plain := ticketSnapshot(t, false)
	plain.TLSTicketKeys = keys
	if res := Translate(plain, Options{}); res.Config.TLSTicketKeys != nil {
		t.Error("keys without a TLS bind")
	}

	// Unusable keys: tickets off, a warning that quotes no key.
	snap.TLSTicketKeys = []string{keys[0], keys[1], "bm90IGEga2V5"}
	res = Translate(snap, Options{})
	if res.Config.TLSTicketKeys != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "TLS session tickets are off") {
		t.Fatalf("unusable keys: %+v, warnings %q", res.Config.TLSTicketKeys, res.Warnings)
	}
	for _, k := range keys {
		if strings.Contains(res.Warnings[0], k) {
			t.Error("the warning quotes a key")
		}
	}
}
