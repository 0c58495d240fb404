package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/metricstest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/snapshot"
)

// benchWorld is a Snapshot built in code: one HTTPS port whose catch-all
// listener carries `certs` certificates (h<i>.example.com), and `routes`
// HTTPRoutes to one backend.
type benchWorld struct {
	snap  *snapshot.Snapshot
	ca    *pki.CA
	port  int
	gw    *gwapiv1.Gateway
	certs []*corev1.Secret
}

func newBenchWorld(b *testing.B, certs, routes int) *benchWorld {
	w := &benchWorld{ca: pki.NewCA(b, "bench CA"), port: haproxytest.FreePort(b)}
	be := backend.Start(b, "web")
	s := &snapshot.Snapshot{Now: time.Now()}
	s.GatewayClasses = []*gwapiv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "hagate"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: render.DefaultControllerName}}}
	w.gw = &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "default"}, Spec: gwapiv1.GatewaySpec{GatewayClassName: "hagate"}}
	l := gwapiv1.Listener{Name: "https", Port: gwapiv1.PortNumber(w.port), Protocol: gwapiv1.HTTPSProtocolType, TLS: &gwapiv1.ListenerTLSConfig{}}
	for i := range certs {
		name := fmt.Sprintf("cert%d", i)
		w.certs = append(w.certs, w.secret(b, name, fmt.Sprintf("h%d.example.com", i)))
		l.TLS.CertificateRefs = append(l.TLS.CertificateRefs, gwapiv1.SecretObjectReference{Name: gwapiv1.ObjectName(name)})
	}
	w.gw.Spec.Listeners = []gwapiv1.Listener{l}
	s.Gateways = []*gwapiv1.Gateway{w.gw}
	s.Secrets = w.certs
	pn, port := "http", int32(be.Port)
	s.Services = []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}}
	s.EndpointSlices = []*discoveryv1.EndpointSlice{{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &pn, Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}}},
	}}
	for i := range routes {
		s.HTTPRoutes = append(s.HTTPRoutes, benchRoute(i))
	}
	w.snap = s
	return w
}

func benchRoute(i int) *gwapiv1.HTTPRoute {
	prefix := gwapiv1.PathMatchPathPrefix
	path := fmt.Sprintf("/r%d", i)
	port := gwapiv1.PortNumber(80)
	return &gwapiv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("r%d", i), Namespace: "default"},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
			Rules: []gwapiv1.HTTPRouteRule{{
				Matches:     []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: &path}}},
				BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: "web", Port: &port}}}},
			}},
		},
	}
}

func (w *benchWorld) secret(b *testing.B, name, host string) *corev1.Secret {
	leaf := w.ca.Issue(b, pki.LeafOptions{DNSNames: []string{host}})
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: leaf.CertPEM, corev1.TLSPrivateKeyKey: leaf.KeyPEM},
	}
}

