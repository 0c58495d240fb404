package haproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/syncbuf"
)

// mwHarness is a supervised HAProxy master running a test configuration.
type mwHarness struct {
	dir    string
	cfg    string
	port   int
	p      *Process
	cancel context.CancelFunc
	logs   *syncbuf.Buffer // the supervisor's log
	out    *syncbuf.Buffer // HAProxy's output
}

// mwConfig returns a configuration answering every request on port with
// "<body> <worker pid>", followed by extra (which may continue the frontend).
func mwConfig(dir string, port int, body, extra string) string {
	return fmt.Sprintf(`global
    stats socket %s mode 600 level admin expose-fd listeners

defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s

frontend fe
    bind 127.0.0.1:%d
    http-request return status 200 content-type text/plain lf-string "%s %%pid"
%s`, filepath.Join(dir, "stats.sock"), port, body, extra)
}

// writeConfig replaces the harness's configuration and checks it.
func (h *mwHarness) writeConfig(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(h.cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	haproxytest.Check(t, h.cfg)
}

// startMW starts a Process on a fresh port answering body; the process is
// stopped when the test ends.
func startMW(t *testing.T, body string) *mwHarness {
	t.Helper()
	h := newMW(t)
	h.writeConfig(t, mwConfig(h.dir, h.port, body, ""))
	h.start(t)
	return h
}

// newMW prepares a harness without starting HAProxy.
func newMW(t *testing.T) *mwHarness {
	t.Helper()
	// Short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "mw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &mwHarness{dir: dir, cfg: filepath.Join(dir, "haproxy.cfg"), port: haproxytest.FreePort(t), logs: &syncbuf.Buffer{}, out: &syncbuf.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("supervisor log:\n%s", h.logs)
			t.Logf("HAProxy output:\n%s", h.out)
		}
	})
	return h
}

func (h *mwHarness) options(t *testing.T) ProcessOptions {
	return ProcessOptions{
		Binary:         haproxytest.Binary(t),
		ConfigFile:     h.cfg,
		MasterSocket:   filepath.Join(h.dir, "master.sock"),
		PIDFile:        filepath.Join(h.dir, "haproxy.pid"),
		Log:            funcr.New(func(prefix, args string) { fmt.Fprintf(h.logs, "%s %s\n", prefix, args) }, funcr.Options{Verbosity: 1}),
		Stdout:         h.out,
		Stderr:         h.out,
		RestartBackoff: 200 * time.Millisecond,
	}
}

func (h *mwHarness) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, h.options(t))
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	h.p, h.cancel = p, cancel
	t.Cleanup(func() { h.stop(t) })
}

// stop cancels the context and waits for HAProxy to stop. With no
// long-lived connections the soft stop takes well under a second: a stop
// that needs SIGTERM (after 10s) is an error.
func (h *mwHarness) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	h.cancel()
	done := make(chan struct{})
	go func() { h.p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Errorf("Wait did not return within 20s of the cancel")
	}
	if d := time.Since(start); d > 3*time.Second || strings.Contains(h.logs.String(), "did not stop in time") {
		t.Errorf("the stop took %v: the soft stop (SIGUSR1) did not work", d.Round(time.Millisecond))
	}
}

func (h *mwHarness) url() string { return fmt.Sprintf("http://127.0.0.1:%d/", h.port) }

// mwGet sends one GET and returns the body.
func mwGet(c *http.Client, url string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	return mwDo(c, req)
}

