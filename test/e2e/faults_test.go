package e2e

// Faults of HAProxy and of the disk under hagate run: a stopped master, a
// full or read-only state folder, killed masters, a killed hagate in attach
// mode. Each test makes the fault, checks that HAProxy keeps serving what it
// served and that hagate says it is behind (failed applies counted, Ready
// and /readyz), then removes the fault without touching the source folder:
// the retried apply must bring HAProxy to what the folder says.
//
// Bounds are generous (a loaded 2-core machine, retries backing off up to
// 30s); the times seen are logged, never asserted.

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/internal/testutil/syncbuf"
)

// faultOptions vary startFaultRun from startRun.
type faultOptions struct {
	// state is the state folder; empty for a t.TempDir().
	state string
	// reloadTimeout is agent.Options.ReloadTimeout.
	reloadTimeout time.Duration
}

// startFaultRun is startRun with a chosen state folder and reload timeout,
// and with the metrics wired as cmd/hagate/run.go wires them (readiness,
// restarts).
func startFaultRun(t *testing.T, o faultOptions) *runEnv {
	t.Helper()
	e := &runEnv{t: t, dir: t.TempDir(), state: o.state, ca: pki.NewCA(t, "faults CA"),
		http: haproxytest.FreePort(t), https: haproxytest.FreePort(t), m: metrics.New(), done: make(chan struct{})}
	if e.state == "" {
		e.state = t.TempDir()
	}
	e.secret("default-cert", e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}}))
	e.gateway("default-cert")
	web := backend.Start(t, "web")
	e.write("web.yaml", runService, map[string]any{"Name": "web", "Port": web.Port})
	e.write("route-web.yaml", runRoute, map[string]any{"Name": "web", "Path": "/", "Service": "web"})

	log := funcr.NewJSON(func(obj string) { t.Log(obj) }, funcr.Options{LogTimestamp: true})
	a, err := agent.New(agent.Options{StateDir: e.state, HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1",
		Log: log, Metrics: e.m, HAProxyOutput: io.Discard, ReloadTimeout: o.reloadTimeout})
	if err != nil {
		t.Fatal(err)
	}
	e.m.SetReadiness(a.Ready)
	e.m.SetRestarts(a.Restarts)
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
		cancel()
		select {
		case <-e.done:
		case <-time.After(60 * time.Second):
			t.Error("hagate run did not stop within 60s")
		}
	})
	// Ready takes the agent's lock, which the first apply held while it
	// started HAProxy: after it, Process() is set.
	if took, ok := eventually(30*time.Second, func() bool {
		return a.Ready(context.Background()) == nil && e.get("default.example.com", "/") == 200
	}); !ok {
		t.Fatalf("HAProxy did not start serving within %s (ready: %v)", took, a.Ready(context.Background()))
	}
	return e
}

// readyz asks the metrics handler's /readyz.
func (e *runEnv) readyz() (int, string) {
	rec := httptest.NewRecorder()
	e.m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// failures is hagate_apply_failures_total.
func (e *runEnv) failures() float64 { return e.counter("hagate_apply_failures_total", "") }

// ready is a.Ready with a background context.
func (e *runEnv) ready() error { return e.a.Ready(context.Background()) }

// mountTmpfs mounts a tmpfs of the given size (such as "4m") on a new
// temporary folder, unmounted when the test ends. It skips the test when
// it cannot (not root, no mount).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v: %s", dir, err, out)
	}
	// Registered after t.TempDir's removal, so run before it; and after
	// startFaultRun's cleanup (registered later), which stops HAProxy.
	t.Cleanup(func() {
		_ = exec.Command("mount", "-o", "remount,rw", dir).Run()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; unmounting lazily", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// remount remounts the tmpfs dir with opt ("ro" or "rw").
func remount(t *testing.T, dir, opt string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opt, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", opt, dir, err, out)
	}
}

// fill writes a file into dir until the file system is full and returns
// its path. It checks that not even one more byte can be written.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err = f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
	}
	probe := filepath.Join(dir, "probe")
	if err := os.WriteFile(probe, []byte("x"), 0o600); !errors.Is(err, syscall.ENOSPC) {
		os.Remove(probe)
		t.Fatalf("after filling %s, writing one byte: %v, want ENOSPC", dir, err)
	}
	os.Remove(probe)
	return p
}

