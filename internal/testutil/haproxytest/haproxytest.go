// Package haproxytest runs the real HAProxy binary for tests: it validates
// configurations with `haproxy -c` and starts short-lived foreground
// processes on loopback ports, stopping them when the test ends.
//
// HAProxy is a hard requirement: when it is missing the test fails (it is
// never skipped) and says how to install it.
package haproxytest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hagate.io/hagate/internal/testutil/syncbuf"
)

// EnvBinary names the environment variable that overrides the HAProxy
// binary.
const EnvBinary = "HAGATE_HAPROXY_BIN"

const (
	checkTimeout = 2 * time.Minute
	waitTimeout  = 10 * time.Second
	pollInterval = 20 * time.Millisecond
	stopGrace    = 3 * time.Second
)

// fallbackPaths are tried after PATH: Debian installs HAProxy in /usr/sbin,
// which is not on a normal user's PATH.
var fallbackPaths = []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"}

// Binary returns the HAProxy binary to run: $HAGATE_HAPROXY_BIN if set,
// else "haproxy" from PATH (then /usr/sbin and /usr/local/sbin). It fails the
// test when none is found.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := lookBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func lookBinary() (string, error) {
	const hint = "HAProxy is required by this test: run `make deps` (apt-get install haproxy) or set " + EnvBinary
	if bin := os.Getenv(EnvBinary); bin != "" {
		p, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("%s=%q: %w; %s", EnvBinary, bin, err, hint)
		}
		return p, nil
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	for _, p := range fallbackPaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("haproxy not found on PATH; " + hint)
}

// Check validates cfgPath with `haproxy -c -f cfgPath` and fails the test
// with HAProxy's full output and the numbered configuration text when it is
// invalid. See CheckErr for the working directory.
func Check(t testing.TB, cfgPath string) {
	t.Helper()
	Binary(t)
	if err := CheckErr(cfgPath); err != nil {
		t.Fatalf("%v\n--- %s ---\n%s", err, cfgPath, numbered(cfgPath))
	}
}

// CheckErr validates cfgPath with `haproxy -c -f cfgPath` and returns an
// error holding HAProxy's output when it is invalid (or HAProxy is missing).
// HAProxy runs in the configuration's directory, so relative paths in the
// configuration (crt-list files, CA files, maps) are resolved next to it.
// It runs with -dW: a warning fails the check too, as a configuration
// hagate writes must read clean to an HAProxy expert.
func CheckErr(cfgPath string) error {
	bin, err := lookBinary()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-dW", "-c", "-f", abs)
	cmd.Dir = filepath.Dir(abs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("haproxy -c -f %s: %w\n%s", cfgPath, err, strings.TrimRight(string(out), "\n"))
	}
	return nil
}

// numbered returns the file's text with line numbers, or why it cannot.
func numbered(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		fmt.Fprintf(&b, "%4d | %s\n", i+1, line)
	}
	return b.String()
}

// Process is a foreground HAProxy started by Start.
type Process struct {
	cmd  *exec.Cmd
	logs syncbuf.Buffer
	done chan struct{} // closed once the process has exited
	err  error         // exit status, valid after done is closed
}

// Start runs `haproxy -db -f cfgPath` (foreground, no master-worker) in the
// configuration's directory, capturing its stdout and stderr, and waits
// until every waitAddr (e.g. "127.0.0.1:8080") accepts TCP connections. It
// fails the test if HAProxy exits first or the addresses are not ready
// within 10s. At cleanup the process gets SIGTERM, then SIGKILL after 3s,
// and its output is logged if the test failed.
func Start(t testing.TB, cfgPath string, waitAddrs ...string) *Process {
	t.Helper()
	bin := Binary(t)
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{done: make(chan struct{})}
	p.cmd = exec.Command(bin, "-db", "-f", abs)
	p.cmd.Dir = filepath.Dir(abs)
	p.cmd.Stdout = &p.logs
	p.cmd.Stderr = &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("haproxy -db -f %s output:\n%s", cfgPath, p.Logs())
		}
	})

	deadline := time.Now().Add(waitTimeout)
	for _, addr := range waitAddrs {
		for {
			conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-p.done:
				t.Fatalf("haproxy exited before %s was ready (%v); output:\n%s\n--- %s ---\n%s",
					addr, p.err, p.Logs(), cfgPath, numbered(cfgPath))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("haproxy: %s not accepting connections after %v: %v", addr, waitTimeout, err)
			}
			time.Sleep(pollInterval)
		}
	}
	return p
}

// Logs returns everything HAProxy has written to stdout and stderr so far.
func (p *Process) Logs() string { return p.logs.String() }

// stop sends SIGTERM, then SIGKILL after stopGrace, and waits for the exit.
func (p *Process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// It is drawn at random below the kernel's ephemeral range (32768 and up
// by default), which outgoing connections (of this test and of the test
// processes running beside it) take ports from, and never twice in one
// process. Another process may still take it before the caller binds it;
// that race is accepted in tests.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 1000 {
		p := freePortMin + rand.IntN(freePortMax-freePortMin+1)
		if _, taken := handedOut.LoadOrStore(p, true); taken {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatalf("free port: none free in %d-%d after 1000 tries", freePortMin, freePortMax)
	return 0
}

// The range FreePort draws from, and the ports it has handed out.
const freePortMin, freePortMax = 10000, 32767

var handedOut sync.Map