// mwDo sends req and returns the body of a 200 answer.
func mwDo(c *http.Client, req *http.Request) (string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

// mwNewConnClient opens a connection per request.
func mwNewConnClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// mustGet fails the test unless a GET answers want.
func mustGet(t *testing.T, url, want string) {
	t.Helper()
	got, err := mwGet(mwNewConnClient(), url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if got != want {
		t.Fatalf("GET %s = %q, want %q", url, got, want)
	}
}

// currentWorkers returns the PIDs of the current workers.
func currentWorkers(t *testing.T, cli *MasterCLI) []int {
	t.Helper()
	procs, err := cli.ShowProc(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range procs {
		if p.Type == "worker" && !p.Old {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// pidGone reports whether pid has exited (a zombie counts as exited: the
// workers' parent is init once the master is gone, and init may not reap).
func pidGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// eventually polls cond every 20ms until it holds or d has passed.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProcessStart(t *testing.T) {
	h := startMW(t, "v1")
	workers := currentWorkers(t, h.p.CLI())
	if len(workers) != 1 {
		t.Fatalf("current workers = %v, want one", workers)
	}
	mustGet(t, h.url(), fmt.Sprintf("v1 %d", workers[0]))

	data, err := os.ReadFile(filepath.Join(h.dir, "haproxy.pid"))
	if err != nil {
		t.Fatal(err)
	}
	filePID, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file %q: %v", data, err)
	}
	if got := h.p.MasterPID(); got != filePID || got == 0 {
		t.Errorf("MasterPID() = %d, pid file says %d", got, filePID)
	}
	procs, err := h.p.CLI().ShowProc(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if procs[0].Type != "master" || procs[0].PID != filePID {
		t.Errorf("show proc master = %+v, want pid %d", procs[0], filePID)
	}
	if h.p.Restarts() != 0 {
		t.Errorf("Restarts() = %d, want 0", h.p.Restarts())
	}
}

func TestProcessStartFailure(t *testing.T) {
	h := newMW(t)
	// Valid syntax, but the port is taken: the master exits at startup.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	h.writeConfig(t, mwConfig(h.dir, busy.Addr().(*net.TCPAddr).Port, "v1", ""))
	start := time.Now()
	p, err := Start(context.Background(), h.options(t))
	if err == nil {
		p.Wait()
		t.Fatal("Start succeeded on a taken port")
	}
	t.Logf("Start error (after %v): %v", time.Since(start).Round(time.Millisecond), err)
	for _, want := range []string{"exited during startup", "exit status", "cannot bind socket"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error lacks %q", want)
		}
	}
}

func TestProcessCrash(t *testing.T) {
	h := startMW(t, "v1")
	oldMaster := h.p.MasterPID()
	oldWorkers := currentWorkers(t, h.p.CLI())
	if err := syscall.Kill(oldMaster, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if !eventually(5*time.Second, func() bool {
		pid := h.p.MasterPID()
		return h.p.Restarts() == 1 && pid != 0 && pid != oldMaster
	}) {
		t.Fatalf("no restart within 5s: Restarts()=%d MasterPID()=%d (was %d)", h.p.Restarts(), h.p.MasterPID(), oldMaster)
	}
	var body string
	if !eventually(5*time.Second, func() bool {
		var err error
		body, err = mwGet(mwNewConnClient(), h.url())
		return err == nil
	}) {
		t.Fatalf("port does not serve within 5s of the restart")
	}
	t.Logf("serving again %v after the kill: %q", time.Since(killed).Round(time.Millisecond), body)
	for _, w := range oldWorkers {
		if !eventually(2*time.Second, func() bool { return pidGone(w) }) {
			t.Errorf("old worker %d still runs", w)
		}
	}
	logs := h.logs.String()
	t.Logf("supervisor log:\n%s", logs)
	if !strings.Contains(logs, "killed by signal 9") || !strings.Contains(logs, strconv.Itoa(oldMaster)) {
		t.Errorf("the log does not say the master %d was killed by signal 9:\n%s", oldMaster, logs)
	}
	// The restarted master reloads like the first one.
	h.writeConfig(t, mwConfig(h.dir, h.port, "v2", ""))
	res, err := h.p.CLI().Reload(context.Background())
	if err != nil {
		t.Fatalf("Reload after the restart: %v", err)
	}
	mustGet(t, h.url(), fmt.Sprintf("v2 %d", res.NewWorkers[0]))
}

func TestProcessStop(t *testing.T) {
	h := newMW(t)
	// A backend that holds its answer: a request in flight at the stop
	// must complete (soft stop). It says when the request has reached it,
	// and answers once released.
	arrived, release := make(chan struct{}), make(chan struct{})
	var arrivedOnce, releaseOnce sync.Once
	releaseNow := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseNow()
	slow := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrivedOnce.Do(func() { close(arrived) })
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, "slow")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go slow.Serve(ln)
	defer slow.Close()
	h.writeConfig(t, strings.Replace(mwConfig(h.dir, h.port, "v1", `    default_backend slow

backend slow
    server s1 `+ln.Addr().String()+"\n"),
		`"v1 %pid"`, `"v1 %pid" unless { path /slow }`, 1))
	h.start(t)

	procs, err := h.p.CLI().ShowProc(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range procs {
		pids = append(pids, p.PID)
	}
	slowDone := make(chan error, 1)
	go func() {
		body, err := mwGet(mwNewConnClient(), h.url()+"slow")
		if err == nil && body != "slow" {
			err = fmt.Errorf("body %q", body)
		}
		slowDone <- err
	}()
	select {
	case <-arrived: // the request is in flight
	case err := <-slowDone:
		t.Fatalf("the request ended before reaching the backend: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not reach the backend within 5s")
	}
	// The backend answers once the soft stop is under way: HAProxy no
	// longer accepts connections on the port.
	stopping := make(chan bool, 1)
	go func() {
		defer releaseNow()
		stopping <- eventually(5*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", h.port), time.Second)
			if err != nil {
				return true
			}
			c.Close()
			return false
		})
	}()
	start := time.Now()
	h.stop(t)
	if !<-stopping {
		t.Error("the port still accepted connections 5s into the stop")
	}
	t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
	if err := <-slowDone; err != nil {
		t.Errorf("request in flight at the stop: %v", err)
	}
	if h.p.MasterPID() != 0 {
		t.Errorf("MasterPID() = %d after Wait, want 0", h.p.MasterPID())
	}
	for _, pid := range pids {
		if !eventually(2*time.Second, func() bool { return pidGone(pid) }) {
			t.Errorf("HAProxy process %d still runs after Wait", pid)
		}
	}
	if _, err := mwGet(mwNewConnClient(), h.url()); err == nil {
		t.Errorf("port %d still answers after the stop", h.port)
	}
	logs := h.logs.String()
	t.Logf("supervisor log:\n%s", logs)
	if !strings.Contains(logs, "HAProxy stopped") {
		t.Errorf("no stop in the log:\n%s", logs)
	}
}

// TestProcessWorkerCrash: when its current worker dies, the 2.6 master
// kills the rest and exits (exit-on-failure); the supervisor starts it
// again.
func TestProcessWorkerCrash(t *testing.T) {
	h := startMW(t, "v1")
	oldMaster := h.p.MasterPID()
	workers := currentWorkers(t, h.p.CLI())
	if err := syscall.Kill(workers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool {
		pid := h.p.MasterPID()
		return h.p.Restarts() == 1 && pid != 0 && pid != oldMaster
	}) {
		t.Fatalf("no restart within 5s: Restarts()=%d MasterPID()=%d (was %d)", h.p.Restarts(), h.p.MasterPID(), oldMaster)
	}
	if !eventually(5*time.Second, func() bool {
		_, err := mwGet(mwNewConnClient(), h.url())
		return err == nil
	}) {
		t.Fatalf("port does not serve within 5s of the restart")
	}
	logs := h.logs.String()
	t.Logf("supervisor log:\n%s", logs)
	// HAProxy 2.6 says "Current worker ... exited"; 3.0 may say only
	// "exit-on-failure: killing every processes" in the last lines kept.
	if !strings.Contains(logs, "exit status 137") || !strings.Contains(logs, "Current worker") && !strings.Contains(logs, "exit-on-failure") {
		t.Errorf("the log does not say the master exited with status 137 after its worker died:\n%s", logs)
	}
}
