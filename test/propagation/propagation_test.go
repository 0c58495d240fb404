package propagation

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/netns"
)

const (
	// envSamples names the environment variable holding S, the number of
	// changes of each kind.
	envSamples     = "HAGATE_PROPAGATION_SAMPLES"
	defaultSamples = 40
	// envKeep, when set, keeps hagate's state folder (and its log) after
	// a run that passed too.
	envKeep = "HAGATE_PROPAGATION_KEEP"

	// liveTimeout is how long a change may take to become live before the
	// benchmark reports an error.
	liveTimeout = 30 * time.Second
	// probeSleep is the pause between two attempts of a probe.
	probeSleep = 500 * time.Microsecond
	// spacing (plus up to spacingJitter) separates a change from the
	// previous one's becoming live, so that the source's batching (100 ms
	// of quiet in a folder) does not merge them.
	spacing       = 150 * time.Millisecond
	spacingJitter = 100 * time.Millisecond
	// drainWait is how long old HAProxy workers are given to exit once
	// the background load has closed its connections.
	drainWait = 5 * time.Second
	// startTimeout bounds hagate's start (and, in kube mode, every route
	// getting its status).
	startTimeout = 10 * time.Minute
)

// Change kinds, in the order they are measured.
const (
	kindAdd    = "add"
	kindHeader = "header"
	kindDelete = "delete"
	kindRotate = "rotate"
)

// BenchmarkPropagation measures how long a change takes to become live
// through the real hagate binary, under background load, and counts the
// background requests that fail meanwhile. See the package documentation
// (doc.go) for what it does and what each figure means.
//
//	go test ./test/propagation -run '^$' -bench Propagation -benchtime 1x -timeout 60m
func BenchmarkPropagation(b *testing.B) {
	samples := defaultSamples
	if v := os.Getenv(envSamples); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive number", envSamples, v)
		}
		samples = n
	}
	for _, mode := range []string{"file", "kube"} {
		b.Run("mode="+mode, func(b *testing.B) {
			for _, routes := range []int{3000, 10000} {
				b.Run(fmt.Sprintf("routes=%d", routes), func(b *testing.B) {
					res := &result{}
					for range b.N {
						propagate(b, mode, routes, samples, res)
					}
					res.report(b)
				})
			}
		})
	}
}

// kindResult is what one kind of change measured.
type kindResult struct {
	name     string
	took     []time.Duration // from the change stored to live, per change that became live
	timeouts int             // changes not live within liveTimeout
	// Deltas of hagate's metrics over the kind's changes: applies made
	// through the Runtime API, confirmed reloads, failed applies.
	runtime, reloads, failures float64
}

// result accumulates runs (one per b.N).
type result struct {
	kinds []*kindResult
	load  map[string]*loadResult
	// errLines are hagate's log lines carrying an error (the first few),
	// errCount how many there were.
	errLines []string
	errCount int
	// oldWorkers is the most old HAProxy workers still running drainWait
	// after the load stopped.
	oldWorkers int
}

type loadResult struct{ requests, failed, resets, closes, conns int64 }

func (r *result) kind(name string) *kindResult {
	for _, k := range r.kinds {
		if k.name == name {
			return k
		}
	}
	k := &kindResult{name: name}
	r.kinds = append(r.kinds, k)
	return k
}

// run is one world, one hagate, one set of measured changes.
type run struct {
	b        *testing.B
	mode     string
	w        *world
	h        *hagate
	src      source
	samples  int
	httpAddr string
	// httpsAddr serves *.example.com and rot.example.com.
	httpsAddr string
}

