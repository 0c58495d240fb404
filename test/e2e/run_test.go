package e2e

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/metricstest"
	"hagate.io/hagate/internal/testutil/pki"
)

// runGateway is the source folder's Gateway: a catch-all HTTPS listener
// (its certificates chosen by SNI) and a plain HTTP listener.
const runGateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: hagate
  listeners:
  - name: https
    port: {{.HTTPS}}
    protocol: HTTPS
    tls: {certificateRefs: [{{range $i, $c := .Certs}}{{if $i}}, {{end}}{name: {{$c}}}{{end}}]}
  - {name: http, port: {{.HTTP}}, protocol: HTTP}
`

const runSecret = `
apiVersion: v1
kind: Secret
metadata: {name: {{.Name}}, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: {{.Crt}}, tls.key: {{.Key}}}
`

const runService = `
apiVersion: v1
kind: Service
metadata: {name: {{.Name}}, namespace: default}
spec: {ports: [{name: http, port: 80, targetPort: {{.Port}}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: {{.Name}}-1, namespace: default, labels: {kubernetes.io/service-name: {{.Name}}}}
addressType: IPv4
ports: [{name: http, port: {{.Port}}}]
endpoints: [{addresses: [127.0.0.1]}]
`

const runRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: {{.Name}}, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: {{.Path}}}}]
    backendRefs: [{name: {{.Service}}, port: 80}]
`

// runEnv is hagate run --source-dir on a temporary folder, in process.
type runEnv struct {
	t           *testing.T
	dir         string
	state       string
	http, https int
	ca          *pki.CA
	m           *metrics.Metrics
	a           *agent.Agent
	cancel      context.CancelFunc
	done        chan struct{}
	// logs keeps the agent's log lines (startRun only; nil otherwise).
	logs *logLines
}

func (e *runEnv) write(name, tmpl string, data any) {
	e.t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("").Parse(tmpl)).Execute(&b, data); err != nil {
		e.t.Fatal(err)
	}
	// Written beside, then renamed: the watcher sees one complete file.
	tmp := filepath.Join(e.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.dir, name)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *runEnv) secret(name string, leaf *pki.Leaf) {
	e.write(name+".yaml", runSecret, map[string]string{
		"Name": name, "Crt": base64.StdEncoding.EncodeToString(leaf.CertPEM), "Key": base64.StdEncoding.EncodeToString(leaf.KeyPEM),
	})
}

func (e *runEnv) gateway(certs ...string) {
	e.write("gateway.yaml", runGateway, map[string]any{"HTTPS": e.https, "HTTP": e.http, "Certs": certs})
}

// workers returns the PIDs of HAProxy's current workers.
func (e *runEnv) workers() []int {
	procs, err := e.a.Process().CLI().ShowProc(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var pids []int
	for _, p := range procs {
		if p.Type == "worker" && !p.Old {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// counter reads a counter of the run's metrics.
func (e *runEnv) counter(name, label string) float64 {
	return metricstest.Counter(e.t, e.m.Registry, name, label)
}

// applies counts the applies the agent made (whatever their action,
// "none" included): one more means a Snapshot read after that went
// through.
func (e *runEnv) applies() uint64 {
	e.t.Helper()
	mfs, err := e.m.Registry.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == "hagate_apply_duration_seconds" {
			for _, m := range mf.Metric {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// eventually polls cond every 20ms for up to d and says how long it took.
func eventually(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start), true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start), cond()
}

func startRun(t *testing.T) *runEnv { return startRunWith(t, nil) }

// startRunWith is startRun with agent options changed by opts.
func startRunWith(t *testing.T, opts func(*agent.Options)) *runEnv {
	e := &runEnv{t: t, dir: t.TempDir(), state: t.TempDir(), ca: pki.NewCA(t, "run CA"),
		http: haproxytest.FreePort(t), https: haproxytest.FreePort(t), m: metrics.New(), done: make(chan struct{})}
	e.secret("default-cert", e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}}))
	e.gateway("default-cert")
	web := backend.Start(t, "web")
	e.write("web.yaml", runService, map[string]any{"Name": "web", "Port": web.Port})
	e.write("route-web.yaml", runRoute, map[string]any{"Name": "web", "Path": "/", "Service": "web"})

	e.logs = &logLines{}
	// t.Log panics once the test has ended: lines after it are only kept.
	var ended atomic.Bool
	t.Cleanup(func() { ended.Store(true) })
	log := funcr.NewJSON(func(obj string) {
		e.logs.add(obj)
		if !ended.Load() {
			t.Log(obj)
		}
	}, funcr.Options{})
	o := agent.Options{StateDir: e.state, HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1", Log: log, Metrics: e.m, HAProxyOutput: io.Discard}
	if opts != nil {
		opts(&o)
	}
	a, err := agent.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	started := make(chan error, 1)
	go func() {
		defer close(e.done)
		started <- nil
		if err := a.RunDir(ctx, e.dir, agent.Debounce{Quiet: 50 * time.Millisecond, Max: 500 * time.Millisecond}); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	<-started
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			t.Error("hagate run did not stop within 30s")
		}
	})
	if _, ok := eventually(30*time.Second, func() bool { return a.Process() != nil && e.get("default.example.com", "/") == 200 }); !ok {
		t.Fatal("HAProxy did not start serving")
	}
	return e
}

// get sends one HTTPS request with the given SNI and returns its status
// (0 when the connection failed).
func (e *runEnv) get(sni, path string) int {
	c := backend.NewClient(backend.ClientOptions{ServerName: sni, RootCAs: e.ca.Pool(), DialAddr: fmt.Sprintf("127.0.0.1:%d", e.https)})
	resp, err := c.Get(fmt.Sprintf("https://%s:%d%s", sni, e.https, path))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// backendName sends one HTTPS request and returns the name of the echo
// backend that answered ("" on any failure).
func (e *runEnv) backendName(sni, path string) string {
	c := backend.NewClient(backend.ClientOptions{ServerName: sni, RootCAs: e.ca.Pool(), DialAddr: fmt.Sprintf("127.0.0.1:%d", e.https)})
	resp, err := c.Get(fmt.Sprintf("https://%s:%d%s", sni, e.https, path))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var echo backend.Echo
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&echo) != nil {
		return ""
	}
	return echo.Name
}

func (e *runEnv) servedCert(sni string) string {
	cert, err := backend.TLSHandshake(fmt.Sprintf("127.0.0.1:%d", e.https), sni, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s/%s", cert.Subject.CommonName, cert.SerialNumber)
}

func TestRunAppliesChangesLive(t *testing.T) {
	e := startRun(t)
	reloads := e.counter("hagate_haproxy_reloads_total", "")
	workers := e.workers()

	t.Run("certificate rotation without reload", func(t *testing.T) {
		before := e.servedCert("default.example.com")
		e.secret("default-cert", e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}}))
		took, ok := eventually(5*time.Second, func() bool {
			c := e.servedCert("default.example.com")
			return c != "" && c != before
		})
		if !ok {
			t.Fatalf("the rotated certificate is not served after %s", took)
		}
		// Timing is the benchmarks' business (BenchmarkCertRotation): on a
		// shared machine a test must not fail on wall-clock time.
		t.Logf("rotated certificate served after %s", took)
		if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
			t.Errorf("reloads went from %v to %v", reloads, r)
		}
		if w := e.workers(); fmt.Sprint(w) != fmt.Sprint(workers) {
			t.Errorf("workers changed from %v to %v", workers, w)
		}
		// The counter is bumped once the files are written, just after
		// HAProxy serves the new certificate.
		if _, ok := eventually(5*time.Second, func() bool { return e.counter("hagate_haproxy_runtime_updates_total", "cert") >= 1 }); !ok {
			t.Errorf("runtime cert updates = %v", e.counter("hagate_haproxy_runtime_updates_total", "cert"))
		}
	})

	t.Run("a route to a backend HAProxy has added without reload", func(t *testing.T) {
		// /api to a new Service: a new backend, so one reload.
		api := backend.Start(t, "api")
		e.write("api.yaml", runService, map[string]any{"Name": "api", "Port": api.Port})
		e.write("route-api.yaml", runRoute, map[string]any{"Name": "api", "Path": "/api", "Service": "api"})
		if _, ok := eventually(10*time.Second, func() bool { return e.backendName("default.example.com", "/api") == "api" }); !ok {
			t.Fatal("/api is not routed to the api backend")
		}
		// The reload is counted once confirmed, which may be after the new
		// worker answers.
		if _, ok := eventually(10*time.Second, func() bool { return e.counter("hagate_haproxy_reloads_total", "") > reloads }); !ok {
			t.Fatal("the new backend did not reload HAProxy")
		}
		base := e.counter("hagate_haproxy_reloads_total", "")
		maps := e.counter("hagate_haproxy_runtime_updates_total", "map")
		// /v2 to the same Service: only the maps change.
		e.write("route-v2.yaml", runRoute, map[string]any{"Name": "v2", "Path": "/v2", "Service": "api"})
		if _, ok := eventually(10*time.Second, func() bool { return e.backendName("default.example.com", "/v2/x") == "api" }); !ok {
			t.Fatal("/v2 is not routed to the api backend")
		}
		if r := e.counter("hagate_haproxy_reloads_total", ""); r != base {
			t.Errorf("reloads went from %v to %v", base, r)
		}
		if m := e.counter("hagate_haproxy_runtime_updates_total", "map"); m <= maps {
			t.Errorf("runtime map updates stayed at %v", m)
		}
		if got := e.backendName("default.example.com", "/v3"); got != "web" {
			t.Errorf("/v3 reached %q, want web (the catch-all route)", got)
		}
		// Later subtests count reloads from here.
		reloads = e.counter("hagate_haproxy_reloads_total", "")
		workers = e.workers()
	})

	t.Run("a hostname with its certificate added without reload", func(t *testing.T) {
		e.secret("shop-cert", e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"shop.example.com"}}))
		e.gateway("default-cert", "shop-cert")
		if _, ok := eventually(5*time.Second, func() bool { return strings.HasPrefix(e.servedCert("shop.example.com"), "shop.example.com/") }); !ok {
			t.Fatalf("shop.example.com's certificate is not served")
		}
		if e.get("shop.example.com", "/") != 200 {
			t.Error("shop.example.com does not verify or route")
		}
		if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
			t.Errorf("reloads went from %v to %v", reloads, r)
		}
		if w := e.workers(); fmt.Sprint(w) != fmt.Sprint(workers) {
			t.Errorf("workers changed from %v to %v", workers, w)
		}
	})

	t.Run("an invalid change leaves traffic untouched", func(t *testing.T) {
		before := e.counter("hagate_haproxy_reloads_total", "")
		applies := e.applies()
		broken := filepath.Join(e.dir, "route-web.yaml")
		e.write("route-web.yaml", "kind: [broken\n", nil)
		// The agent read the broken file (and says which) ...
		if _, ok := eventually(10*time.Second, func() bool {
			return len(e.logs.matching("bad document skipped", func(m map[string]any, _ string) bool {
				msg, _ := m["error"].(string)
				return strings.HasPrefix(msg, broken+":")
			})) > 0
		}); !ok {
			t.Fatalf("no \"bad document skipped\" line naming %s", broken)
		}
		// ... and applied what it read (with the file's last good version).
		if _, ok := eventually(10*time.Second, func() bool { return e.applies() > applies }); !ok {
			t.Fatal("no apply after the broken file was read")
		}
		if e.get("default.example.com", "/") != 200 {
			t.Error("traffic broke after an invalid change")
		}
		if r := e.counter("hagate_haproxy_reloads_total", ""); r != before {
			t.Errorf("an invalid change reloaded HAProxy")
		}
		e.write("route-web.yaml", runRoute, map[string]any{"Name": "web", "Path": "/", "Service": "web"})
	})

	t.Run("20 reloads under load lose no request", func(t *testing.T) {
		l := startLoad(loadOptions{
			TLS: &tls.Config{ServerName: "default.example.com", RootCAs: e.ca.Pool()},
			URL: func(int) string { return fmt.Sprintf("https://127.0.0.1:%d/", e.https) },
		})
		before := e.counter("hagate_haproxy_reloads_total", "")
		for i := 0; i < 20; i++ {
			be := backend.Start(t, fmt.Sprintf("be%d", i))
			e.write(fmt.Sprintf("svc-%d.yaml", i), runService, map[string]any{"Name": fmt.Sprintf("svc%d", i), "Port": be.Port})
			e.write(fmt.Sprintf("route-%d.yaml", i), runRoute, map[string]any{"Name": fmt.Sprintf("r%d", i), "Path": fmt.Sprintf("/r%d", i), "Service": fmt.Sprintf("svc%d", i)})
			want := before + float64(i+1)
			if _, okr := eventually(20*time.Second, func() bool { return e.counter("hagate_haproxy_reloads_total", "") >= want }); !okr {
				t.Fatalf("reload %d did not happen", i+1)
			}
			if e.get("default.example.com", fmt.Sprintf("/r%d", i)) != 200 {
				t.Errorf("route %d not served after its reload", i)
			}
		}
		ok, failed, failures := l.Stop()
		t.Logf("%d requests during 20 reloads, %d failed", ok, failed)
		if failed > 0 {
			t.Errorf("%d requests failed during reloads: %v", failed, failures)
		}
	})

	t.Run("a killed master is started again", func(t *testing.T) {
		pid := e.a.Process().MasterPID()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if took, ok := eventually(30*time.Second, func() bool {
			return e.a.Process().MasterPID() != pid && e.get("default.example.com", "/") == 200
		}); !ok {
			t.Fatalf("HAProxy did not come back after %s", took)
		}
		if e.a.Process().Restarts() < 1 {
			t.Error("Restarts() did not count the restart")
		}
		data, err := os.ReadFile(filepath.Join(e.state, "haproxy.pid"))
		if err != nil || strings.TrimSpace(string(data)) != fmt.Sprint(e.a.Process().MasterPID()) {
			t.Errorf("haproxy.pid = %q, want the new master %d", data, e.a.Process().MasterPID())
		}
	})
}

