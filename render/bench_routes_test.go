package render_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render"
	"hagate.io/hagate/render/snapshot"
)

// hostRoutesSnapshot is the propagation benchmark's world: one Gateway
// with an HTTP listener, and n HTTPRoutes each with its own hostname and a
// PathPrefix / rule to one Service.
func hostRoutesSnapshot(n int) *snapshot.Snapshot {
	s := &snapshot.Snapshot{Now: time.Now()}
	s.GatewayClasses = []*gwapiv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "hagate"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: render.DefaultControllerName}}}
	s.Gateways = []*gwapiv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "default"}, Spec: gwapiv1.GatewaySpec{GatewayClassName: "hagate",
		Listeners: []gwapiv1.Listener{{Name: "http", Port: 8080, Protocol: gwapiv1.HTTPProtocolType}}}}}
	s.Services = []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}}
	pn, port := "http", int32(8080)
	s.EndpointSlices = []*discoveryv1.EndpointSlice{{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &pn, Port: &port}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}},
	}}
	prefix, root, p80 := gwapiv1.PathMatchPathPrefix, "/", gwapiv1.PortNumber(80)
	for i := range n {
		s.HTTPRoutes = append(s.HTTPRoutes, &gwapiv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("r%d", i), Namespace: "default"},
			Spec: gwapiv1.HTTPRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
				Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("r%d.example.com", i))},
				Rules: []gwapiv1.HTTPRouteRule{{
					Matches:     []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: &root}}},
					BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: "web", Port: &p80}}}},
				}},
			},
		})
	}
	return s
}

// BenchmarkTranslateHostRoutes measures Translate on the propagation
// benchmark's world (what every change pays in hagate run), at 3,000 and
// 10,000 routes: a change should cost what it changes, so the ratio of
// the two is the figure to watch.
//
//	go test ./render -run '^$' -bench TranslateHostRoutes -benchmem
func BenchmarkTranslateHostRoutes(b *testing.B) {
	for _, n := range []int{3000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			s := hostRoutesSnapshot(n)
			c := &render.Cache{}
			render.Translate(s, render.Options{Cache: c})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res := render.Translate(s, render.Options{Cache: c})
				if fe := res.Config.Frontends[0]; len(fe.HostExact) != n {
					b.Fatalf("%d hosts", len(fe.HostExact))
				}
			}
		})
	}
}
