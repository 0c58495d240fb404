package render_test

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
	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/templates"
)

// benchSnapshot builds 1,000 HTTPS listeners on port 443 (20 Gateways of
// 50), each with its own certificate, and 10,000 HTTPRoutes spread over
// them, each with a PathPrefix rule to one of 100 Services of 3 endpoints.
func benchSnapshot(b *testing.B, listeners, routes int) *snapshot.Snapshot {
	b.Helper()
	ca := pki.NewCA(b, "bench CA")
	s := &snapshot.Snapshot{Now: time.Now()}
	s.GatewayClasses = append(s.GatewayClasses, &gwapiv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "hagate"},
		Spec:       gwapiv1.GatewayClassSpec{ControllerName: render.DefaultControllerName},
	})
	const perGateway = 50
	var gw *gwapiv1.Gateway
	for i := range listeners {
		if i%perGateway == 0 {
			gw = &gwapiv1.Gateway{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gw%d", i/perGateway), Namespace: "default"},
				Spec:       gwapiv1.GatewaySpec{GatewayClassName: "hagate"},
			}
			s.Gateways = append(s.Gateways, gw)
		}
		host := fmt.Sprintf("h%d.example.com", i)
		leaf := ca.Issue(b, pki.LeafOptions{DNSNames: []string{host}})
		s.Secrets = append(s.Secrets, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cert%d", i), Namespace: "default"},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: leaf.CertPEM, corev1.TLSPrivateKeyKey: leaf.KeyPEM},
		})
		h := gwapiv1.Hostname(host)
		gw.Spec.Listeners = append(gw.Spec.Listeners, gwapiv1.Listener{
			Name: gwapiv1.SectionName(fmt.Sprintf("l%d", i)), Port: 443, Protocol: gwapiv1.HTTPSProtocolType, Hostname: &h,
			TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: gwapiv1.ObjectName(fmt.Sprintf("cert%d", i))}}},
		})
	}
	for i := range 100 {
		s.Services = append(s.Services, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc%d", i), Namespace: "default"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
		})
		name, port := "http", int32(8080)
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("svc%d-1", i), Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: fmt.Sprintf("svc%d", i)}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		}
		for j := range 3 {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j+1)}})
		}
		s.EndpointSlices = append(s.EndpointSlices, es)
	}
	prefix := gwapiv1.PathMatchPathPrefix
	for i := range routes {
		l := i % listeners
		path := fmt.Sprintf("/r%d", i)
		port := gwapiv1.PortNumber(80)
		section := gwapiv1.SectionName(fmt.Sprintf("l%d", l))
		s.HTTPRoutes = append(s.HTTPRoutes, &gwapiv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("route%d", i), Namespace: "default"},
			Spec: gwapiv1.HTTPRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: gwapiv1.ObjectName(fmt.Sprintf("gw%d", l/perGateway)), SectionName: &section}}},
				Rules: []gwapiv1.HTTPRouteRule{{
					Matches:     []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: &path}}},
					BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(fmt.Sprintf("svc%d", i%100)), Port: &port}}}},
				}},
			},
		})
	}
	return s
}

// BenchmarkTranslate measures render.Translate on 1,000 HTTPS listeners
// with their own certificates and 10,000 HTTPRoutes.
func BenchmarkTranslate(b *testing.B) {
	s := benchSnapshot(b, 1000, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res := render.Translate(s, render.Options{})
		if len(res.Config.Frontends) != 1 {
			b.Fatalf("unexpected result: %d frontends", len(res.Config.Frontends))
		}
		// Path-only routes are map entries (exact, prefix), others match lines.
		if fe := res.Config.Frontends[0]; len(fe.Matches)+len(fe.PathExact)+len(fe.PathPrefix) != 10000 {
			b.Fatalf("unexpected result: %d matches, %d exact and %d prefix map entries", len(fe.Matches), len(fe.PathExact), len(fe.PathPrefix))
		}
	}
}

// BenchmarkTranslateAndTemplates adds the templates: the whole pure path of
// `hagate render` up to the files.
func BenchmarkTranslateAndTemplates(b *testing.B) {
	s := benchSnapshot(b, 1000, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res := render.Translate(s, render.Options{})
		tout, err := templates.Render(res.Config, templates.Options{ConfigRoot: "/etc/hagate"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(tout.Bundle.Get("haproxy.cfg").Content)), "cfg-bytes")
	}
}

// BenchmarkTranslateCached is BenchmarkTranslate with a Cache, as hagate
// run renders: certificates that did not change are not parsed again.
func BenchmarkTranslateCached(b *testing.B) {
	s := benchSnapshot(b, 1000, 10000)
	c := &render.Cache{}
	render.Translate(s, render.Options{Cache: c})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res := render.Translate(s, render.Options{Cache: c})
		if len(res.Config.Frontends) != 1 {
			b.Fatal("unexpected result")
		}
	}
}
