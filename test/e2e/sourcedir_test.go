package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
)

// These tests drive hagate run --source-dir (agent.RunDir, in process,
// with a real HAProxy) through what happens to a source folder in real
// life: files that are not regular files, the folder going away and coming
// back, files rewritten in place under load, objects the render rejects,
// and files an earlier run left in the state folder.

// logLines collects the agent's JSON log lines (funcr.NewJSON).
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
}

func (l *logLines) add(line string) {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		m = map[string]any{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, m)
	l.raw = append(l.raw, line)
}

// matching returns the lines whose msg is msg (any msg when empty) and
// for which match (if set) is true.
func (l *logLines) matching(msg string, match func(map[string]any, string) bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i, m := range l.lines {
		if msg != "" && m["msg"] != msg {
			continue
		}
		if match != nil && !match(m, l.raw[i]) {
			continue
		}
		out = append(out, l.raw[i])
	}
	return out
}

// sdOptions change how startSourceDir starts hagate.
type sdOptions struct {
	// before runs once the folder holds its first files, before the agent
	// is created (to put files into the state folder).
	before func(e *sdEnv)
	// verbosity is the log verbosity (hagate run -v); 0 is the default.
	verbosity int
}

// sdEnv is a runEnv whose log is kept and whose stop is timed.
type sdEnv struct {
	*runEnv
	log      *logLines
	stopOnce sync.Once
	stopTook time.Duration
	stopped  bool
}

// startSourceDir is startRun with the agent's log kept, a hook before the
// agent starts, and an explicit stop. The folder starts with the Gateway
// (HTTPS with default-cert for default.example.com, and HTTP), the
// Service web (an echo backend called "web") and the catch-all route "/"
// to it.
func startSourceDir(t *testing.T, opt sdOptions) *sdEnv {
	t.Helper()
	re := &runEnv{t: t, dir: t.TempDir(), state: t.TempDir(), ca: pki.NewCA(t, "sourcedir CA"),
		http: haproxytest.FreePort(t), https: haproxytest.FreePort(t), m: metrics.New(), done: make(chan struct{})}
	e := &sdEnv{runEnv: re, log: &logLines{}}
	e.secret("default-cert", e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}}))
	e.gateway("default-cert")
	web := backend.Start(t, "web")
	e.write("web.yaml", runService, map[string]any{"Name": "web", "Port": web.Port})
	e.write("route-web.yaml", runRoute, map[string]any{"Name": "web", "Path": "/", "Service": "web"})
	if opt.before != nil {
		opt.before(e)
	}

	// t.Log panics once the test has ended: lines after the cleanup are
	// only kept.
	var ended atomic.Bool
	log := funcr.NewJSON(func(obj string) {
		e.log.add(obj)
		if !ended.Load() {
			t.Log(obj)
		}
	}, funcr.Options{Verbosity: opt.verbosity})
	a, err := agent.New(agent.Options{StateDir: e.state, HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1", Log: log, Metrics: e.m, HAProxyOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		defer close(e.done)
		if err := a.RunDir(ctx, e.dir, agent.Debounce{Quiet: 50 * time.Millisecond, Max: 500 * time.Millisecond}); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(func() {
		if took, ok := e.stop(); !ok {
			t.Error("hagate run did not stop within 30s")
		} else {
			t.Logf("hagate run stopped %s after its context was cancelled", took)
		}
		ended.Store(true)
	})
	took, ok := eventually(30*time.Second, func() bool { return a.Process() != nil && e.name("/") == "web" })
	if !ok {
		t.Fatal("HAProxy did not start serving")
	}
	t.Logf("serving after %s", took)
	return e
}

// stop cancels the run and waits up to 30s for RunDir to return; it says
// how long that took and whether it did.
func (e *sdEnv) stop() (time.Duration, bool) {
	e.stopOnce.Do(func() {
		start := time.Now()
		e.cancel()
		select {
		case <-e.done:
			e.stopped = true
		case <-time.After(30 * time.Second):
		}
		e.stopTook = time.Since(start)
		// Not a failure (the stop is bounded), but worth seeing: a soft
		// stop HAProxy did not act on, so hagate waited its grace and
		// sent SIGTERM. Seen when the stop comes while a reload is under
		// way: the master, re-executing, discards the SIGUSR1.
		if l := e.log.matching("HAProxy did not stop in time", nil); len(l) > 0 {
			e.t.Logf("NOTE: HAProxy ignored the soft stop: %s", l[0])
		}
	})
	return e.stopTook, e.stopped
}

// name sends one HTTPS request for path (SNI and Host default.example.com)
// and returns the name of the echo backend that answered ("" on any
// failure) and the answer's headers. The connection is closed: an idle
// keep-alive connection left open would hold up HAProxy's soft stop.
func (e *sdEnv) answer(path string) (string, http.Header) {
	c := backend.NewClient(backend.ClientOptions{ServerName: "default.example.com", RootCAs: e.ca.Pool(), DialAddr: fmt.Sprintf("127.0.0.1:%d", e.https)})
	defer c.CloseIdleConnections()
	resp, err := c.Get(fmt.Sprintf("https://default.example.com:%d%s", e.https, path))
	if err != nil {
		return "", nil
	}
	defer resp.Body.Close()
	var echo backend.Echo
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&echo) != nil {
		return "", resp.Header
	}
	return echo.Name, resp.Header
}

