package templates_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/templates"
)

// routesConfig is the IR of one HTTPS listener (any hostname) and n
// HTTPRoutes, each with its own hostname and one PathPrefix rule to one
// of 10 Services: what render makes of them.
func routesConfig(b *testing.B, n int) *ir.Config {
	b.Helper()
	leaf := pki.NewCA(b, "bench CA").Issue(b, pki.LeafOptions{DNSNames: []string{"*.example.com"}})
	s := &snapshot.Snapshot{Now: time.Now()}
	s.GatewayClasses = append(s.GatewayClasses, &gwapiv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "hagate"},
		Spec:       gwapiv1.GatewayClassSpec{ControllerName: render.DefaultControllerName},
	})
	s.Gateways = append(s.Gateways, &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "default"},
		Spec: gwapiv1.GatewaySpec{GatewayClassName: "hagate", Listeners: []gwapiv1.Listener{{
			Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType,
			TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "tls"}}},
		}}},
	})
	s.Secrets = append(s.Secrets, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "default"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: leaf.CertPEM, corev1.TLSPrivateKeyKey: leaf.KeyPEM},
	})
	for i := range 10 {
		s.Services = append(s.Services, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc%d", i), Namespace: "default"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
		})
		name, port := "http", int32(8080)
		s.EndpointSlices = append(s.EndpointSlices, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("svc%d-1", i), Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: fmt.Sprintf("svc%d", i)}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.0.%d.1", i)}}},
		})
	}
	prefix := gwapiv1.PathMatchPathPrefix
	port := gwapiv1.PortNumber(80)
	for i := range n {
		path := fmt.Sprintf("/r%d", i)
		s.HTTPRoutes = append(s.HTTPRoutes, &gwapiv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("route%d", i), Namespace: "default"},
			Spec: gwapiv1.HTTPRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
				Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("h%d.example.com", i))},
				Rules: []gwapiv1.HTTPRouteRule{{
					Matches:     []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: &path}}},
					BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(fmt.Sprintf("svc%d", i%10)), Port: &port}}}},
				}},
			},
		})
	}
	cfg := render.Translate(s, render.Options{}).Config
	if len(cfg.Frontends) != 1 || len(cfg.Frontends[0].Rules) != n {
		b.Fatalf("unexpected IR: %d frontends", len(cfg.Frontends))
	}
	return cfg
}

// BenchmarkRender measures templates.Render (haproxy.cfg, the maps, the
// crt-list and the runtime state) on 3,000 HTTPRoutes with their own
// hostnames on one HTTPS listener.
//
//	go test ./templates -run '^$' -bench Render -benchmem
func BenchmarkRender(b *testing.B) {
	cfg := routesConfig(b, 3000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := templates.Render(cfg, templates.Options{ConfigRoot: "/etc/hagate"}); err != nil {
			b.Fatal(err)
		}
	}
}
