package kube

import (
	"os"

	"context"
	"encoding/base64"
	"fmt"
	"github.com/go-logr/logr/funcr"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/controller"
	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/netns"
	"hagate.io/hagate/internal/testutil/pki"
)

// BenchmarkConvergence applies 100 certificates (two Gateways of 50 HTTPS
// listeners, each with its own Secret) and N HTTPRoutes in one go, and
// measures the time until every route is Accepted in its status and served
// (a request to each of a sample of routes gets its backend). It reports
// routes per second and the Go heap of the controller (with the agent)
// once converged.
//
//	go test ./test/kube -run '^$' -bench Convergence -benchtime 1x
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				converge(b, n, fmt.Sprintf("conv%d-%d", n, i))
			}
		})
	}
}

func converge(b *testing.B, routes int, ns string) {
	b.StopTimer()
	host := netns.New(b, "")
	ln := host.Listen(b, "tcp", host.Addr+":8080")
	srv := &http.Server{Handler: backend.Handler("web")}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { srv.Close() })
	ca := pki.NewCA(b, "convergence CA")
	port := haproxytest.FreePort(b)

	var y strings.Builder
	fmt.Fprintf(&y, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", ns)
	fmt.Fprintf(&y, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: hagate}\nspec: {controllerName: hagate.io/gateway-controller}\n")
	for g := 0; g < 2; g++ {
		fmt.Fprintf(&y, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw%d, namespace: %s}\nspec:\n  gatewayClassName: hagate\n  listeners:\n", g, ns)
		for l := g * 50; l < (g+1)*50; l++ {
			fmt.Fprintf(&y, "  - {name: l%d, port: %d, protocol: HTTPS, hostname: h%d.example.com, tls: {certificateRefs: [{name: c%d}]}}\n", l, port, l, l)
		}
	}
	for l := 0; l < 100; l++ {
		leaf := ca.Issue(b, pki.LeafOptions{DNSNames: []string{fmt.Sprintf("h%d.example.com", l)}})
		fmt.Fprintf(&y, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: c%d, namespace: %s}\ntype: kubernetes.io/tls\ndata: {tls.crt: %s, tls.key: %s}\n",
			l, ns, base64.StdEncoding.EncodeToString(leaf.CertPEM), base64.StdEncoding.EncodeToString(leaf.KeyPEM))
	}
	fmt.Fprintf(&y, "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: %s}\nspec: {ports: [{name: http, port: 80, targetPort: 8080}]}\n", ns)
	fmt.Fprintf(&y, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: %s, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints: [{addresses: [%s]}]\n", ns, host.Addr)
	for r := 0; r < routes; r++ {
		l := r % 100
		fmt.Fprintf(&y, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r%d, namespace: %s}\nspec:\n  parentRefs: [{name: gw%d, sectionName: l%d}]\n  rules: [{matches: [{path: {type: PathPrefix, value: /r%d}}], backendRefs: [{name: web, port: 80}]}]\n", r, ns, l/50, l, r)
	}

	m := metrics.New()
	a, err := agent.New(agent.Options{StateDir: b.TempDir(), HAProxyBinary: haproxytest.Binary(b), BindAddress: "127.0.0.1", Log: benchLog(), Metrics: m, HAProxyOutput: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := controller.Run(ctx, controller.Options{Config: cluster.Config, Agent: a, GatewayAddress: "127.0.0.1", Log: benchLog()}); err != nil && ctx.Err() == nil {
			b.Errorf("controller: %v", err)
		}
		a.Wait()
	}()
	defer func() { cancel(); <-done }()

	c, err := client.New(cluster.Config, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	objs := decodeAll(b, y.String())
	b.StartTimer()
	start := time.Now()
	createAll(b, c, objs)
	applied := time.Since(start)
	// Accepted: every route has our parent entry with Accepted=True.
	for {
		var list gwapiv1.HTTPRouteList
		if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		accepted := 0
		for _, rt := range list.Items {
			for _, p := range rt.Status.Parents {
				for _, cd := range p.Conditions {
					if cd.Type == string(gwapiv1.RouteConditionAccepted) && cd.Status == metav1.ConditionTrue {
						accepted++
					}
				}
			}
		}
		if accepted == routes {
			break
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("only %d of %d routes Accepted after 10 minutes", accepted, routes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Served: a sample of routes answers through HAProxy.
	for r := 0; r < routes; r += routes / 20 {
		sni := fmt.Sprintf("h%d.example.com", r%100)
		hc := backend.NewClient(backend.ClientOptions{ServerName: sni, RootCAs: ca.Pool(), DialAddr: fmt.Sprintf("127.0.0.1:%d", port)})
		for {
			resp, err := hc.Get(fmt.Sprintf("https://%s:%d/r%d", sni, port, r))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("route %d not served after 10 minutes", r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	took := time.Since(start)
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(routes)/took.Seconds(), "routes/s")
	b.ReportMetric(took.Seconds(), "converge-s")
	b.ReportMetric(applied.Seconds(), "create-s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	cluster.Kubectl(b, "delete", "namespace", ns, "--wait=false")
}

// decodeAll turns multi-document YAML into objects.
func decodeAll(b *testing.B, y string) []client.Object {
	var out []client.Object
	dec := serializer.NewCodecFactory(controller.Scheme()).UniversalDeserializer()
	for _, doc := range strings.Split(y, "\n---\n") {
		o, _, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			b.Fatalf("decode: %v\n%s", err, doc)
		}
		out = append(out, o.(client.Object))
	}
	return out
}

// createAll creates the objects, 16 at a time, namespaces and classes
// first.
func createAll(b *testing.B, c client.Client, objs []client.Object) {
	ctx := context.Background()
	first, rest := objs[:2], objs[2:]
	for _, o := range first {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			b.Fatal(err)
		}
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, o := range rest {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.Create(ctx, o); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
}

// benchLog logs to stderr when HAGATE_BENCH_LOG is set.
func benchLog() logr.Logger {
	if os.Getenv("HAGATE_BENCH_LOG") == "" {
		return logr.Discard()
	}
	return funcr.NewJSON(func(o string) { fmt.Fprintln(os.Stderr, time.Now().Format("15:04:05.000"), o) }, funcr.Options{Verbosity: 1})
}