// name is the name of the backend answering path ("" on any failure).
func (e *sdEnv) name(path string) string {
	n, _ := e.answer(path)
	return n
}

// addRoute adds a Service with its own echo backend called name and a
// route from path to it.
func (e *sdEnv) addRoute(name, path string) {
	e.t.Helper()
	be := backend.Start(e.t, name)
	e.write("svc-"+name+".yaml", runService, map[string]any{"Name": name, "Port": be.Port})
	e.write("route-"+name+".yaml", runRoute, map[string]any{"Name": name, "Path": path, "Service": name})
}

// served waits (generously) until path is answered by the backend called
// want, and logs how long that took.
func (e *sdEnv) served(t *testing.T, path, want string) {
	t.Helper()
	took, ok := eventually(30*time.Second, func() bool { return e.name(path) == want })
	if !ok {
		t.Fatalf("%s is not answered by %s after %s (got %q)", path, want, took, e.name(path))
	}
	t.Logf("%s answered by %s after %s", path, want, took)
}

// peakHeap samples the test process's heap (hagate runs in it) until
// stop is called, and returns the highest HeapAlloc seen.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > peak.Load() {
			peak.Store(ms.HeapAlloc)
		}
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		sample()
		return peak.Load()
	}
}

// TestSourceDirFIFOAndDevZero: a named pipe and a symbolic link to
// /dev/zero named *.yaml appear in the folder. Reading either would block
// (the pipe has no writer) or never end (/dev/zero); hagate must refuse
// them, name them in its log, and go on applying the rest of the folder,
// without its memory growing and without its stop hanging.
func TestSourceDirFIFOAndDevZero(t *testing.T) {
	e := startSourceDir(t, sdOptions{}) // the default verbosity of hagate run
	heap := peakHeap()

	pipe := filepath.Join(e.dir, "pipe.yaml")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(e.dir, "zero.yaml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	// A change after them: the folder, with both, is read again.
	e.addRoute("api", "/api")
	e.served(t, "/api", "api")
	if got := e.name("/"); got != "web" {
		t.Errorf("/ answered by %q, want web", got)
	}

	// Both are named in the log (the file is not read).
	for _, name := range []string{pipe, zero} {
		if _, ok := eventually(10*time.Second, func() bool {
			return len(e.log.matching("", func(_ map[string]any, raw string) bool { return strings.Contains(raw, name) })) > 0
		}); !ok {
			t.Errorf("no log line names %s", name)
			continue
		}
		for _, l := range e.log.matching("", func(_ map[string]any, raw string) bool { return strings.Contains(raw, name) }) {
			t.Logf("logged about %s: %s", filepath.Base(name), l)
		}
	}

	// The loop is not stuck on them: one more change is applied.
	e.addRoute("api2", "/api2")
	e.served(t, "/api2", "api2")

	peak := heap()
	t.Logf("peak HeapAlloc of the test process (hagate in it): %.1f MB", float64(peak)/(1<<20))
	if peak > 500<<20 {
		t.Errorf("peak HeapAlloc %.1f MB, over 500 MB: something read /dev/zero", float64(peak)/(1<<20))
	}

	took, ok := e.stop()
	t.Logf("hagate run stopped after %s", took)
	if !ok {
		t.Fatalf("hagate run did not stop within 30s of its context being cancelled")
	}
}

// copyFolder copies the regular files of src into dst (created).
func copyFolder(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// keepsServing requests / and the given paths for d, and fails the test
// on any answer that is not from the expected backend.
func (e *sdEnv) keepsServing(t *testing.T, d time.Duration, paths map[string]string) {
	t.Helper()
	n := 0
	for start := time.Now(); time.Since(start) < d; {
		for p, want := range paths {
			if got := e.name(p); got != want {
				t.Fatalf("%s answered by %q, want %s, while the folder is gone", p, got, want)
			}
			n++
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d requests served while the folder was gone", n)
}

// writeInto writes one of runEnv's templates into dir as name, beside
// then renamed (dir is not the source folder's path at that moment).
func (e *sdEnv) writeInto(dir, name, tmpl string, data any) {
	e.t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("").Parse(tmpl)).Execute(&b, data); err != nil {
		e.t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		e.t.Fatal(err)
	}
}

// TestSourceDirDeletedAndRestored: the source folder is moved away (the
// last good configuration keeps serving, although the moved folder is
// changed meanwhile), then moved back (the change is applied); then it is
// moved away and deleted, and a new folder (another inode) with the same
// files, one changed, is renamed into its place. After each return, a
// change written into the folder is applied: the folder is watched again.
func TestSourceDirDeletedAndRestored(t *testing.T) {
	e := startSourceDir(t, sdOptions{})
	e.addRoute("api", "/api")
	e.served(t, "/api", "api")
	parent := filepath.Dir(e.dir)
	away := filepath.Join(parent, "moved-away")
	// The log lines of failed reads, for the record.
	logFailedReads := func(t *testing.T) {
		n := len(e.log.matching("", func(_ map[string]any, raw string) bool { return strings.Contains(raw, "reading the source folder") }))
		t.Logf("%d log lines about reading the source folder failing so far", n)
	}

	t.Run("moved away and back", func(t *testing.T) {
		if err := os.Rename(e.dir, away); err != nil {
			t.Fatal(err)
		}
		// Changed where it is now: not hagate's source folder, whose
		// last good configuration keeps serving.
		e.writeInto(away, "route-api.yaml", runRoute, map[string]any{"Name": "api", "Path": "/api", "Service": "web"})
		e.keepsServing(t, 2*time.Second, map[string]string{"/": "web", "/api": "api"})
		logFailedReads(t)
		if err := os.Rename(away, e.dir); err != nil {
			t.Fatal(err)
		}
		// Back: read again, with the change made while it was away.
		e.served(t, "/api", "web")
		// Watched: a change after the return is applied.
		e.addRoute("back", "/back")
		e.served(t, "/back", "back")
		e.write("route-api.yaml", runRoute, map[string]any{"Name": "api", "Path": "/api", "Service": "api"})
		e.served(t, "/api", "api")
	})

	t.Run("deleted and created again with the same files", func(t *testing.T) {
		if err := os.Rename(e.dir, away); err != nil {
			t.Fatal(err)
		}
		stash := filepath.Join(parent, "stash")
		copyFolder(t, away, stash)
		// The folder that was watched is deleted.
		if err := os.RemoveAll(away); err != nil {
			t.Fatal(err)
		}
		e.keepsServing(t, 2*time.Second, map[string]string{"/": "web", "/api": "api", "/back": "back"})
		logFailedReads(t)
		// A new folder (another inode) with the same files, /back now
		// to api, appears in one rename.
		e.writeInto(stash, "route-back.yaml", runRoute, map[string]any{"Name": "back", "Path": "/back", "Service": "api"})
		if err := os.Rename(stash, e.dir); err != nil {
			t.Fatal(err)
		}
		// Read (once this is served no retry is pending: the next
		// change is seen only if the new folder is watched).
		e.served(t, "/back", "api")
		if got := e.name("/api"); got != "api" {
			t.Errorf("/api answered by %q, want api", got)
		}
		e.addRoute("recreated", "/recreated")
		e.served(t, "/recreated", "recreated")
		// And an edit of a file there.
		e.write("route-back.yaml", runRoute, map[string]any{"Name": "back", "Path": "/back", "Service": "back"})
		e.served(t, "/back", "back")
	})
}

// multiRoutes is one file of five HTTPRoutes, /a to /e, to the Service
// multi; every answer carries X-Rev: rev, so that each rewrite changes the
// configuration (and reloads HAProxy). Its documents are returned apart.
func multiRoutes(rev int) []string {
	var docs []string
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		docs = append(docs, fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: multi-%s, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /%s}}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-Rev, value: "%d"}]}}]
    backendRefs: [{name: multi, port: 80}]