// certFile returns the file under root holding the certificate leaf (its
// DER among the file's CERTIFICATE blocks), "" if none does.
func certFile(root string, leaf *pki.Leaf) string {
	found := ""
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || found != "" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for {
			var b *pem.Block
			if b, data = pem.Decode(data); b == nil {
				return nil
			}
			if b.Type == "CERTIFICATE" && string(b.Bytes) == string(leaf.Cert.Raw) {
				found = p
				return nil
			}
		}
	})
	return found
}

// certName is what servedCert says for leaf.
func certName(leaf *pki.Leaf) string {
	return fmt.Sprintf("%s/%s", leaf.Cert.Subject.CommonName, leaf.Cert.SerialNumber)
}

// TestFaultStoppedMasterRetry: a reload against a stopped (SIGSTOP) master
// fails; the apply is retried, without any file changing, once the master
// runs again. Meanwhile the workers keep serving, and Ready and /readyz
// say HAProxy is behind.
func TestFaultStoppedMasterRetry(t *testing.T) {
	e := startFaultRun(t, faultOptions{reloadTimeout: 2 * time.Second})
	if code, body := e.readyz(); code != 200 {
		t.Fatalf("/readyz = %d %q while serving, want 200", code, body)
	}
	pid := e.a.Process().MasterPID()
	failures := e.failures()

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	continued := false
	cont := func() {
		if !continued {
			continued = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT %d: %v", pid, err)
			}
		}
	}
	t.Cleanup(cont)

	// A new Service and route: a new backend, so a reload.
	api := backend.Start(t, "api")
	e.write("api.yaml", runService, map[string]any{"Name": "api", "Port": api.Port})
	e.write("route-api.yaml", runRoute, map[string]any{"Name": "api", "Path": "/api", "Service": "api"})

	// Scrapes of the metrics meanwhile, as Prometheus would make them.
	var slowestGather atomic.Int64
	stopScrapes := make(chan struct{})
	scrapesDone := make(chan struct{})
	go func() {
		defer close(scrapesDone)
		for {
			select {
			case <-stopScrapes:
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			_, _ = e.m.Registry.Gather()
			if d := int64(time.Since(start)); d > slowestGather.Load() {
				slowestGather.Store(d)
			}
		}
	}()
	var lastReady error
	var served, gets int
	var slowestReady time.Duration
	took, ok := eventually(90*time.Second, func() bool {
		// The existing route answers all along, from the old worker.
		gets++
		if e.get("default.example.com", "/") == 200 {
			served++
		}
		start := time.Now()
		lastReady = e.ready()
		slowestReady = max(slowestReady, time.Since(start))
		return e.failures() >= failures+2 && lastReady != nil
	})
	close(stopScrapes)
	<-scrapesDone
	if !ok {
		t.Fatalf("after %s with the master stopped: apply failures %v (were %v), Ready: %v", took, e.failures(), failures, lastReady)
	}
	t.Logf("two failed applies counted and Ready failing %s after SIGSTOP: %v", took, lastReady)
	// Not asserted (wall-clock): Ready and the metrics wait for the
	// agent's lock, which an apply holds.
	t.Logf("while applies failed, Ready took up to %s and gathering the metrics up to %s", slowestReady, time.Duration(slowestGather.Load()))
	if served != gets {
		t.Errorf("the existing route answered %d of %d requests while the master was stopped", served, gets)
	}
	if got := e.backendName("default.example.com", "/api"); got == "api" {
		t.Errorf("/api reached the api backend while its reload could not happen")
	}
	if code, body := e.readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d %q while the master is stopped and the apply fails, want 503", code, body)
	} else {
		t.Logf("/readyz: 503 %q", body)
	}

	cont()
	t.Logf("SIGCONT after %s stopped", time.Since(stopped).Round(time.Millisecond))
	resumed := time.Now()
	if took, ok := eventually(120*time.Second, func() bool { return e.backendName("default.example.com", "/api") == "api" }); !ok {
		t.Fatalf("/api is not routed to the api backend %s after SIGCONT (Ready: %v)", took, e.ready())
	} else {
		t.Logf("/api served by api %s after SIGCONT", took)
	}
	if took, ok := eventually(30*time.Second, func() bool { return e.ready() == nil }); !ok {
		t.Fatalf("Ready still fails %s after the change is served: %v", took, e.ready())
	}
	if code, body := e.readyz(); code != 200 {
		t.Errorf("/readyz = %d %q once the change is applied, want 200", code, body)
	}
	t.Logf("ready again %s after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	if got := e.backendName("default.example.com", "/"); got != "web" {
		t.Errorf("/ reached %q, want web", got)
	}
	if p := e.a.Process(); p.MasterPID() != pid || p.Restarts() != 0 {
		t.Errorf("master pid %d, restarts %d: the stopped master %d was replaced rather than reloaded", p.MasterPID(), p.Restarts(), pid)
	}
}