// TestRunAttachMode drives an HAProxy started by someone else: hagate
// writes the configuration into its folder and reloads it through the
// master socket.
func TestRunAttachMode(t *testing.T) {
	cfgDir := t.TempDir()
	state := t.TempDir()
	master := filepath.Join(state, "master.sock")
	// The HAProxy of the other container: a placeholder configuration
	// with the stats socket hagate's configurations use.
	boot := fmt.Sprintf("global\n    stats socket %s/haproxy.sock mode 600 level admin expose-fd listeners\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n", cfgDir)
	if err := os.WriteFile(filepath.Join(cfgDir, "haproxy.cfg"), []byte(boot), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := haproxy.Start(ctx, haproxy.ProcessOptions{
		Binary: haproxytest.Binary(t), ConfigFile: filepath.Join(cfgDir, "haproxy.cfg"), MasterSocket: master,
		PIDFile: filepath.Join(state, "other.pid"), Log: logr.Discard(), Stdout: io.Discard, Stderr: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); p.Wait() }()

	src := t.TempDir()
	ca := pki.NewCA(t, "attach CA")
	port := haproxytest.FreePort(t)
	web := backend.Start(t, "web")
	e := &runEnv{t: t, dir: src, https: port, http: haproxytest.FreePort(t), ca: ca}
	e.secret("default-cert", ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}}))
	e.gateway("default-cert")
	e.write("web.yaml", runService, map[string]any{"Name": "web", "Port": web.Port})
	e.write("route-web.yaml", runRoute, map[string]any{"Name": "web", "Path": "/", "Service": "web"})

	m := metrics.New()
	a, err := agent.New(agent.Options{StateDir: t.TempDir(), ConfigDir: cfgDir, MasterSocket: master,
		HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1", Log: funcr.NewJSON(func(obj string) { t.Log(obj) }, funcr.Options{}), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.RunDir(actx, src, agent.Debounce{Quiet: 50 * time.Millisecond, Max: 500 * time.Millisecond}); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	defer func() { acancel(); <-done }()
	e.m = m
	if _, ok := eventually(20*time.Second, func() bool { return e.get("default.example.com", "/") == 200 }); !ok {
		t.Fatal("the attached HAProxy does not serve hagate's configuration")
	}
	if p.Restarts() != 0 {
		t.Error("the attached master was restarted instead of reloaded")
	}
	// The first configuration was loaded by one reload of the attached
	// master; a certificate rotation then needs none.
	if _, ok := eventually(5*time.Second, func() bool { return e.counter("hagate_haproxy_reloads_total", "") == 1 }); !ok {
		t.Fatalf("reloads = %v, want the one that loaded hagate's configuration", e.counter("hagate_haproxy_reloads_total", ""))
	}
	reloads := e.counter("hagate_haproxy_reloads_total", "")
	before := e.servedCert("default.example.com")
	e.secret("default-cert", ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}}))
	if _, ok := eventually(5*time.Second, func() bool { c := e.servedCert("default.example.com"); return c != "" && c != before }); !ok {
		t.Fatal("rotation not served")
	}
	if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
		t.Errorf("the rotation reloaded HAProxy")
	}
}