func startBenchAgent(b *testing.B, w *benchWorld) (*agent.Agent, *metrics.Metrics, time.Duration) {
	m := metrics.New()
	a, err := agent.New(agent.Options{StateDir: b.TempDir(), HAProxyBinary: haproxytest.Binary(b), BindAddress: "127.0.0.1", Log: logr.Discard(), Metrics: m, HAProxyOutput: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	if _, err := a.Start(ctx, w.snap); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.Cleanup(func() { cancel(); a.Wait() })
	return a, m, took
}

// BenchmarkCertRotation measures one certificate rotation with 10, 1,000
// and 5,000 certificates loaded: from handing the new Snapshot to the agent
// to a TLS client being served the new certificate. It must stay a Runtime
// API change (reloads reported: 0), whatever the number of certificates.
//
//	go test ./test/e2e -run '^$' -bench CertRotation -benchtime 20x
func BenchmarkCertRotation(b *testing.B) {
	for _, n := range []int{10, 1000, 5000} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			w := newBenchWorld(b, n, 1)
			a, m, startTook := startBenchAgent(b, w)
			addr := fmt.Sprintf("127.0.0.1:%d", w.port)
			target := n / 2
			host := fmt.Sprintf("h%d.example.com", target)
			reloads := metricstest.Counter(b, m.Registry, "hagate_haproxy_reloads_total", "")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				w.certs[target] = w.secret(b, fmt.Sprintf("cert%d", target), host)
				w.snap.Secrets = w.certs
				want := w.certs[target].Data[corev1.TLSCertKey]
				b.StartTimer()
				if _, res, err := a.Update(context.Background(), w.snap); err != nil || res.Action != haproxy.ActionRuntime {
					b.Fatalf("update: %v %+v", err, res)
				}
				for {
					c, err := backend.TLSHandshake(addr, host, &tls.Config{InsecureSkipVerify: true})
					if err == nil && bytes.Equal(c.Raw, firstDER(want)) {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			b.StopTimer()
			if r := metricstest.Counter(b, m.Registry, "hagate_haproxy_reloads_total", ""); r != reloads {
				b.Errorf("%v reloads during rotations", r-reloads)
			}
			b.ReportMetric(metricstest.Counter(b, m.Registry, "hagate_haproxy_reloads_total", "")-reloads, "reloads")
			b.ReportMetric(metricstest.HistogramMeanMillis(b, m.Registry, "hagate_apply_duration_seconds", "runtime"), "runtime-apply-ms")
			b.ReportMetric(metricstest.HistogramMeanMillis(b, m.Registry, "hagate_render_duration_seconds", ""), "render-ms")
			b.ReportMetric(startTook.Seconds(), "haproxy-start-s")
		})
	}
}

// BenchmarkReload measures a reload (a route with a header match added)
// with 10 and 1,000 routes, while four clients send requests in a loop, and reports the
// requests that failed (the target is zero).
//
//	go test ./test/e2e -run '^$' -bench Reload -benchtime 10x
func BenchmarkReload(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			w := newBenchWorld(b, 1, n)
			a, m, _ := startBenchAgent(b, w)
			var ok, failed atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func(keepAlive bool) {
					defer wg.Done()
					c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
						TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: !keepAlive}}
					for {
						select {
						case <-stop:
							return
						default:
						}
						resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/r0", w.port))
						if err != nil || resp.StatusCode != 200 {
							failed.Add(1)
						} else {
							ok.Add(1)
						}
						if resp != nil {
							resp.Body.Close()
						}
					}
				}(i%2 == 0)
			}
			reloads := metricstest.Counter(b, m.Registry, "hagate_haproxy_reloads_total", "")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A header match is a line of haproxy.cfg: a reload (a
				// path-only route is a Runtime API change).
				rt := benchRoute(n + i)
				rt.Spec.Rules[0].Matches[0].Headers = []gwapiv1.HTTPHeaderMatch{{Name: "x-variant", Value: fmt.Sprintf("v%d", i)}}
				w.snap.HTTPRoutes = append(w.snap.HTTPRoutes, rt)
				if _, res, err := a.Update(context.Background(), w.snap); err != nil || res.Action != haproxy.ActionReload {
					b.Fatalf("update: %v %+v", err, res)
				}
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(metricstest.Counter(b, m.Registry, "hagate_haproxy_reloads_total", "")-reloads, "reloads")
			b.ReportMetric(metricstest.HistogramMeanMillis(b, m.Registry, "hagate_apply_duration_seconds", "reload"), "reload-apply-ms")
			b.ReportMetric(float64(ok.Load()), "requests-ok")
			b.ReportMetric(float64(failed.Load()), "requests-failed")
			if failed.Load() > 0 {
				b.Errorf("%d requests failed during %d reloads", failed.Load(), b.N)
			}
		})
	}
}

// firstDER is the DER of the first PEM block.
func firstDER(data []byte) []byte {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil
	}
	return b.Bytes
}