// propagate builds the world, starts hagate on it, waits until it serves,
// then makes the measured changes under background load.
func propagate(b *testing.B, mode string, routes, samples int, res *result) {
	b.StopTimer()
	ctx := context.Background()
	var kc client.Client
	var kcfg string
	if mode == "kube" {
		cl := kubeCluster(b) // skips when there is no API server
		c, err := client.New(cl.Config, client.Options{Scheme: scheme()})
		if err != nil {
			b.Fatal(err)
		}
		kc, kcfg = c, cl.Kubeconfig
	}
	bin := hagateBinary(b)
	haproxyBin := haproxytest.Binary(b)
	httpPort, httpsPort, metricsPort := haproxytest.FreePort(b), haproxytest.FreePort(b), haproxytest.FreePort(b)

	// The backend: on 127.0.0.1 in file mode; the API server refuses
	// loopback addresses in EndpointSlices, so in kube mode it listens on
	// a test host (a network namespace) instead.
	backendIP, backendPort := "127.0.0.1", 0
	ns := "default"
	if mode == "file" {
		backendPort = backend.Start(b, "web").Port
	} else {
		host := netns.New(b, "")
		ln := host.Listen(b, "tcp", host.Addr+":8080")
		srv := &http.Server{Handler: backend.Handler("web"), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { srv.Close() })
		backendIP, backendPort = host.Addr, 8080
		ns = fmt.Sprintf("prop-%d-%06x", routes, rand.IntN(1<<24))
	}
	w := newWorld(b, ns, routes, samples, backendIP, backendPort, httpPort, httpsPort)

	state, err := os.MkdirTemp("", "hagate-prop-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("kept hagate's state folder %s", state)
			return
		}
		if os.Getenv(envKeep) != "" {
			logf(b, "kept hagate's state folder %s (%s is set)", state, envKeep)
			return
		}
		_ = os.RemoveAll(state)
	})
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(metricsPort))
	args := []string{"run", "--state-dir", state, "--bind-address", "127.0.0.1",
		"--metrics-bind-address", metricsAddr, "--haproxy-bin", haproxyBin}

	r := &run{b: b, mode: mode, w: w, samples: samples,
		httpAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		httpsAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpsPort))}
	objs := w.objects()
	t0 := time.Now()
	switch mode {
	case "file":
		dir := b.TempDir()
		fs := fileSource{dir: dir}
		if err := fs.populate(objs); err != nil {
			b.Fatal(err)
		}
		logf(b, "wrote %d files into %s in %s", len(objs), dir, time.Since(t0).Round(time.Millisecond))
		r.src = fs
		args = append(args, "--source-dir", dir)
	case "kube":
		ks := kubeSource{c: kc}
		// Registered before hagate starts, so it runs after hagate stops.
		b.Cleanup(func() { ks.cleanup(b, ns) })
		logf(b, "creating the namespace %s and %d objects", ns, len(objs))
		ks.populate(b, ns, objs)
		r.src = ks
		args = append(args, "--kubeconfig", kcfg, "--gateway", ns+"/"+gatewayName, "--gateway-address", "127.0.0.1")
	}

	t1 := time.Now()
	r.h = startHagate(b, bin, state, metricsAddr, args...)
	r.waitServing()
	logf(b, "hagate serving %d routes %s after it started (log: %s)", routes, time.Since(t1).Round(time.Millisecond), r.h.logPath)
	statuses := func(when string, total int) {
		if mode != "kube" {
			return
		}
		if n, err := accepted(ctx, kc, ns); err != nil {
			logf(b, "statuses %s: %v", when, err)
		} else {
			logf(b, "%d of %d routes have Accepted in their status %s", n, total, when)
		}
	}
	statuses("when measuring starts", routes)

	l := startLoad(loadTarget{httpAddr: r.httpAddr, httpsAddr: r.httpsAddr, roots: w.ca.Pool(), routes: routes})
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			l.stop()
		}
	}
	b.Cleanup(stopLoad) // on a Fatal
	time.Sleep(500 * time.Millisecond)

	b.StartTimer()
	r.measureAll(ctx, res)
	b.StopTimer()
	stopLoad()
	if err := r.h.exited(); err != nil {
		b.Error(err)
	}
	res.oldWorkers = max(res.oldWorkers, r.drained())
	statuses("when measuring ends", routes+samples) // the header routes stay

	if res.load == nil {
		res.load = map[string]*loadResult{}
	}
	for _, k := range loadKinds {
		s := l.stats[k]
		lr := res.load[k]
		if lr == nil {
			lr = &loadResult{}
			res.load[k] = lr
		}
		lr.requests += s.requests.Load()
		lr.failed += s.failed.Load()
		lr.resets += s.resets.Load()
		lr.closes += s.closes.Load()
		lr.conns += s.conns.Load()
		if len(s.failures) > 0 {
			logf(b, "background %s failures (first %d of %d):\n  %s", k, len(s.failures), s.failed.Load(), strings.Join(s.failures, "\n  "))
		}
	}
	lines, n := r.h.errorLines(10)
	res.errLines = append(res.errLines, lines...)
	res.errCount += n
}

