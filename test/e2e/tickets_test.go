package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
)

// ticketRun is hagate run --source-dir with session-ticket keys: the
// folder of startRun (a catch-all HTTPS listener whose certificate, for
// default.example.com, is leaf), the keys file keys, rotated by the agent
// once older than rotation (0: never), the file read every 50 ms.
func startTicketRun(t *testing.T, ca *pki.CA, leaf *pki.Leaf, keys string, rotation time.Duration) *runEnv {
	t.Helper()
	e := &runEnv{t: t, dir: t.TempDir(), state: t.TempDir(), ca: ca,
		http: haproxytest.FreePort(t), https: haproxytest.FreePort(t), m: metrics.New(), done: make(chan struct{}), logs: &logLines{}}
	e.secret("default-cert", leaf)
	e.gateway("default-cert")
	web := backend.Start(t, "web")
	e.write("web.yaml", runService, map[string]any{"Name": "web", "Port": web.Port})
	e.write("route-web.yaml", runRoute, map[string]any{"Name": "web", "Path": "/", "Service": "web"})
	var ended atomic.Bool
	t.Cleanup(func() { ended.Store(true) })
	log := funcr.NewJSON(func(obj string) {
		e.logs.add(obj)
		if !ended.Load() {
			t.Log(obj)
		}
	}, funcr.Options{})
	a, err := agent.New(agent.Options{StateDir: e.state, HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1", Log: log,
		Metrics: e.m, HAProxyOutput: io.Discard, TicketKeys: keys, TicketRotation: rotation})
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	watched := make(chan struct{})
	go func() { defer close(watched); a.WatchTicketKeys(ctx, 50*time.Millisecond) }()
	go func() {
		defer close(e.done)
		if err := a.RunDir(ctx, e.dir, agent.Debounce{Quiet: 50 * time.Millisecond, Max: 500 * time.Millisecond}); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			t.Error("hagate run did not stop within 30s")
		}
		<-watched
	})
	if _, ok := eventually(30*time.Second, func() bool { return a.Process() != nil && e.get("default.example.com", "/") == 200 }); !ok {
		t.Fatal("HAProxy did not start serving")
	}
	return e
}

// session makes one HTTPS request to the run's HTTPS port over a new TLS
// connection of the given version, with the client's session cache, and
// says whether the session resumed.
func (e *runEnv) session(cache tls.ClientSessionCache, version uint16) bool {
	e.t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", e.https), &tls.Config{
		ServerName: "default.example.com", RootCAs: e.ca.Pool(), ClientSessionCache: cache,
		MinVersion: version, MaxVersion: version, NextProtos: []string{"http/1.1"},
	})
	if err != nil {
		e.t.Fatalf("TLS connection: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: default.example.com\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatalf("HTTPS request: %v", err)
	}
	// Read to the end: TLS 1.3 tickets arrive after the handshake.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		e.t.Fatalf("HTTPS request: status %d", resp.StatusCode)
	}
	return conn.ConnectionState().DidResume
}

// haproxyTicketKeys are the keys HAProxy's worker holds ("show tls-keys
// *" on the stats socket), sorted (HAProxy lists its ring, not the
// file's order).
func (e *runEnv) haproxyTicketKeys() []string {
	e.t.Helper()
	c, err := net.DialTimeout("unix", filepath.Join(e.a.ConfigDir(), "haproxy.sock"), 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("show tls-keys *\n")); err != nil {
		e.t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		e.t.Fatal(err)
	}
	// "# id secret\n# 0 (<file>)\n0.0 <key>\n0.1 <key>\n0.2 <key>"
	var keys []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			keys = append(keys, f[1])
		}
	}
	slices.Sort(keys)
	return keys
}