`, p, p, rev))
	}
	return docs
}

// TestSourceDirInPlaceRewritesUnderLoad: a file of five routes is
// rewritten in place ten times (truncated, half written, a pause, the rest
// written, closed) while four clients request its paths without retrying.
// The first half is whole documents: read between the writes, the file
// would be valid and lack routes, which the clients would see (the
// catch-all route answers from another backend). hagate must read the
// file only once it is closed: no request may fail.
func TestSourceDirInPlaceRewritesUnderLoad(t *testing.T) {
	e := startSourceDir(t, sdOptions{})
	multi := backend.Start(t, "multi")
	e.write("multi.yaml", runService, map[string]any{"Name": "multi", "Port": multi.Port})
	routes := filepath.Join(e.dir, "routes.yaml")
	e.write("routes.yaml", strings.Join(multiRoutes(0), "---\n"), nil)
	paths := []string{"/a", "/b", "/c", "/d", "/e"}
	for _, p := range paths {
		e.served(t, p+"/x", "multi")
	}
	rev := func() string {
		_, h := e.answer("/e/rev")
		return h.Get("X-Rev")
	}
	if _, ok := eventually(30*time.Second, func() bool { return rev() == "0" }); !ok {
		t.Fatalf("X-Rev = %q, want 0", rev())
	}

	l := startLoad(loadOptions{
		TLS: &tls.Config{ServerName: "default.example.com", RootCAs: e.ca.Pool()},
		URL: func(n int) string {
			return fmt.Sprintf("https://127.0.0.1:%d%s/x", e.https, paths[n%len(paths)])
		},
		Check: func(resp *http.Response) string {
			var echo backend.Echo
			derr := json.NewDecoder(resp.Body).Decode(&echo)
			switch {
			case resp.StatusCode != 200:
				return fmt.Sprintf("status %d", resp.StatusCode)
			case derr != nil:
				return "body: " + derr.Error()
			case echo.Name != "multi":
				return fmt.Sprintf("answered by %q, not multi", echo.Name)
			}
			return ""
		},
	})

	reloads := e.counter("hagate_haproxy_reloads_total", "")
	start := time.Now()
	for r := 1; r <= 10; r++ {
		docs := multiRoutes(r)
		first := strings.Join(docs[:3], "---\n") + "---\n"
		rest := strings.Join(docs[3:], "---\n")
		f, err := os.OpenFile(routes, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(first); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
		if _, err := f.WriteString(rest); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprint(r)
		took, ok := eventually(30*time.Second, func() bool { return rev() == want })
		if !ok {
			t.Fatalf("rewrite %d: X-Rev = %q after %s, want %s", r, rev(), took, want)
		}
		t.Logf("rewrite %d served after %s", r, took)
	}
	// A moment more of load after the last rewrite.
	time.Sleep(300 * time.Millisecond)
	okN, failed, failures := l.Stop()
	t.Logf("%d requests in %s during 10 in-place rewrites (%v reloads), %d failed",
		okN+failed, time.Since(start).Round(time.Millisecond), e.counter("hagate_haproxy_reloads_total", "")-reloads, failed)
	if okN == 0 {
		t.Error("no request succeeded")
	}
	if failed > 0 {
		t.Errorf("%d requests failed; first ones:\n%s", failed, strings.Join(failures, "\n"))
	}
	// hagate said nothing about a half-written file: it never read one.
	if l := e.log.matching("", func(_ map[string]any, raw string) bool {
		return strings.Contains(raw, "routes.yaml") && (strings.Contains(raw, "half-written") || strings.Contains(raw, "last good version"))
	}); len(l) > 0 {
		t.Errorf("routes.yaml was read while half-written:\n%s", strings.Join(l, "\n"))
	}
}

const badRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: {{.Name}}, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: ["{{.Host}}"]
  rules:
  - matches: [{path: {type: PathPrefix, value: {{.Path}}}}]
    backendRefs: [{name: {{.Service}}, port: 80}]
`

