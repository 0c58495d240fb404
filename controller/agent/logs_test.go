package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/metricstest"
	"hagate.io/hagate/internal/testutil/syncbuf"
	"hagate.io/hagate/render/ir"
)

// TestDroppedLogsGrew: increments from a worker's readings, all of a new
// worker's count.
func TestDroppedLogsGrew(t *testing.T) {
	var d droppedLogs
	for i, c := range []struct {
		pid     int
		dropped uint64
		want    uint64
	}{
		{10, 0, 0},
		{10, 5, 5},
		{10, 5, 0},
		{10, 12, 7},
		{11, 3, 3}, // a reload: a new worker counts from zero
		{11, 3, 0},
	} {
		if got := d.grew(c.pid, c.dropped); got != c.want {
			t.Errorf("reading %d (pid %d, %d): grew %d, want %d", i, c.pid, c.dropped, got, c.want)
		}
	}
	if d.total != 15 {
		t.Errorf("total %d, want 15", d.total)
	}
}

func TestParseDroppedLogs(t *testing.T) {
	pid, n, err := parseDroppedLogs(bufio.NewScanner(strings.NewReader("Name: HAProxy\nPid: 42\nUptime_sec: 3\nDroppedLogs: 31666\n\n")))
	if err != nil || pid != 42 || n != 31666 {
		t.Errorf("got %d %d %v", pid, n, err)
	}
	if _, _, err := parseDroppedLogs(bufio.NewScanner(strings.NewReader("Pid: 42\n"))); err == nil {
		t.Error("no DroppedLogs: no error")
	}
}

// TestWatchDroppedLogs: HAProxy logging to a pipe nobody reads drops the
// lines that do not fit; WatchDroppedLogs counts them in the metric and
// logs them.
func TestWatchDroppedLogs(t *testing.T) {
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "config")
	var logs syncbuf.Buffer
	m := metrics.New()
	a, err := New(Options{StateDir: dir, ConfigDir: cfgDir, Metrics: m, AccessLog: ir.AccessLogStdout,
		Log: funcr.NewJSON(func(obj string) { fmt.Fprintln(&logs, obj) }, funcr.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	port := haproxytest.FreePort(t)
	cfg := filepath.Join(cfgDir, "haproxy.cfg")
	err = os.WriteFile(cfg, fmt.Appendf(nil, `global
    log stdout format raw daemon
    stats socket %s mode 600 level admin
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend web
    bind 127.0.0.1:%d
    http-request return status 200 content-type text/plain string ok
`, filepath.Join(cfgDir, "haproxy.sock"), port), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// HAProxy's standard output is a pipe nobody reads: once its buffer
	// is full, every line is dropped.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(haproxytest.Binary(t), "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = pw, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.WatchDroppedLogs(ctx, 50*time.Millisecond)
	}()
	defer func() {
		cancel()
		<-done
	}()
	// A 64 kB pipe holds a few hundred lines of about 100 bytes.
	c := &http.Client{}
	for range 2000 {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	_, haproxyDropped, err := readDroppedLogs(ctx, filepath.Join(cfgDir, "haproxy.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if haproxyDropped < 1000 {
		t.Fatalf("HAProxy dropped %d lines, want most of 2,000", haproxyDropped)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		got := metricstest.Counter(t, m.Registry, "hagate_haproxy_dropped_logs_total", "")
		if uint64(got) == haproxyDropped && strings.Contains(logs.String(), "HAProxy dropped access log lines") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %v, HAProxy %d; log:\n%s", got, haproxyDropped, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