// TestFaultFullDiskRetry: with the state folder on a full file system, a
// change needing new files (a hostname and its certificate through the
// Runtime API; a new Service through a reload) is not applied and the
// failures are counted while the old configuration serves; once space is
// freed the change is applied without any file of the source folder
// changing.
func TestFaultFullDiskRetry(t *testing.T) {
	mnt := mountTmpfs(t, "4m")
	e := startFaultRun(t, faultOptions{state: filepath.Join(mnt, "state")})

	// while checks that the change is not applied, twice retried, while
	// the disk is full, and that the old configuration keeps serving.
	while := func(t *testing.T, failures float64, applied func() bool) {
		t.Helper()
		var lastReady error
		var served, gets int
		took, ok := eventually(90*time.Second, func() bool {
			gets++
			if e.get("default.example.com", "/") == 200 {
				served++
			}
			if applied() {
				t.Errorf("the change is served although its files cannot be written")
			}
			lastReady = e.ready()
			return e.failures() >= failures+2 && lastReady != nil
		})
		if !ok {
			t.Fatalf("after %s with the disk full: apply failures %v (were %v), Ready: %v", took, e.failures(), failures, lastReady)
		}
		t.Logf("two failed applies counted %s after the change (disk full): %v", took, lastReady)
		if served != gets {
			t.Errorf("the existing route answered %d of %d requests while the disk was full", served, gets)
		}
		if code, body := e.readyz(); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d %q while the apply fails, want 503", code, body)
		}
	}

	t.Run("hostname and certificate (runtime)", func(t *testing.T) {
		filler := fill(t, mnt)
		failures := e.failures()
		reloads := e.counter("hagate_haproxy_reloads_total", "")
		shop := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"shop.example.com"}})
		e.secret("shop-cert", shop)
		e.gateway("default-cert", "shop-cert")
		while(t, failures, func() bool { return e.servedCert("shop.example.com") == certName(shop) })
		if f := certFile(filepath.Join(e.state, "config"), shop); f != "" {
			t.Errorf("shop.example.com's certificate is on disk (%s) although the apply failed", f)
		}

		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		freed := time.Now()
		if took, ok := eventually(120*time.Second, func() bool { return e.servedCert("shop.example.com") == certName(shop) }); !ok {
			t.Fatalf("shop.example.com's certificate is not served %s after space was freed (Ready: %v)", took, e.ready())
		} else {
			t.Logf("shop.example.com's certificate served %s after space was freed", took)
		}
		if code := e.get("shop.example.com", "/"); code != 200 {
			t.Errorf("shop.example.com answers %d", code)
		}
		if _, ok := eventually(30*time.Second, func() bool { return e.ready() == nil }); !ok {
			t.Errorf("Ready still fails after the change is served: %v", e.ready())
		}
		if code, body := e.readyz(); code != 200 {
			t.Errorf("/readyz = %d %q, want 200", code, body)
		}
		if f := certFile(filepath.Join(e.state, "config"), shop); f == "" {
			t.Errorf("shop.example.com's certificate is served but not on disk")
		}
		t.Logf("ready %s after space was freed; reloads %v -> %v", time.Since(freed).Round(time.Millisecond), reloads, e.counter("hagate_haproxy_reloads_total", ""))
	})

	t.Run("service and route (reload)", func(t *testing.T) {
		filler := fill(t, mnt)
		failures := e.failures()
		reloads := e.counter("hagate_haproxy_reloads_total", "")
		api := backend.Start(t, "api")
		e.write("api.yaml", runService, map[string]any{"Name": "api", "Port": api.Port})
		e.write("route-api.yaml", runRoute, map[string]any{"Name": "api", "Path": "/api", "Service": "api"})
		while(t, failures, func() bool { return e.backendName("default.example.com", "/api") == "api" })
		if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
			t.Errorf("reloads went from %v to %v with the disk full", reloads, r)
		}

		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		if took, ok := eventually(120*time.Second, func() bool { return e.backendName("default.example.com", "/api") == "api" }); !ok {
			t.Fatalf("/api is not routed to api %s after space was freed (Ready: %v)", took, e.ready())
		} else {
			t.Logf("/api served by api %s after space was freed", took)
		}
		if _, ok := eventually(30*time.Second, func() bool { return e.ready() == nil }); !ok {
			t.Errorf("Ready still fails after the change is served: %v", e.ready())
		}
		if got := e.backendName("shop.example.com", "/"); got != "web" {
			t.Errorf("shop.example.com/ reached %q, want web", got)
		}
	})
}

