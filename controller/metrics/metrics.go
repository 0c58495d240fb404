// Package metrics owns hagate's Prometheus metrics and its HTTP endpoints
// (/metrics, /healthz, /readyz).
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hagate.io/hagate/render/ir"
)

// Metrics are hagate's metrics. They implement haproxy.Observer.
type Metrics struct {
	// Registry holds the metrics (and Go's and the process's).
	Registry *prometheus.Registry

	reloads        prometheus.Counter
	runtimeUpdates *prometheus.CounterVec
	applyFailures  prometheus.Counter
	applyDuration  *prometheus.HistogramVec
	renderDuration prometheus.Histogram
	droppedLogs    prometheus.Counter
	mirrorCopies   *prometheus.CounterVec
	certs          *certCollector

	// Profiling serves Go's profiles under /debug/pprof/ (set before
	// Serve).
	Profiling bool

	ready    atomic.Pointer[func(context.Context) error]
	restarts atomic.Pointer[func() int]
}

// New registers hagate's metrics in a new registry.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.reloads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hagate_haproxy_reloads_total", Help: "HAProxy reloads hagate made (confirmed by the master).",
	})
	m.runtimeUpdates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hagate_haproxy_runtime_updates_total", Help: "Changes made through the HAProxy Runtime API, without a reload, by kind.",
	}, []string{"kind"})
	for _, k := range []string{"cert", "crtlist", "cafile", "server", "map"} {
		m.runtimeUpdates.WithLabelValues(k)
	}
	m.applyFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hagate_apply_failures_total", Help: "Applies that failed; HAProxy kept the last good configuration.",
	})
	m.applyDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hagate_apply_duration_seconds", Help: "Time to apply a configuration to HAProxy, by action (none, runtime, reload).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"action"})
	m.renderDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hagate_render_duration_seconds", Help: "Time to load the sources and render a configuration.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	m.droppedLogs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hagate_haproxy_dropped_logs_total",
		Help: "Access log lines HAProxy dropped because their destination could not take them at once (its DroppedLogs, summed over workers).",
	})
	m.mirrorCopies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hagate_mirror_copies_total",
		Help: "Copies of mirrored requests (RequestMirror) by mirror backend and result: answered (below 500), failed (5xx, timeout, no connection), dropped (the in-flight cap was reached), too_large (the body did not fit HAProxy's buffer); summed over workers.",
	}, []string{"backend", "result"})
	m.certs = &certCollector{}
	restarts := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "hagate_haproxy_restarts_total", Help: "Times the HAProxy master exited on its own and hagate started it again.",
	}, func() float64 {
		if f := m.restarts.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	m.Registry.MustRegister(m.reloads, m.runtimeUpdates, m.applyFailures, m.applyDuration, m.renderDuration, m.droppedLogs, m.mirrorCopies, restarts, m.certs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Applied records an apply.
func (m *Metrics) Applied(action string, d time.Duration, err error) {
	if action == "" {
		action = "none"
	}
	m.applyDuration.WithLabelValues(action).Observe(d.Seconds())
	if err != nil {
		m.applyFailures.Inc()
	}
}

// RuntimeUpdates counts Runtime API changes.
func (m *Metrics) RuntimeUpdates(kind string, n int) {
	m.runtimeUpdates.WithLabelValues(kind).Add(float64(n))
}

// Reloaded counts a reload.
func (m *Metrics) Reloaded() { m.reloads.Inc() }

// DroppedLogs counts access log lines HAProxy dropped.
func (m *Metrics) DroppedLogs(n uint64) { m.droppedLogs.Add(float64(n)) }

// MirrorCopies counts copies of mirrored requests to a mirror backend with
// a result (answered, failed, dropped, too_large).
func (m *Metrics) MirrorCopies(backend, result string, n uint64) {
	m.mirrorCopies.WithLabelValues(backend, result).Add(float64(n))
}

// Rendered records a render.
func (m *Metrics) Rendered(d time.Duration) { m.renderDuration.Observe(d.Seconds()) }

// SetReadiness sets what /readyz asks: nil error means HAProxy runs the
// current configuration. Until it is set, /readyz answers 503.
func (m *Metrics) SetReadiness(f func(context.Context) error) { m.ready.Store(&f) }

// SetRestarts sets where hagate_haproxy_restarts_total is read from.
func (m *Metrics) SetRestarts(f func() int) { m.restarts.Store(&f) }

// Handler serves /metrics, /healthz and /readyz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		f := m.ready.Load()
		if f == nil {
			http.Error(w, "hagate is starting", http.StatusServiceUnavailable)
			return
		}
		if err := (*f)(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if m.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Serve serves Handler on addr until ctx is done. It returns once the
// listener is bound (or failed to bind).
func (m *Metrics) Serve(ctx context.Context, addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err
		}
	}()
	return ln.Addr(), nil
}

// SetCertificateDates replaces the certificate gauges with the dates of
// what HAProxy now serves (a scrape sees the old set or the new one).
func (m *Metrics) SetCertificateDates(dates []ir.CertificateDate) {
	m.certs.mu.Lock()
	m.certs.dates = dates
	m.certs.mu.Unlock()
}

// certCollector exports a series per served certificate and use; alert
// on hagate_certificate_expiry_timestamp_seconds - time() < 14 * 86400.
type certCollector struct {
	mu    sync.Mutex
	dates []ir.CertificateDate
}

var (
	certLabels    = []string{"use", "kind", "namespace", "name", "gateway", "listener", "listener_set", "subject"}
	certNotAfter  = prometheus.NewDesc("hagate_certificate_expiry_timestamp_seconds", "NotAfter of each certificate HAProxy serves (use: listener, backend-client; for a CA bundle, use ca: its certificate that expires first), in seconds since the epoch.", certLabels, nil)
	certNotBefore = prometheus.NewDesc("hagate_certificate_not_before_timestamp_seconds", "NotBefore of each certificate HAProxy serves (labels as hagate_certificate_expiry_timestamp_seconds), in seconds since the epoch.", certLabels, nil)
)

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- certNotAfter
	ch <- certNotBefore
}

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	dates := c.dates
	c.mu.Unlock()
	seen := map[string]bool{}
	for _, d := range dates {
		l := []string{d.Use, d.Kind, d.Namespace, d.Name, d.Gateway, d.Listener, d.ListenerSet, d.Subject}
		// A certificate twice on one listener (two refs to one Secret)
		// is one series.
		k := strings.Join(l, "\x00")
		if seen[k] {
			continue
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(certNotAfter, prometheus.GaugeValue, float64(d.NotAfter.Unix()), l...)
		ch <- prometheus.MustNewConstMetric(certNotBefore, prometheus.GaugeValue, float64(d.NotBefore.Unix()), l...)
	}
}