// routeStatus reads STATE/status.yaml and returns the status of the
// HTTPRoute default/name (nil when it is not there).
func routeStatus(t *testing.T, state, name string) *gwapiv1.RouteStatus {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(state, agent.StatusFile))
	if err != nil {
		return nil
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var r gwapiv1.HTTPRoute
		if yaml.Unmarshal([]byte(doc), &r) != nil {
			continue
		}
		if r.Kind == "HTTPRoute" && r.Namespace == "default" && r.Name == name {
			return &r.Status.RouteStatus
		}
	}
	return nil
}

// accepted returns the Accepted condition of the route's parent gw.
func accepted(st *gwapiv1.RouteStatus) *metav1.Condition {
	if st == nil {
		return nil
	}
	for _, p := range st.Parents {
		if p.ParentRef.Name != "gw" {
			continue
		}
		for i := range p.Conditions {
			if p.Conditions[i].Type == string(gwapiv1.RouteConditionAccepted) {
				return &p.Conditions[i]
			}
		}
	}
	return nil
}

// TestSourceDirRejectedObjectsLoggedAndReported: a route with an invalid
// hostname beside good ones is logged once ("object not fully served",
// naming it, its condition and reason) and status.yaml holds its
// Accepted=False; the good routes are served. Fixed, it is Accepted; broken
// again, it is logged again.
func TestSourceDirRejectedObjectsLoggedAndReported(t *testing.T) {
	e := startSourceDir(t, sdOptions{}) // the default verbosity of hagate run
	good := backend.Start(t, "good")
	e.write("good.yaml", runService, map[string]any{"Name": "good", "Port": good.Port})
	// One file: a good route and a bad one.
	write := func(host string) {
		var b strings.Builder
		for i, doc := range []struct{ tmpl, name, path, host string }{
			{runRoute, "good", "/good", ""},
			{badRoute, "bad", "/bad", host},
		} {
			if i > 0 {
				b.WriteString("---\n")
			}
			s := strings.NewReplacer("{{.Name}}", doc.name, "{{.Path}}", doc.path, "{{.Service}}", "good", "{{.Host}}", doc.host).Replace(doc.tmpl)
			b.WriteString(s)
		}
		e.write("routes.yaml", b.String(), nil)
	}
	const badHost = "bad_host.example.com"
	write(badHost)
	e.served(t, "/good", "good")
	if got := e.name("/"); got != "web" {
		t.Errorf("/ answered by %q, want web", got)
	}

	notServed := func(object string) []string {
		return e.log.matching("object not fully served", func(m map[string]any, _ string) bool {
			o, _ := m["object"].(string)
			return strings.HasPrefix(o, object)
		})
	}
	badLines := func() []string { return notServed("HTTPRoute default/bad ") }
	if _, ok := eventually(10*time.Second, func() bool { return len(badLines()) > 0 }); !ok {
		t.Fatal(`no "object not fully served" line names HTTPRoute default/bad`)
	}
	check := func(lines []string) {
		t.Helper()
		for _, l := range lines {
			var m map[string]any
			json.Unmarshal([]byte(l), &m)
			msg, _ := m["message"].(string)
			if m["condition"] != "Accepted" || m["reason"] != "UnsupportedValue" || !strings.Contains(msg, badHost) {
				t.Errorf("logged %s, want condition Accepted, reason UnsupportedValue, a message naming %s", l, badHost)
			}
		}
	}
	check(badLines())
	t.Logf("logged: %s", strings.Join(badLines(), "\n"))

	took, ok := eventually(10*time.Second, func() bool {
		c := accepted(routeStatus(t, e.state, "bad"))
		return c != nil && c.Status == metav1.ConditionFalse
	})
	if !ok {
		t.Fatalf("status.yaml does not hold Accepted=False for HTTPRoute default/bad after %s", took)
	}
	if c := accepted(routeStatus(t, e.state, "bad")); c.Reason != "UnsupportedValue" || !strings.Contains(c.Message, badHost) {
		t.Errorf("status.yaml: bad's Accepted = %+v, want reason UnsupportedValue naming %s", c, badHost)
	}
	if c := accepted(routeStatus(t, e.state, "good")); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("status.yaml: good's Accepted = %+v, want True", c)
	}
	if c := accepted(routeStatus(t, e.state, "web")); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("status.yaml: web's Accepted = %+v, want True", c)
	}

	// Another change: what was logged is not logged again.
	e.addRoute("other", "/other")
	e.served(t, "/other", "other")
	// The conditions are logged once the apply is over, then status.yaml
	// is written: once it holds other, the change has been reported.
	if _, ok := eventually(10*time.Second, func() bool { return accepted(routeStatus(t, e.state, "other")) != nil }); !ok {
		t.Fatal("status.yaml does not hold HTTPRoute default/other")
	}
	if l := badLines(); len(l) != 1 {
		t.Errorf("%d lines name HTTPRoute default/bad after another change, want 1:\n%s", len(l), strings.Join(l, "\n"))
	}
	for _, name := range []string{"good", "web", "other"} {
		if l := notServed("HTTPRoute default/" + name + " "); len(l) > 0 {
			t.Errorf("a good route is logged as not fully served:\n%s", strings.Join(l, "\n"))
		}
	}

	// Fixed: Accepted in status.yaml, and served.
	write("bad.example.com")
	if took, ok := eventually(10*time.Second, func() bool {
		c := accepted(routeStatus(t, e.state, "bad"))
		return c != nil && c.Status == metav1.ConditionTrue
	}); !ok {
		t.Fatalf("status.yaml: bad's Accepted = %+v after the fix (%s), want True", accepted(routeStatus(t, e.state, "bad")), took)
	}
	// Broken again: a new change to bad, logged again.
	write(badHost)
	if took, ok := eventually(10*time.Second, func() bool {
		c := accepted(routeStatus(t, e.state, "bad"))
		return c != nil && c.Status == metav1.ConditionFalse
	}); !ok {
		t.Fatalf("status.yaml: bad's Accepted = %+v after it broke again (%s), want False", accepted(routeStatus(t, e.state, "bad")), took)
	}
	if l := badLines(); len(l) != 2 {
		t.Errorf("%d lines name HTTPRoute default/bad after it broke again, want 2:\n%s", len(l), strings.Join(l, "\n"))
	}
	check(badLines())
	e.served(t, "/good", "good")
}