// waitServing waits until hagate serves: a sample of 20 routes answers 200
// over HTTP, 3 of them over HTTPS, and rot.example.com presents its
// first certificate.
func (r *run) waitServing() {
	b := r.b
	deadline := time.Now().Add(startTimeout)
	httpc := backend.NewClient(backend.ClientOptions{DialAddr: r.httpAddr})
	httpsc := backend.NewClient(backend.ClientOptions{DialAddr: r.httpsAddr, RootCAs: r.w.ca.Pool()})
	defer httpc.CloseIdleConnections()
	defer httpsc.CloseIdleConnections()
	wait := func(what string, ok func() bool) {
		for !ok() {
			if err := r.h.exited(); err != nil {
				b.Fatal(err)
			}
			if time.Now().After(deadline) {
				b.Fatalf("hagate not serving after %s: %s", startTimeout, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var sample []int
	for j := range 20 {
		sample = append(sample, j*r.w.routes/20)
	}
	sample = append(sample, r.w.routes-1)
	for _, i := range sample {
		wait("http://"+baseHost(i), func() bool { return status(httpc, "http", r.httpAddr, baseHost(i), false) == http.StatusOK })
	}
	for _, i := range sample[:3] {
		wait("https://"+baseHost(i), func() bool { return status(httpsc, "https", r.httpsAddr, baseHost(i), false) == http.StatusOK })
	}
	wait("the first certificate of "+rotHost, func() bool { return r.servesRot(0) })
}

// drained returns how many old HAProxy workers (from reloads) are still
// running drainWait after the background load stopped and closed its
// connections, and logs it with the number when measuring ended.
func (r *run) drained() int {
	n := r.h.haproxyWorkers()
	start := time.Now()
	for r.h.haproxyWorkers() > 1 && time.Since(start) < drainWait {
		time.Sleep(100 * time.Millisecond)
	}
	left := r.h.haproxyWorkers()
	logf(r.b, "HAProxy workers when measuring ended: %d; %s after the load stopped: %d", n, time.Since(start).Round(100*time.Millisecond), left)
	return max(left-1, 0)
}

// scheme holds the kinds the benchmark creates. The benchmark imports no
// hagate package: it drives the binary only.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = gwapiv1.Install(s)
	return s
}

// accepted counts the routes of ns with hagate's Accepted=True in their
// status. hagate writes statuses off the path of a change going live, so
// the benchmark does not wait for them; it says how far they got.
func accepted(ctx context.Context, c client.Client, ns string) (int, error) {
	var list gwapiv1.HTTPRouteList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	n := 0
	for _, rt := range list.Items {
		for _, p := range rt.Status.Parents {
			if p.ControllerName == controllerName && hasTrue(p.Conditions, string(gwapiv1.RouteConditionAccepted)) {
				n++
				break
			}
		}
	}
	return n, nil
}

func hasTrue(conds []metav1.Condition, typ string) bool {
	for _, c := range conds {
		if c.Type == typ && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

// status sends GET / for host through addr and returns the status, 0 on
// error. canary adds x-canary: 1.
func status(c *http.Client, scheme, addr, host string, canary bool) int {
	_, port, _ := net.SplitHostPort(addr)
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+net.JoinHostPort(host, port)+"/", nil)
	if err != nil {
		return 0
	}
	if canary {
		req.Header.Set(canaryHeader, "1")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// servesRot reports whether a new TLS handshake for SNI rot.example.com
// presents rot certificate k.
func (r *run) servesRot(k int) bool {
	cert, err := backend.TLSHandshake(r.httpsAddr, rotHost, &tls.Config{InsecureSkipVerify: true})
	return err == nil && cert.SerialNumber.Cmp(r.w.rot[k].Cert.SerialNumber) == 0
}

// measureAll makes the S changes of each kind, in order: add a route on a
// new hostname n<k>, add a route with a header match on a new hostname
// c<k>, delete the routes n<k>, rotate the rot.example.com certificate.
func (r *run) measureAll(ctx context.Context, res *result) {
	w := r.w
	added := make([]client.Object, r.samples)

	probe := backend.NewClient(backend.ClientOptions{DialAddr: r.httpAddr})
	r.measure(res.kind(kindAdd), func(k int) error {
		added[k] = w.route(fmt.Sprintf("n%d", k), newHost(k), false)
		return r.src.create(ctx, added[k])
	}, func(k int) bool { return status(probe, "http", r.httpAddr, newHost(k), false) == http.StatusOK })
	probe.CloseIdleConnections()

	probe = backend.NewClient(backend.ClientOptions{DialAddr: r.httpAddr})
	r.measure(res.kind(kindHeader), func(k int) error {
		return r.src.create(ctx, w.route(fmt.Sprintf("c%d", k), canaryHost(k), true))
	}, func(k int) bool { return status(probe, "http", r.httpAddr, canaryHost(k), true) == http.StatusOK })
	probe.CloseIdleConnections()

	probe = backend.NewClient(backend.ClientOptions{DialAddr: r.httpAddr})
	r.measure(res.kind(kindDelete), func(k int) error {
		return r.src.delete(ctx, added[k])
	}, func(k int) bool { return status(probe, "http", r.httpAddr, newHost(k), false) == http.StatusNotFound })
	probe.CloseIdleConnections()

	r.measure(res.kind(kindRotate), func(k int) error {
		return r.src.update(ctx, w.secret(rotSecret, w.rot[k+1]))
	}, func(k int) bool { return r.servesRot(k + 1) })
}

func newHost(k int) string    { return fmt.Sprintf("n%d.example.com", k) }
func canaryHost(k int) string { return fmt.Sprintf("c%d.example.com", k) }

// measure makes S changes with change and times each until live says so,
// polling with fresh requests (probeSleep apart). It reads hagate's
// metrics before and after, for the applies the kind took.
func (r *run) measure(kr *kindResult, change func(k int) error, live func(k int) bool) {
	b := r.b
	before, err := r.h.scrape()
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	for k := range r.samples {
		if err := change(k); err != nil {
			b.Fatalf("%s #%d: %v", kr.name, k, err)
		}
		start := time.Now()
		for {
			if live(k) {
				kr.took = append(kr.took, time.Since(start))
				break
			}
			if err := r.h.exited(); err != nil {
				b.Fatalf("%s #%d: %v", kr.name, k, err)
			}
			if time.Since(start) > liveTimeout {
				kr.timeouts++
				b.Errorf("%s #%d: the change was not live %s after it was stored", kr.name, k, liveTimeout)
				break
			}
			time.Sleep(probeSleep)
		}
		time.Sleep(spacing + rand.N(spacingJitter))
	}
	after, err := r.h.scrape()
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	kr.runtime += after[mRuntimeApplies] - before[mRuntimeApplies]
	kr.reloads += after[mReloads] - before[mReloads]
	kr.failures += after[mApplyFailures] - before[mApplyFailures]
	if d := after[mHAProxyRestarts] - before[mHAProxyRestarts]; d > 0 {
		b.Errorf("HAProxy exited on its own %v times during the %s changes", d, kr.name)
	}
}

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// report writes the metrics and the tables.
func (res *result) report(b *testing.B) {
	if len(res.kinds) == 0 {
		return
	}
	var t strings.Builder
	tw := tabwriter.NewWriter(&t, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "change\tsamples\tp50 ms\tp90 ms\tp99 ms\tmax ms\tnot live in 30s\truntime applies\treloads\tfailed applies\t")
	for _, k := range res.kinds {
		s := slices.Clone(k.took)
		slices.Sort(s)
		p50, p90, p99, mx := percentile(s, .5), percentile(s, .9), percentile(s, .99), percentile(s, 1)
		b.ReportMetric(ms(p50), k.name+"-p50-ms")
		b.ReportMetric(ms(p90), k.name+"-p90-ms")
		b.ReportMetric(ms(p99), k.name+"-p99-ms")
		b.ReportMetric(ms(mx), k.name+"-max-ms")
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%.0f\t%.0f\t%.0f\t\n",
			k.name, len(s), ms(p50), ms(p90), ms(p99), ms(mx), k.timeouts, k.runtime, k.reloads, k.failures)
	}
	fmt.Fprintln(tw, "\t")
	fmt.Fprintln(tw, "background client\trequests\tfailed\tresets\tconnections\tConnection: close\t")
	var tot loadResult
	for _, name := range loadKinds {
		l := res.load[name]
		if l == nil {
			continue
		}
		tot.requests += l.requests
		tot.failed += l.failed
		tot.resets += l.resets
		tot.conns += l.conns
		tot.closes += l.closes
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", name, l.requests, l.failed, l.resets, l.conns, l.closes)
		b.ReportMetric(float64(l.requests), "bg-requests-"+name)
		b.ReportMetric(float64(l.failed), "bg-failed-"+name)
		b.ReportMetric(float64(l.resets), "bg-resets-"+name)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t\n", tot.requests, tot.failed, tot.resets, tot.conns, tot.closes)
	tw.Flush()
	b.ReportMetric(float64(tot.requests), "bg-requests")
	b.ReportMetric(float64(tot.failed), "bg-failed")
	b.ReportMetric(float64(tot.resets), "bg-resets")
	b.ReportMetric(float64(res.oldWorkers), "old-workers")
	logf(b, "propagation, from the change stored to live (S=%d per kind):\n%s", len(res.kinds[0].took)+res.kinds[0].timeouts, t.String())
	if res.errCount > 0 {
		logf(b, "hagate logged %d error lines; the first:\n  %s", res.errCount, strings.Join(res.errLines, "\n  "))
	} else {
		logf(b, "hagate logged no error")
	}
}

// logf prints a progress or report line on standard output, at once and
// whole: the testing package keeps a benchmark's b.Logf output until it
// ends and then shows its first 10 lines only (all of it when it fails).
func logf(b testing.TB, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	msg = strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", "\n        ")
	fmt.Printf("    %s %s: %s\n", time.Now().Format("15:04:05"), b.Name(), msg)
}