// TestFaultReadOnlyStateRestart: with the state folder read-only, a
// certificate rotation cannot write its files, so it is not applied; a
// master killed meanwhile is started again on the files on disk (the old
// certificate); once the folder is writable again the rotation is applied
// without any file of the source folder changing.
func TestFaultReadOnlyStateRestart(t *testing.T) {
	mnt := mountTmpfs(t, "4m")
	e := startFaultRun(t, faultOptions{state: filepath.Join(mnt, "state")})
	certs := filepath.Join(e.state, "config", "certs")

	// A certificate of our own, served and on disk before the fault.
	old := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}})
	e.secret("default-cert", old)
	if took, ok := eventually(30*time.Second, func() bool { return e.servedCert("default.example.com") == certName(old) }); !ok {
		t.Fatalf("the first certificate is not served after %s", took)
	}
	if _, ok := eventually(10*time.Second, func() bool { return e.ready() == nil && certFile(certs, old) != "" }); !ok {
		t.Fatalf("the first certificate is not on disk under %s (Ready: %v)", certs, e.ready())
	}
	oldFile := certFile(certs, old)
	t.Logf("certificate file: %s", oldFile)

	remount(t, mnt, "ro")
	failures := e.failures()
	rotated := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}})
	e.secret("default-cert", rotated)
	took, ok := eventually(90*time.Second, func() bool { return e.failures() > failures && e.ready() != nil })
	if !ok {
		t.Fatalf("after %s with the state folder read-only: apply failures %v (were %v), Ready: %v", took, e.failures(), failures, e.ready())
	}
	t.Logf("failed apply counted %s after the rotation (read-only): %v", took, e.ready())
	if got := e.servedCert("default.example.com"); got != certName(old) {
		t.Errorf("served certificate %q, want the old one %q: the rotation was applied although its files could not be written", got, certName(old))
	}
	if f := certFile(certs, rotated); f != "" {
		t.Fatalf("the rotated certificate is in %s on a read-only folder", f)
	}

	t.Run("master killed while read-only", func(t *testing.T) {
		// HAProxy binds its UNIX sockets (STATE/master.sock,
		// STATE/config/haproxy.sock) and writes STATE/haproxy.pid in the
		// state folder: while it is read-only a new master cannot start
		// ("error when trying to unlink previous UNIX socket (Read-only
		// file system)"), which the README states. What matters is that
		// hagate says so (not ready) and that, once the folder is writable
		// again, HAProxy comes back on files that are what it should run.
		p := e.a.Process()
		pid := p.MasterPID()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if _, ok := eventually(10*time.Second, func() bool { return p.MasterPID() != pid && e.ready() != nil }); !ok {
			t.Errorf("Ready after the master was killed with the state folder read-only: %v", e.ready())
		}
		if code, _ := e.readyz(); code != 503 {
			t.Errorf("/readyz = %d with no master, want 503", code)
		}
	})

	remount(t, mnt, "rw")
	rw := time.Now()
	t.Logf("restarts counted before the folder was made writable: %v", e.counter("hagate_haproxy_restarts_total", ""))
	if took, ok := eventually(150*time.Second, func() bool { return e.servedCert("default.example.com") == certName(rotated) }); !ok {
		t.Fatalf("the rotated certificate is not served %s after the folder was made writable (served %q; Ready: %v)",
			took, e.servedCert("default.example.com"), e.ready())
	} else {
		t.Logf("the rotated certificate is served %s after the folder was made writable", took)
	}
	if f := certFile(certs, rotated); f != oldFile {
		t.Errorf("the rotated certificate is in %q, want %q", f, oldFile)
	}
	if f := certFile(certs, old); f != "" {
		t.Errorf("the old certificate is still on disk in %s", f)
	}
	if _, ok := eventually(30*time.Second, func() bool { return e.ready() == nil }); !ok {
		t.Errorf("Ready still fails after the rotation is served: %v", e.ready())
	}
	if code, body := e.readyz(); code != 200 {
		t.Errorf("/readyz = %d %q, want 200", code, body)
	}
	t.Logf("ready %s after the folder was made writable", time.Since(rw).Round(time.Millisecond))
}

