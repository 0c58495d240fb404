package propagation

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"hagate.io/hagate/internal/testutil/pki"
)

// Names in the world; the same in both modes.
const (
	className      = "hagate"
	controllerName = "hagate.io/gateway-controller"
	gatewayName    = "gw"
	serviceName    = "web"
	wildcardSecret = "wildcard-cert"
	rotSecret      = "rot-cert"
	rotHost        = "rot.example.com"
	canaryHeader   = "x-canary"
)

// world is what hagate serves during a run: a GatewayClass, one Gateway
// (an HTTP listener; an HTTPS listener for *.example.com and one for
// rot.example.com on another port), the Secrets of their certificates, a
// Service web with one endpoint (the echo backend), and N HTTPRoutes
// r<i>.example.com -> web.
type world struct {
	ns                  string
	routes              int
	httpPort, httpsPort int
	backendIP           string
	backendPort         int

	ca       *pki.CA
	wildcard *pki.Leaf
	// rot[0] is the rot.example.com certificate hagate starts with;
	// rot[k] is the one the k-th rotation writes.
	rot []*pki.Leaf
}

// newWorld makes the world's certificates, all of them up front: the
// wildcard, and rotations+1 for rot.example.com.
func newWorld(b testing.TB, ns string, routes, rotations int, backendIP string, backendPort int, httpPort, httpsPort int) *world {
	w := &world{ns: ns, routes: routes, httpPort: httpPort, httpsPort: httpsPort, backendIP: backendIP, backendPort: backendPort}
	w.ca = pki.NewCA(b, "propagation CA")
	w.wildcard = w.ca.Issue(b, pki.LeafOptions{DNSNames: []string{"*.example.com"}})
	for range rotations + 1 {
		w.rot = append(w.rot, w.ca.Issue(b, pki.LeafOptions{DNSNames: []string{rotHost}}))
	}
	return w
}

func ptr[T any](v T) *T { return &v }

func (w *world) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: w.ns}
}

func (w *world) gatewayClass() *gwapiv1.GatewayClass {
	return &gwapiv1.GatewayClass{
		TypeMeta:   metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "GatewayClass"},
		ObjectMeta: metav1.ObjectMeta{Name: className},
		Spec:       gwapiv1.GatewayClassSpec{ControllerName: controllerName},
	}
}

func (w *world) gateway() *gwapiv1.Gateway {
	tls := func(secret string) *gwapiv1.ListenerTLSConfig {
		return &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: gwapiv1.ObjectName(secret)}}}
	}
	return &gwapiv1.Gateway{
		TypeMeta:   metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "Gateway"},
		ObjectMeta: w.meta(gatewayName),
		Spec: gwapiv1.GatewaySpec{
			GatewayClassName: className,
			Listeners: []gwapiv1.Listener{
				{Name: "http", Port: int32(w.httpPort), Protocol: gwapiv1.HTTPProtocolType},
				{Name: "https", Port: int32(w.httpsPort), Protocol: gwapiv1.HTTPSProtocolType,
					Hostname: ptr(gwapiv1.Hostname("*.example.com")), TLS: tls(wildcardSecret)},
				{Name: "rot", Port: int32(w.httpsPort), Protocol: gwapiv1.HTTPSProtocolType,
					Hostname: ptr(gwapiv1.Hostname(rotHost)), TLS: tls(rotSecret)},
			},
		},
	}
}

func (w *world) secret(name string, leaf *pki.Leaf) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: w.meta(name),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: leaf.CertPEM, corev1.TLSPrivateKeyKey: leaf.KeyPEM},
	}
}

func (w *world) service() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: w.meta(serviceName),
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, Protocol: corev1.ProtocolTCP,
		}}},
	}
}

func (w *world) endpointSlice() *discoveryv1.EndpointSlice {
	m := w.meta(serviceName + "-1")
	m.Labels = map[string]string{discoveryv1.LabelServiceName: serviceName}
	return &discoveryv1.EndpointSlice{
		TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta:  m,
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(w.backendPort)), Protocol: ptr(corev1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{w.backendIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
		}},
	}
}

// route is an HTTPRoute for host with one rule, PathPrefix /, to web;
// canary adds the header match x-canary: "1".
func (w *world) route(name, host string, canary bool) *gwapiv1.HTTPRoute {
	match := gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: ptr(gwapiv1.PathMatchPathPrefix), Value: ptr("/")}}
	if canary {
		match.Headers = []gwapiv1.HTTPHeaderMatch{{Type: ptr(gwapiv1.HeaderMatchExact), Name: canaryHeader, Value: "1"}}
	}
	return &gwapiv1.HTTPRoute{
		TypeMeta:   metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "HTTPRoute"},
		ObjectMeta: w.meta(name),
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: gatewayName}}},
			Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(host)},
			Rules: []gwapiv1.HTTPRouteRule{{
				Matches: []gwapiv1.HTTPRouteMatch{match},
				BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
					BackendObjectReference: gwapiv1.BackendObjectReference{Name: serviceName, Port: ptr(gwapiv1.PortNumber(80))},
				}}},
			}},
		},
	}
}

// baseHost is the hostname of the i-th route that exists all along.
func baseHost(i int) string { return fmt.Sprintf("r%d.example.com", i) }

// objects are the world's objects, the routes last (the namespace is not
// among them).
func (w *world) objects() []client.Object {
	objs := []client.Object{
		w.gatewayClass(), w.gateway(),
		w.secret(wildcardSecret, w.wildcard), w.secret(rotSecret, w.rot[0]),
		w.service(), w.endpointSlice(),
	}
	for i := range w.routes {
		objs = append(objs, w.route(fmt.Sprintf("r%d", i), baseHost(i), false))
	}
	return objs
}

// fileName is where the file source keeps obj: one file per object,
// named after its kind and name.
func fileName(obj client.Object) string {
	return strings.ToLower(obj.GetObjectKind().GroupVersionKind().Kind) + "-" + obj.GetName() + ".yaml"
}

// manifest is obj as a manifest kubectl would apply: no status, no
// creationTimestamp.
func manifest(obj client.Object) ([]byte, error) {
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return yaml.Marshal(m)
}
