package e2e

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/internal/testutil/syncbuf"
)

// startHagate runs the hagate binary with args; its output goes to out.
// The process is killed at the end of the test if still running.
func startHagate(t *testing.T, out *syncbuf.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(hagateBinary(t), args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return cmd
}

// alive reports whether a process runs (and is not a zombie).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return len(f) > 2 && f[2] != "Z"
}

func pidFile(t *testing.T, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// TestKilledHagateHAProxyKeepsServing: kill -9 of hagate (supervise mode)
// leaves HAProxy serving; the next hagate takes its listening sockets
// over and stops it softly. Clients looping all along see no failure.
func TestKilledHagateHAProxyKeepsServing(t *testing.T) {
	e := &runEnv{t: t, dir: t.TempDir(), state: t.TempDir(), ca: pki.NewCA(t, "takeover CA"),
		http: haproxytest.FreePort(t), https: haproxytest.FreePort(t)}
	e.secret("default-cert", e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}}))
	e.gateway("default-cert")
	web := backend.Start(t, "web")
	e.write("web.yaml", runService, map[string]any{"Name": "web", "Port": web.Port})
	e.write("route-web.yaml", runRoute, map[string]any{"Name": "web", "Path": "/", "Service": "web"})
	args := []string{"run", "--source-dir", e.dir, "--state-dir", e.state, "--bind-address", "127.0.0.1", "--metrics-bind-address", "",
		"--haproxy-bin", haproxytest.Binary(t)}

	var log1 syncbuf.Buffer
	first := startHagate(t, &log1, args...)
	if _, ok := eventually(30*time.Second, func() bool { return e.get("default.example.com", "/") == 200 }); !ok {
		t.Fatalf("hagate does not serve:\n%s", log1.String())
	}
	oldMaster := pidFile(t, filepath.Join(e.state, "haproxy.pid"))
	t.Cleanup(func() {
		// Left running if the takeover failed.
		if alive(oldMaster) {
			_ = syscall.Kill(oldMaster, syscall.SIGTERM)
		}
	})

	l := startLoad(loadOptions{
		TLS: &tls.Config{ServerName: "default.example.com", RootCAs: e.ca.Pool()},
		URL: func(int) string { return fmt.Sprintf("https://127.0.0.1:%d/", e.https) },
	})

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if !alive(oldMaster) {
		t.Fatal("HAProxy's master died with hagate")
	}
	atKill := l.ok.Load()

	var log2 syncbuf.Buffer
	startHagate(t, &log2, args...)
	if took, done := eventually(60*time.Second, func() bool {
		m := pidFile(t, filepath.Join(e.state, "haproxy.pid"))
		return m != 0 && m != oldMaster && !alive(oldMaster)
	}); !done {
		t.Fatalf("the new hagate did not take over from master %d after %s:\n%s", oldMaster, took, log2.String())
	}
	// A change after the takeover is applied by the new hagate.
	api := backend.Start(t, "api")
	e.write("api.yaml", runService, map[string]any{"Name": "api", "Port": api.Port})
	e.write("route-api.yaml", runRoute, map[string]any{"Name": "api", "Path": "/api", "Service": "api"})
	if _, done := eventually(30*time.Second, func() bool { return e.backendName("default.example.com", "/api") == "api" }); !done {
		t.Errorf("a change after the takeover is not applied:\n%s", log2.String())
	}
	ok, failed, failures := l.Stop()
	t.Logf("%d requests (%d by the time no hagate ran for 2s), %d failed", ok, atKill, failed)
	if ok <= atKill {
		t.Error("no request was served after hagate was killed")
	}
	if failed > 0 {
		t.Errorf("%d requests failed across the kill and the takeover: %v", failed, failures)
	}
	if !strings.Contains(log2.String(), "taking over its listening sockets") {
		t.Errorf("the new hagate did not say it took over:\n%s", log2.String())
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// hagateBinary builds ./cmd/hagate once per test binary.
func hagateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hagate-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "hagate")
		out, err := exec.Command("go", "build", "-o", builtBin, "../../cmd/hagate").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}