// TestFaultFullDiskMasterRestart is TestFaultReadOnlyStateRestart with a
// full state folder instead of a read-only one (HAProxy can still create
// its sockets there): a rotation whose files cannot be written is not
// applied, a master killed meanwhile is started again on the files on disk
// and serves the old certificate, and once space is freed the rotation is
// applied without any file of the source folder changing.
func TestFaultFullDiskMasterRestart(t *testing.T) {
	mnt := mountTmpfs(t, "4m")
	e := startFaultRun(t, faultOptions{state: filepath.Join(mnt, "state")})
	certs := filepath.Join(e.state, "config", "certs")

	old := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}})
	e.secret("default-cert", old)
	if took, ok := eventually(30*time.Second, func() bool { return e.servedCert("default.example.com") == certName(old) }); !ok {
		t.Fatalf("the first certificate is not served after %s", took)
	}
	if _, ok := eventually(10*time.Second, func() bool { return e.ready() == nil && certFile(certs, old) != "" }); !ok {
		t.Fatalf("the first certificate is not on disk under %s (Ready: %v)", certs, e.ready())
	}
	oldFile := certFile(certs, old)

	filler := fill(t, mnt)
	failures := e.failures()
	rotated := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}})
	e.secret("default-cert", rotated)
	took, ok := eventually(90*time.Second, func() bool { return e.failures() > failures && e.ready() != nil })
	if !ok {
		t.Fatalf("after %s with the disk full: apply failures %v (were %v), Ready: %v", took, e.failures(), failures, e.ready())
	}
	t.Logf("failed apply counted %s after the rotation (disk full): %v", took, e.ready())
	if got := e.servedCert("default.example.com"); got != certName(old) {
		t.Fatalf("served certificate %q, want the old one %q: the rotation was applied although its files could not be written", got, certName(old))
	}

	p := e.a.Process()
	pid := p.MasterPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	took, ok = eventually(60*time.Second, func() bool {
		return p.MasterPID() != pid && p.MasterPID() != 0 && e.get("default.example.com", "/") == 200
	})
	if !ok {
		t.Fatalf("HAProxy does not serve %s after its master was killed with the disk full (master pid %d, restarts %d)", took, p.MasterPID(), p.Restarts())
	}
	t.Logf("a new master (pid %d) serves %s after the kill", p.MasterPID(), took)
	if got := e.servedCert("default.example.com"); got != certName(old) {
		t.Errorf("the restarted master serves %q, want the old certificate %q (the files on disk)", got, certName(old))
	}
	if f := certFile(certs, old); f != oldFile {
		t.Errorf("the old certificate is in %q, want %q", f, oldFile)
	}
	if f := certFile(certs, rotated); f != "" {
		t.Errorf("the rotated certificate is on disk in %s although it is not served", f)
	}
	if err := e.ready(); err == nil {
		t.Errorf("Ready returned nil while the rotation is not applied")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if took, ok := eventually(120*time.Second, func() bool { return e.servedCert("default.example.com") == certName(rotated) }); !ok {
		t.Fatalf("the rotated certificate is not served %s after space was freed (served %q; Ready: %v)",
			took, e.servedCert("default.example.com"), e.ready())
	} else {
		t.Logf("the rotated certificate is served %s after space was freed", took)
	}
	if f := certFile(certs, rotated); f != oldFile {
		t.Errorf("the rotated certificate is in %q, want %q", f, oldFile)
	}
	if _, ok := eventually(30*time.Second, func() bool { return e.ready() == nil }); !ok {
		t.Errorf("Ready still fails after the rotation is served: %v", e.ready())
	}
	if r := e.counter("hagate_haproxy_restarts_total", ""); r != 1 {
		t.Errorf("hagate_haproxy_restarts_total = %v after one kill, want 1", r)
	}
}