// TestSourceDirStaleFilesRemovedAtStart: files an earlier run left in the
// folders hagate writes (a key of a Secret deleted since, an old map) are
// removed when hagate starts; the configuration's own files are there, and
// a file outside those folders is left alone.
func TestSourceDirStaleFilesRemovedAtStart(t *testing.T) {
	var stale []string
	var other string
	e := startSourceDir(t, sdOptions{before: func(e *sdEnv) {
		cfg := filepath.Join(e.state, "config")
		put := func(rel string, mode os.FileMode, content string) string {
			p := filepath.Join(cfg, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				t.Fatal(err)
			}
			return p
		}
		key := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"gone.example.com"}})
		stale = append(stale,
			put("certs/default/gone.pem", 0o600, string(key.CertPEM)+string(key.KeyPEM)),
			put("maps/old.map", 0o644, "old.example.com default/old/0\n"))
		other = put("notes.txt", 0o644, "not hagate's\n")
	}})
	cfg := filepath.Join(e.state, "config")
	for _, p := range stale {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there after start (err %v)", p, err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("%s, outside the folders hagate writes, is gone: %v", other, err)
	}
	// The configuration's own files: haproxy.cfg names every map and the
	// crt-list; the crt-list names the certificate.
	cfgText, err := os.ReadFile(filepath.Join(cfg, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	var own []string
	var lists strings.Builder
	for _, sub := range []string{"certs", "cas", "crt-lists", "maps"} {
		filepath.WalkDir(filepath.Join(cfg, sub), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				own = append(own, p)
				if sub == "crt-lists" {
					data, _ := os.ReadFile(p)
					lists.Write(data)
				}
			}
			return nil
		})
	}
	t.Logf("configuration files: %v", own)
	var certs, maps int
	for _, p := range own {
		rel, _ := filepath.Rel(cfg, p)
		switch {
		case strings.HasPrefix(rel, "certs/"):
			certs++
			if !strings.Contains(lists.String(), p) && !strings.Contains(string(cfgText), p) {
				t.Errorf("%s is in the folder but no crt-list or haproxy.cfg names it", p)
			}
		case strings.HasPrefix(rel, "maps/"), strings.HasPrefix(rel, "crt-lists/"):
			if strings.HasPrefix(rel, "maps/") {
				maps++
			}
			if !strings.Contains(string(cfgText), p) {
				t.Errorf("%s is in the folder but haproxy.cfg does not name it", p)
			}
		}
	}
	if certs == 0 || maps == 0 {
		t.Errorf("%d certificate files and %d maps in the configuration, want some of each", certs, maps)
	}
	// And it serves them.
	if got := e.servedCert("default.example.com"); !strings.HasPrefix(got, "default.example.com/") {
		t.Errorf("served certificate %q, want default.example.com's", got)
	}
}
