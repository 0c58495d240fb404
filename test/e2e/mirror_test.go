package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
)

// mirrorRoute mirrors /mirrored to three Services: live (records the
// copies), slow (holds each copy 3s before answering) and down (a port
// nothing listens on); /plain mirrors nothing; /sampled mirrors 30% of its
// requests to sample.
const mirrorRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mirror, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /mirrored}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {add: [{name: X-Rule, value: mirrored}]}
    - {type: RequestMirror, requestMirror: {backendRef: {name: live, port: 80}}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: slow, port: 80}}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: down, port: 80}}}
    backendRefs: [{name: web, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /plain}}]
    backendRefs: [{name: web, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /sampled}}]
    filters:
    - {type: RequestMirror, requestMirror: {backendRef: {name: sample, port: 80}, percent: 30}}
    backendRefs: [{name: web, port: 80}]
`

// mirrorSink is a mirror's Service: it records every request it gets and
// answers it after hold (or once released).
type mirrorSink struct {
	port int
	// hold is how long each request is held, in nanoseconds.
	hold     atomic.Int64
	release  chan struct{}
	mu       sync.Mutex
	got      []mirrored
	answered atomic.Int64
}

// mirrored is a request as a mirror got it.
type mirrored struct {
	method, path, query string
	header              http.Header
	body                string
}

func startSink(t *testing.T, hold time.Duration) *mirrorSink {
	t.Helper()
	s := &mirrorSink{release: make(chan struct{})}
	s.hold.Store(int64(hold))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, mirrored{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body)})
		s.mu.Unlock()
		if d := time.Duration(s.hold.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-s.release:
			case <-r.Context().Done():
			}
		}
		s.answered.Add(1)
		_, _ = io.WriteString(w, "mirror answer, discarded\n")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		close(s.release)
		_ = srv.Close()
	})
	return s
}

func (s *mirrorSink) requests() []mirrored {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *mirrorSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// send sends one request over HTTPS with c and returns its status and
// the name of the echo backend that answered.
func (e *runEnv) send(c *http.Client, method, path string, header http.Header, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("https://default.example.com:%d%s", e.https, path), strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	echo := &backend.Echo{}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		_ = json.Unmarshal(b, echo)
	}
	return resp.StatusCode, echo.Name
}

func (e *runEnv) client() *http.Client {
	return backend.NewClient(backend.ClientOptions{ServerName: "default.example.com", RootCAs: e.ca.Pool(), DialAddr: fmt.Sprintf("127.0.0.1:%d", e.https)})
}

// mirrorCounters reads "show hagate-mirror" from HAProxy's stats socket.
func (e *runEnv) mirrorCounters() map[string]int {
	e.t.Helper()
	c, err := net.DialTimeout("unix", filepath.Join(e.state, "config", "haproxy.sock"), 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "show hagate-mirror\n"); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if n, err := strconv.Atoi(strings.TrimSpace(v)); ok && err == nil {
			out[k] = n
		}
	}
	return out
}

// mirrorLines are the per-mirror lines of "show hagate-mirror".
func (e *runEnv) mirrorLines() []string {
	e.t.Helper()
	c, err := net.DialTimeout("unix", filepath.Join(e.state, "config", "haproxy.sock"), 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "show hagate-mirror\n"); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if l, ok := strings.CutPrefix(sc.Text(), "Mirror: "); ok {
			out = append(out, l)
		}
	}
	return out
}

// latencies sends n sequential GETs to path and returns their median and
// 99th percentile.
func (e *runEnv) latencies(c *http.Client, path string, n int) (p50, p99 time.Duration) {
	var ds []time.Duration
	for range n {
		start := time.Now()
		if code, _ := e.send(c, http.MethodGet, path, nil, ""); code != 200 {
			e.t.Fatalf("GET %s: %d", path, code)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[n/2], ds[n*99/100]
}

// Request mirroring on the real HAProxy: a rule mirrored to a live, a slow
// and a down Service answers its client without waiting for any of them,
// the live mirror gets a copy of each request (method, path, query,
// headers after the rule's filter, body), endpoints of a mirror change
// without a reload, and a percentage is respected.
func TestRequestMirror(t *testing.T) {
	e := startRun(t)
	web := backend.Start(t, "web2")
	live := startSink(t, 0)
	slow := startSink(t, 3*time.Second)
	sample := startSink(t, 0)
	downPort := haproxytest.FreePort(t) // nothing listens there
	for name, port := range map[string]int{"web": web.Port, "live": live.port, "slow": slow.port, "down": downPort, "sample": sample.port} {
		e.write(name+".yaml", runService, map[string]any{"Name": name, "Port": port})
	}
	e.write("mirror.yaml", mirrorRoute, nil)
	// The counters reach the metrics as hagate run reads them, sooner.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go e.a.WatchMirrors(ctx, 200*time.Millisecond)
	c := e.client()
	if _, ok := eventually(20*time.Second, func() bool {
		code, name := e.send(c, http.MethodGet, "/sampled", nil, "")
		return code == 200 && name == "web2"
	}); !ok {
		t.Fatal("the mirrored route is not served")
	}

	t.Run("the client does not wait for the mirrors", func(t *testing.T) {
		before := len(live.requests())
		start := time.Now()
		code, name := e.send(c, http.MethodPost, "/mirrored/a?b=c&d=e", http.Header{"X-Test": {"abc"}, "X-Multi": {"one", "two"}, "Content-Type": {"text/plain"}}, "hello mirror")
		took := time.Since(start)
		slowAnswered := slow.answered.Load()
		t.Logf("POST /mirrored with a slow (3s) and a down mirror answered in %s", took.Round(time.Microsecond))
		if code != 200 || name != "web2" {
			t.Fatalf("POST /mirrored: %d from %q, want 200 from web2", code, name)
		}
		// The slow mirror answers 3s after it gets its copy: the client's
		// answer came before it did.
		if slowAnswered != 0 {
			t.Errorf("the slow mirror had answered %d copies when the client got its answer: the client waited for it", slowAnswered)
		}
		if _, ok := eventually(10*time.Second, func() bool { return slow.count() >= 1 }); !ok {
			t.Error("the slow mirror got no copy")
		}
		if _, ok := eventually(10*time.Second, func() bool { return len(live.requests()) > before }); !ok {
			t.Fatal("the live mirror got no copy")
		}
		m := live.requests()[before]
		if m.method != "POST" || m.path != "/mirrored/a" || m.query != "b=c&d=e" || m.body != "hello mirror" ||
			m.header.Get("X-Test") != "abc" || m.header.Get("X-Rule") != "mirrored" || m.header.Get("Content-Type") != "text/plain" ||
			strings.Join(m.header.Values("X-Multi"), ",") != "one,two" {
			t.Errorf("the live mirror got %s %s?%s, body %q, headers %v", m.method, m.path, m.query, m.body, m.header)
		}
		if h := m.header.Get("X-Hagate-Mirror"); h != "" {
			t.Errorf("the copy carries hagate's own header x-hagate-mirror: %q", h)
		}
		if got := m.header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("the copy's X-Forwarded-For is %q, want the client's address once", got)
		}
		// Methods HAProxy 2.6's HTTP client does not send itself.
		for _, method := range []string{http.MethodPatch, http.MethodOptions, "PROPFIND"} {
			n := live.count()
			if code, _ := e.send(c, method, "/mirrored/m", http.Header{"X-Forwarded-For": {"203.0.113.7"}}, "body of "+method); code != 200 {
				t.Errorf("%s /mirrored/m: %d", method, code)
				continue
			}
			if _, ok := eventually(10*time.Second, func() bool { return live.count() > n }); !ok {
				t.Errorf("%s: no copy", method)
				continue
			}
			if m := live.requests()[n]; m.method != method || m.body != "body of "+method || m.header.Get("X-Hagate-Mirror-Method") != "" ||
				strings.Join(m.header.Values("X-Forwarded-For"), ",") != "203.0.113.7,127.0.0.1" {
				t.Errorf("%s: the copy is %s with body %q, headers %v", method, m.method, m.body, m.header)
			}
		}
		// The down mirror's copy fails, and is counted; nothing stays in
		// flight once the slow mirror's copy is answered.
		if _, ok := eventually(10*time.Second, func() bool {
			cnt := e.mirrorCounters()
			return cnt["Failed"] >= 1 && cnt["InFlight"] == 0
		}); !ok {
			t.Errorf("mirror counters: %v, want a failed copy and none in flight", e.mirrorCounters())
		}
		// One copy each, never sent again.
		for name, s := range map[string]*mirrorSink{"live": live, "slow": slow} {
			n := 0
			for _, m := range s.requests() {
				if m.path == "/mirrored/a" {
					n++
				}
			}
			if n != 1 {
				t.Errorf("the %s mirror got %d copies, want 1", name, n)
			}
		}
	})

	t.Run("latency with and without mirroring", func(t *testing.T) {
		slow.hold.Store(0) // copies go at once
		const n = 300
		p50plain, p99plain := e.latencies(c, "/plain", n)
		p50mirr, p99mirr := e.latencies(c, "/mirrored/x", n)
		p50plain2, p99plain2 := e.latencies(c, "/plain", n)
		t.Logf("%d sequential GETs over HTTPS keep-alive: /plain p50 %s p99 %s; /mirrored (3 mirrors, one down) p50 %s p99 %s; /plain again p50 %s p99 %s",
			n, p50plain, p99plain, p50mirr, p99mirr, p50plain2, p99plain2)
		// The down mirror's copies fill its own in-flight cap (each waits
		// for a retry), not the live mirror's: it gets every copy.
		copies := func() int {
			k := 0
			for _, m := range live.requests() {
				if m.path == "/mirrored/x" {
					k++
				}
			}
			return k
		}
		if _, ok := eventually(10*time.Second, func() bool { return copies() == n }); !ok {
			t.Errorf("the live mirror got %d copies of %d requests", copies(), n)
		}
		t.Logf("mirror counters: %v", e.mirrorLines())
	})

	t.Run("a body larger than the buffer is not mirrored", func(t *testing.T) {
		before := e.mirrorCounters()["TooLarge"]
		n := live.count()
		big := strings.Repeat("x", 64<<10)
		if code, name := e.send(c, http.MethodPut, "/mirrored/big", nil, big); code != 200 || name != "web2" {
			t.Fatalf("PUT /mirrored/big: %d from %q", code, name)
		}
		if _, ok := eventually(5*time.Second, func() bool { return e.mirrorCounters()["TooLarge"] >= before+3 }); !ok {
			t.Errorf("TooLarge went from %d to %d, want 3 more (a copy per mirror)", before, e.mirrorCounters()["TooLarge"])
		}
		if _, ok := eventually(5*time.Second, func() bool { return e.counter("hagate_mirror_copies_total", "too_large") >= 3 }); !ok {
			t.Errorf("hagate_mirror_copies_total{result=too_large} = %v", e.counter("hagate_mirror_copies_total", "too_large"))
		}
		time.Sleep(200 * time.Millisecond)
		for _, m := range live.requests()[n:] {
			if m.path == "/mirrored/big" {
				t.Errorf("the live mirror got a copy of a body larger than the buffer (%d bytes)", len(m.body))
			}
		}
	})

	t.Run("a mirror's endpoints change without reload", func(t *testing.T) {
		reloads := e.counter("hagate_haproxy_reloads_total", "")
		servers := e.counter("hagate_haproxy_runtime_updates_total", "server")
		live2 := startSink(t, 0)
		e.write("live.yaml", runService, map[string]any{"Name": "live", "Port": live2.port})
		if _, ok := eventually(10*time.Second, func() bool {
			e.send(c, http.MethodGet, "/mirrored/moved", nil, "")
			return live2.count() > 0
		}); !ok {
			t.Fatal("copies do not reach the live mirror's new endpoint")
		}
		if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
			t.Errorf("reloads went from %v to %v", reloads, r)
		}
		if s := e.counter("hagate_haproxy_runtime_updates_total", "server"); s <= servers {
			t.Errorf("runtime server updates stayed at %v", s)
		}
	})

	t.Run("percent 30 over 1000 requests", func(t *testing.T) {
		const n = 1000
		const p = 0.30
		// Copies of the previous subtests (the down mirror's take a second
		// or so) are gone first: the cap must not drop any of these.
		eventually(10*time.Second, func() bool { return e.mirrorCounters()["InFlight"] == 0 })
		dropped := e.mirrorCounters()["Dropped"]
		before := sample.count()
		var wg sync.WaitGroup
		var failed atomic.Int64
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cw := e.client()
				for i := w; i < n; i += 8 {
					if code, _ := e.send(cw, http.MethodGet, "/sampled?i="+strconv.Itoa(i), nil, ""); code != 200 {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			t.Fatalf("%d of %d requests failed", f, n)
		}
		// Copies are sent after the answers: wait until none is in flight.
		eventually(10*time.Second, func() bool { return e.mirrorCounters()["InFlight"] == 0 })
		got := sample.count() - before
		// Binomial(n, p): within 4 standard deviations (a false failure
		// about once in 16,000 runs).
		sd := math.Sqrt(n * p * (1 - p))
		lo, hi := n*p-4*sd, n*p+4*sd
		cnt := e.mirrorCounters()
		t.Logf("%d of %d requests mirrored (expected %.0f, 4-sigma bounds %.0f..%.0f); counters %v", got, n, n*p, lo, hi, cnt)
		if float64(got) < lo || float64(got) > hi {
			t.Errorf("%d of %d requests mirrored, want between %.0f and %.0f", got, n, lo, hi)
		}
		if d := cnt["Dropped"] - dropped; d != 0 {
			t.Errorf("%d copies dropped", d)
		}
	})
}