// TestFaultReadinessAndRestarts: /readyz answers 200 while HAProxy runs
// the configuration, 503 while no master runs (between a kill and the
// restart); hagate_haproxy_restarts_total counts one restart per kill.
func TestFaultReadinessAndRestarts(t *testing.T) {
	e := startFaultRun(t, faultOptions{})
	srv := httptest.NewServer(e.m.Handler())
	defer srv.Close()
	client := &http.Client{Timeout: 60 * time.Second}
	readyz := func() (int, string) {
		resp, err := client.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatalf("/readyz: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	if code, body := readyz(); code != 200 {
		t.Fatalf("/readyz = %d %q while serving, want 200", code, body)
	}
	restarts := func() float64 { return e.counter("hagate_haproxy_restarts_total", "") }
	if r := restarts(); r != 0 {
		t.Fatalf("hagate_haproxy_restarts_total = %v before any kill", r)
	}

	p := e.a.Process()
	for kill := 1; kill <= 2; kill++ {
		pid := p.MasterPID()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		// The gap: the supervisor waits (1s, then 2s) before it starts a
		// new master. Sample readiness while MasterPID() is 0 before and
		// after the sample.
		var gapCode int
		var gapBody string
		var gapReady error
		sampled := false
		for time.Since(killed) < 30*time.Second && !sampled {
			switch cur := p.MasterPID(); {
			case cur == 0:
				ready := e.ready()
				code, body := readyz()
				if p.MasterPID() == 0 {
					gapReady, gapCode, gapBody, sampled = ready, code, body, true
				}
			case cur != pid:
				t.Fatalf("kill %d: a new master (pid %d) runs %s after the kill and no gap was seen", kill, cur, time.Since(killed))
			default:
				time.Sleep(time.Millisecond)
			}
		}
		if !sampled {
			t.Fatalf("kill %d: MasterPID() still %d 30s after the kill", kill, p.MasterPID())
		}
		t.Logf("kill %d: no master %s after the kill; Ready: %v; /readyz: %d %q", kill, time.Since(killed).Round(time.Millisecond), gapReady, gapCode, gapBody)
		if gapReady == nil {
			t.Errorf("kill %d: Ready returned nil while no master runs", kill)
		}
		if gapCode != http.StatusServiceUnavailable {
			t.Errorf("kill %d: /readyz = %d %q while no master runs, want 503", kill, gapCode, gapBody)
		}

		// Ready again, and serving, on a new master; one restart more.
		took, ok := eventually(90*time.Second, func() bool {
			return p.MasterPID() != 0 && p.MasterPID() != pid && e.ready() == nil && e.get("default.example.com", "/") == 200
		})
		if !ok {
			t.Fatalf("kill %d: HAProxy does not serve %s after the kill (pid %d, Ready: %v)", kill, took, p.MasterPID(), e.ready())
		}
		t.Logf("kill %d: master %d serves and Ready %s after the kill", kill, p.MasterPID(), took)
		if code, body := readyz(); code != 200 {
			t.Errorf("kill %d: /readyz = %d %q once serving again, want 200", kill, code, body)
		}
		if r := restarts(); r != float64(kill) {
			t.Errorf("kill %d: hagate_haproxy_restarts_total = %v, want %d", kill, r, kill)
		}
		if r := p.Restarts(); r != kill {
			t.Errorf("kill %d: Restarts() = %d, want %d", kill, r, kill)
		}
	}
}

// TestFaultReadyBeforeServing: once a killed master has been started
// again, Ready must not report ready before the new master's worker
// serves (the configuration is not run by anything before).
//
// Before 836637d Ready only checked MasterPID() != 0, set as soon as the
// new master process is forked (before it has parsed its configuration,
// opened its sockets or forked a worker): this test failed every time, the
// route answering nothing for ~60ms after Ready returned nil.
func TestFaultReadyBeforeServing(t *testing.T) {
	e := startFaultRun(t, faultOptions{})
	p := e.a.Process()
	pid := p.MasterPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// Poll Ready as fast as possible; at its first nil, the route must
	// answer.
	for {
		if time.Since(killed) > 60*time.Second {
			t.Fatalf("Ready did not return nil within 60s of the kill: %v", e.ready())
		}
		if p.MasterPID() == pid || e.ready() != nil {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		readyAt := time.Since(killed)
		code := e.get("default.example.com", "/")
		procs, err := p.CLI().ShowProc(context.Background())
		t.Logf("Ready returned nil %s after the kill (new master %d); the route then answered %d", readyAt, p.MasterPID(), code)
		if code != 200 {
			served, _ := eventually(30*time.Second, func() bool { return e.get("default.example.com", "/") == 200 })
			t.Errorf("Ready reported HAProxy ready while the route answered %d (0: connection failed) and the master CLI said %v %v; the route served %s later",
				code, procs, err, served)
		}
		return
	}
}

// TestFaultAttachModeHagateKilled: hagate run in attach mode, a process of
// its own, killed with SIGKILL: the HAProxy it drove keeps serving with the
// same master; a new hagate on the same folders attaches to it and applies
// changes.
func TestFaultAttachModeHagateKilled(t *testing.T) {
	bin := hagateBinary(t)
	cfgDir := t.TempDir()
	other := t.TempDir()
	master := filepath.Join(other, "master.sock")
	// The HAProxy of the other container, as in TestRunAttachMode.
	boot := fmt.Sprintf("global\n    stats socket %s/haproxy.sock mode 600 level admin expose-fd listeners\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n", cfgDir)
	if err := os.WriteFile(filepath.Join(cfgDir, "haproxy.cfg"), []byte(boot), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := haproxy.Start(ctx, haproxy.ProcessOptions{
		Binary: haproxytest.Binary(t), ConfigFile: filepath.Join(cfgDir, "haproxy.cfg"), MasterSocket: master,
		PIDFile: filepath.Join(other, "other.pid"), Log: logr.Discard(), Stdout: io.Discard, Stderr: io.Discard,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); p.Wait() })

	src, state := t.TempDir(), t.TempDir()
	ca := pki.NewCA(t, "attach faults CA")
	e := &runEnv{t: t, dir: src, https: haproxytest.FreePort(t), http: haproxytest.FreePort(t), ca: ca}
	web := backend.Start(t, "web")
	e.secret("default-cert", ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}}))
	e.gateway("default-cert")
	e.write("web.yaml", runService, map[string]any{"Name": "web", "Port": web.Port})
	e.write("route-web.yaml", runRoute, map[string]any{"Name": "web", "Path": "/", "Service": "web"})

	// run starts hagate run in attach mode; its output is logged when the
	// test ends.
	runs := 0
	run := func() (*exec.Cmd, *syncbuf.Buffer) {
		runs++
		n := runs
		out := &syncbuf.Buffer{}
		cmd := exec.Command(bin, "run", "--source-dir", src, "--state-dir", state, "--config-dir", cfgDir,
			"--haproxy-master-socket", master, "--bind-address", "127.0.0.1", "--metrics-bind-address", "",
			"--haproxy-bin", haproxytest.Binary(t))
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			select {
			case <-exited:
			default:
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
			}
			t.Logf("hagate run #%d (pid %d) output:\n%s", n, cmd.Process.Pid, out.String())
		})
		return cmd, out
	}
	// applied counts the applies a hagate logged.
	applied := func(out *syncbuf.Buffer) int { return strings.Count(out.String(), `"msg":"applied"`) }

	first, out1 := run()
	if took, ok := eventually(60*time.Second, func() bool { return e.get("default.example.com", "/") == 200 }); !ok {
		t.Fatalf("the attached HAProxy does not serve hagate's configuration after %s", took)
	} else {
		t.Logf("hagate's configuration served %s after hagate started", took)
	}
	// Killed once quiet: its reload confirmed, the master answering.
	var procs []haproxy.Proc
	if took, ok := eventually(60*time.Second, func() bool {
		procs, err = p.CLI().ShowProc(context.Background())
		return applied(out1) == 1 && err == nil
	}); !ok {
		t.Fatalf("hagate did not log its first apply, or the master does not answer, after %s: %v", took, err)
	}
	masterPID := p.MasterPID()
	reloads := procs[0].Reloads

	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// HAProxy keeps serving, with the same master, for a few seconds.
	var served, gets int
	for time.Since(killed) < 3*time.Second {
		gets++
		if e.get("default.example.com", "/") == 200 {
			served++
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("after hagate was killed: %d of %d requests answered 200 in 3s", served, gets)
	if served != gets {
		t.Errorf("only %d of %d requests answered 200 after hagate was killed", served, gets)
	}
	if pid := p.MasterPID(); pid != masterPID || p.Restarts() != 0 {
		t.Errorf("the HAProxy master changed after hagate was killed: pid %d (was %d), restarts %d", pid, masterPID, p.Restarts())
	}

	// Traffic during the second hagate's start (it reloads the master on
	// its first apply, a hitless reload).
	var okN, failedN atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if code := e.get("default.example.com", "/"); code == 200 {
				okN.Add(1)
			} else {
				failedN.Add(1)
				firstErr.CompareAndSwap(nil, code)
			}
		}
	}()

	_, out2 := run()
	restarted := time.Now()
	// The second hagate attaches: its first apply reloads the master on
	// the folder as it is.
	if took, ok := eventually(60*time.Second, func() bool { return applied(out2) >= 1 }); !ok {
		t.Fatalf("the second hagate logged no apply within %s", took)
	} else {
		t.Logf("the second hagate applied the folder %s after it started", took)
	}
	// Then a new route to a new Service.
	api := backend.Start(t, "api")
	e.write("api.yaml", runService, map[string]any{"Name": "api", "Port": api.Port})
	e.write("route-api.yaml", runRoute, map[string]any{"Name": "api", "Path": "/api", "Service": "api"})
	took, ok := eventually(90*time.Second, func() bool { return e.backendName("default.example.com", "/api") == "api" })
	close(stop)
	<-loadDone
	if !ok {
		t.Fatalf("the second hagate did not apply the new route within %s", took)
	}
	t.Logf("the new route served %s after it was written (%s after the second hagate started); %d requests meanwhile, %d failed",
		took, time.Since(restarted).Round(time.Millisecond), okN.Load(), failedN.Load())
	if failedN.Load() > 0 {
		t.Errorf("%d of %d requests failed while the second hagate attached (first status %v)", failedN.Load(), okN.Load()+failedN.Load(), firstErr.Load())
	}
	if got := e.backendName("default.example.com", "/"); got != "web" {
		t.Errorf("/ reached %q, want web", got)
	}
	if _, ok := eventually(60*time.Second, func() bool {
		procs, err = p.CLI().ShowProc(context.Background())
		return err == nil && applied(out2) >= 2
	}); !ok {
		t.Fatalf("the second hagate did not log the route's apply, or the master does not answer: %v", err)
	}
	if pid := p.MasterPID(); pid != masterPID || p.Restarts() != 0 || procs[0].PID != masterPID {
		t.Errorf("the HAProxy master changed: pid %d / show proc %d (was %d), restarts %d", pid, procs[0].PID, masterPID, p.Restarts())
	}
	if procs[0].Reloads <= reloads {
		t.Errorf("the master's reloads stayed at %d: the second hagate did not reload it", procs[0].Reloads)
	} else {
		t.Logf("master reloads %d -> %d", reloads, procs[0].Reloads)
	}
}
