package haproxytest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func okConfig(port int) string {
	return fmt.Sprintf(`global
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 5s
    timeout server 5s

frontend fe
    bind 127.0.0.1:%d
    http-request return status 200 content-type text/plain string "hello from haproxy"
`, port)
}

const brokenConfig = `defaults
    mode http

frontend fe
    bind 127.0.0.1:1
    no-such-keyword here
`

func TestStartServesHTTP(t *testing.T) {
	port := FreePort(t)
	cfg := writeConfig(t, okConfig(port))
	Check(t, cfg)
	p := Start(t, cfg, fmt.Sprintf("127.0.0.1:%d", port))

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/probe", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from haproxy" {
		t.Fatalf("GET = %d %q, want 200 %q", resp.StatusCode, body, "hello from haproxy")
	}
	// The access log line reaches the captured output shortly after.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Logs(), "GET /probe") {
		if time.Now().After(deadline) {
			t.Fatalf("no access log line in output:\n%s", p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCheckErr(t *testing.T) {
	if err := CheckErr(writeConfig(t, okConfig(FreePort(t)))); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	err := CheckErr(writeConfig(t, brokenConfig))
	if err == nil {
		t.Fatal("broken config: want an error")
	}
	if !strings.Contains(err.Error(), "no-such-keyword") {
		t.Errorf("error lacks HAProxy's output:\n%v", err)
	}
}

func TestCheckFailsWithOutputAndNumberedConfig(t *testing.T) {
	msg := fatalMessage(t, func(tb testing.TB) { Check(tb, writeConfig(t, brokenConfig)) })
	for _, want := range []string{
		"no-such-keyword",                 // HAProxy's output
		"   6 |     no-such-keyword here", // the numbered config
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check message lacks %q:\n%s", want, msg)
		}
	}
}

func TestStartFailsFastOnExit(t *testing.T) {
	cfg := writeConfig(t, brokenConfig)
	start := time.Now()
	msg := fatalMessage(t, func(tb testing.TB) { Start(tb, cfg, fmt.Sprintf("127.0.0.1:%d", FreePort(t))) })
	if !strings.Contains(msg, "exited") || !strings.Contains(msg, "no-such-keyword") {
		t.Errorf("Start message:\n%s", msg)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start took %v to notice the exit", d)
	}
}

func TestBinaryFromEnv(t *testing.T) {
	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "missing-haproxy"))
	msg := fatalMessage(t, func(tb testing.TB) { Binary(tb) })
	if !strings.Contains(msg, "make deps") {
		t.Errorf("Binary message lacks the install hint:\n%s", msg)
	}
}

// fatalMessage runs f with a testing.TB whose Fatal records the message and
// ends f's goroutine, and returns that message (failing if f did not call
// Fatal).
func fatalMessage(t *testing.T, f func(testing.TB)) string {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	if !r.fatal {
		t.Fatal("want a fatal failure, got none")
	}
	return r.msg
}

type recorder struct {
	testing.TB
	fatal bool
	msg   string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatal(args ...any) {
	r.fatal, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