// fileTicketKeys are the keys of a keys file.
func fileTicketKeys(t *testing.T, file string) []string {
	t.Helper()
	keys, err := agent.ReadTicketKeys(file)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// ageTicketKeys makes the keys file look older than any rotation interval:
// the agent rotates it at its next reading.
func ageTicketKeys(t *testing.T, file string) {
	t.Helper()
	old := time.Now().Add(-24 * time.Hour)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
}

// Session tickets: a client's session resumes after a reload, after a
// key rotation (a Runtime API change, no reload) within the ticket
// lifetime, and on a second HAProxy whose hagate shares the keys file;
// a rotation one replica makes reaches the other through the file, again
// without a reload.
func TestSessionTicketsResume(t *testing.T) {
	ca := pki.NewCA(t, "tickets CA")
	leaf := ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}})
	keysFile := filepath.Join(t.TempDir(), "shared", "tls-ticket-keys")
	a := startTicketRun(t, ca, leaf, keysFile, 12*time.Hour)

	fi, err := os.Stat(keysFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v %v", fi, err)
	}
	keys := fileTicketKeys(t, keysFile)
	if len(keys) != 3 {
		t.Fatalf("%d keys in the new file", len(keys))
	}
	if got := a.haproxyTicketKeys(); !slices.Equal(got, slices.Sorted(slices.Values(keys))) {
		t.Fatal("HAProxy does not hold the file's keys")
	}
	cfg, err := os.ReadFile(filepath.Join(a.a.ConfigDir(), "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), "no-tls-tickets") || !strings.Contains(string(cfg), "tls-ticket-keys "+a.a.ConfigDir()+"/tickets/tls-ticket-keys") {
		t.Fatal("haproxy.cfg does not turn session tickets on with the keys file")
	}

	versions := map[string]uint16{"TLS1.2": tls.VersionTLS12, "TLS1.3": tls.VersionTLS13}
	names := []string{"TLS1.2", "TLS1.3"}

	t.Run("reload", func(t *testing.T) {
		caches := map[string]tls.ClientSessionCache{}
		for _, v := range names {
			caches[v] = tls.NewLRUClientSessionCache(8)
			if a.session(caches[v], versions[v]) {
				t.Fatalf("%s: the first connection resumed", v)
			}
		}
		workers := a.workers()
		reloads := a.counter("hagate_haproxy_reloads_total", "")
		// A new backend: a reload.
		other := backend.Start(t, "other")
		a.write("other.yaml", runService, map[string]any{"Name": "other", "Port": other.Port})
		a.write("route-other.yaml", runRoute, map[string]any{"Name": "other", "Path": "/other", "Service": "other"})
		if _, ok := eventually(20*time.Second, func() bool { return a.counter("hagate_haproxy_reloads_total", "") > reloads }); !ok {
			t.Fatal("no reload")
		}
		if w := a.workers(); slices.Equal(w, workers) {
			t.Fatalf("the same workers after the reload: %v", w)
		}
		for _, v := range names {
			if !a.session(caches[v], versions[v]) {
				t.Errorf("%s: the session did not resume after the reload", v)
			}
		}
	})

	t.Run("rotation", func(t *testing.T) {
		caches := map[string]tls.ClientSessionCache{}
		for _, v := range names {
			caches[v] = tls.NewLRUClientSessionCache(8)
			a.session(caches[v], versions[v])
		}
		reloads := a.counter("hagate_haproxy_reloads_total", "")
		before := a.counter("hagate_haproxy_runtime_updates_total", "tls-key")
		old := fileTicketKeys(t, keysFile)
		ageTicketKeys(t, keysFile)
		if _, ok := eventually(20*time.Second, func() bool {
			return a.counter("hagate_haproxy_runtime_updates_total", "tls-key") == before+1
		}); !ok {
			t.Fatalf("the rotation was not applied through the Runtime API (tls-key updates %v)", a.counter("hagate_haproxy_runtime_updates_total", "tls-key")-before)
		}
		rotated := fileTicketKeys(t, keysFile)
		if !slices.Equal(rotated[:2], old[1:]) || slices.Contains(old, rotated[2]) {
			t.Fatal("the file is not the keys rotated once")
		}
		if got := a.haproxyTicketKeys(); !slices.Equal(got, slices.Sorted(slices.Values(rotated))) {
			t.Fatal("HAProxy does not hold the rotated keys")
		}
		if r := a.counter("hagate_haproxy_reloads_total", ""); r != reloads {
			t.Errorf("the rotation reloaded HAProxy (%v reloads)", r-reloads)
		}
		for _, v := range names {
			if !a.session(caches[v], versions[v]) {
				t.Errorf("%s: a session of before the rotation did not resume", v)
			}
		}
		if fi, err := os.Stat(keysFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("rotated keys file: %v %v", fi, err)
		}
		for _, line := range a.logs.raw {
			for _, k := range rotated {
				if strings.Contains(line, k[:16]) {
					t.Fatalf("a log line holds a key: %s", line)
				}
			}
		}
	})

	t.Run("replica", func(t *testing.T) {
		// A second hagate and HAProxy on the same keys file, which does
		// not rotate it itself.
		b := startTicketRun(t, ca, leaf, keysFile, 0)
		for _, v := range names {
			cache := tls.NewLRUClientSessionCache(8)
			a.session(cache, versions[v])
			if !b.session(cache, versions[v]) {
				t.Errorf("%s: a session of the first HAProxy did not resume on the second", v)
			}
			cache = tls.NewLRUClientSessionCache(8)
			b.session(cache, versions[v])
			if !a.session(cache, versions[v]) {
				t.Errorf("%s: a session of the second HAProxy did not resume on the first", v)
			}
		}

		// The first rotates twice; the second follows through the file,
		// without reloading. A ticket encrypted after both rotations
		// needs the key of the first: it resumes on the second.
		reloadsB := b.counter("hagate_haproxy_reloads_total", "")
		for i := 1; i <= 2; i++ {
			ageTicketKeys(t, keysFile)
			if _, ok := eventually(20*time.Second, func() bool {
				return b.counter("hagate_haproxy_runtime_updates_total", "tls-key") == float64(i)
			}); !ok {
				t.Fatalf("rotation %d did not reach the second HAProxy through the Runtime API", i)
			}
		}
		want := slices.Sorted(slices.Values(fileTicketKeys(t, keysFile)))
		if !slices.Equal(a.haproxyTicketKeys(), want) || !slices.Equal(b.haproxyTicketKeys(), want) {
			t.Fatal("the HAProxies do not both hold the file's keys")
		}
		if r := b.counter("hagate_haproxy_reloads_total", ""); r != reloadsB {
			t.Errorf("the second HAProxy reloaded (%v) for rotations", r-reloadsB)
		}
		for _, v := range names {
			cache := tls.NewLRUClientSessionCache(8)
			a.session(cache, versions[v])
			if !b.session(cache, versions[v]) {
				t.Errorf("%s: after the rotations, a session of the first HAProxy did not resume on the second", v)
			}
		}
	})

	// The control: without keys (no-tls-tickets, as hagate render without
	// --tls-ticket-keys), a TLS 1.3 session resumes only on the worker that
	// made it (HAProxy's session cache), not after a reload.
	t.Run("without keys", func(t *testing.T) {
		c := startTicketRun(t, ca, leaf, "", 0)
		cache := tls.NewLRUClientSessionCache(8)
		c.session(cache, tls.VersionTLS13)
		if !c.session(cache, tls.VersionTLS13) {
			t.Fatal("no resumption on the same worker: the control does not test what it should")
		}
		reloads := c.counter("hagate_haproxy_reloads_total", "")
		other := backend.Start(t, "other")
		c.write("other.yaml", runService, map[string]any{"Name": "other", "Port": other.Port})
		c.write("route-other.yaml", runRoute, map[string]any{"Name": "other", "Path": "/other", "Service": "other"})
		if _, ok := eventually(20*time.Second, func() bool { return c.counter("hagate_haproxy_reloads_total", "") > reloads }); !ok {
			t.Fatal("no reload")
		}
		if c.session(cache, tls.VersionTLS13) {
			t.Error("a session resumed after a reload without ticket keys")
		}
	})
}
