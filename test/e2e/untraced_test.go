package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/internal/testutil/syncbuf"
)

// refusingHAProxy is the real haproxy, except that while the marker file
// exists its configuration check refuses any configuration routing
// /blocked, with an alert that names no line: a refusal no object can be
// blamed for (HAProxy's own alerts about a whole proxy look like this).
const refusingHAProxy = `#!/bin/sh
if [ "$1" = "-c" ] && [ -e %[1]s ] && grep -q 'blocked' "$3"; then
	echo "[ALERT]    (1) : config : Proxy 'https-1': an alert that names no line."
	exit 1
fi
exec %[2]s "$@"
`

// A refusal that cannot be traced to an object is never blamed on one:
// HAProxy keeps what it runs (at start: the configuration an earlier run
// left on disk), /readyz says so, and the apply is retried until HAProxy
// takes it.
func TestUntracedRefusalKeepsWhatRuns(t *testing.T) {
	bin := t.TempDir()
	marker := filepath.Join(bin, "refuse")
	wrapper := filepath.Join(bin, "haproxy")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf(refusingHAProxy, marker, haproxytest.Binary(t))), 0o755); err != nil {
		t.Fatal(err)
	}
	e := &runEnv{t: t, dir: t.TempDir(), state: t.TempDir(), ca: pki.NewCA(t, "untraced CA"),
		http: haproxytest.FreePort(t), https: haproxytest.FreePort(t)}
	e.secret("default-cert", e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.com"}}))
	e.gateway("default-cert")
	web := backend.Start(t, "web")
	e.write("web.yaml", runService, map[string]any{"Name": "web", "Port": web.Port})
	e.write("route-web.yaml", runRoute, map[string]any{"Name": "web", "Path": "/", "Service": "web"})

	run := func(logs *syncbuf.Buffer) (*agent.Agent, func()) {
		e.m = metrics.New()
		a, err := agent.New(agent.Options{StateDir: e.state, HAProxyBinary: wrapper, BindAddress: "127.0.0.1",
			Log: funcr.NewJSON(func(o string) { fmt.Fprintln(logs, o) }, funcr.Options{}), Metrics: e.m, HAProxyOutput: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = a.RunDir(ctx, e.dir, agent.Debounce{Quiet: 50 * time.Millisecond, Max: 500 * time.Millisecond})
		}()
		stop := func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("hagate run did not stop")
			}
		}
		t.Cleanup(stop)
		return a, stop
	}

	// A first run leaves its configuration on disk.
	var logs1 syncbuf.Buffer
	a, stop := run(&logs1)
	if _, ok := eventually(30*time.Second, func() bool { return e.get("default.example.com", "/") == 200 }); !ok {
		t.Fatalf("the first run does not serve:\n%s", logs1.String())
	}
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// A new backend: a reload, checked with haproxy -c first.
	blocked := backend.Start(t, "blocked")
	t.Run("live: what runs stays, and the change is retried", func(t *testing.T) {
		e.write("blocked.yaml", runService, map[string]any{"Name": "blocked", "Port": blocked.Port})
		e.write("route-blocked.yaml", runRoute, map[string]any{"Name": "blocked", "Path": "/blocked", "Service": "blocked"})
		if _, ok := eventually(20*time.Second, func() bool { return a.Ready(context.Background()) != nil }); !ok {
			t.Fatal("Ready does not report the refused change")
		}
		if got := e.backendName("default.example.com", "/"); got != "web" {
			t.Errorf("/ answered by %q while the change is refused, want web", got)
		}
		if _, ok := eventually(10*time.Second, func() bool {
			return strings.Contains(logs1.String(), "no single object is responsible") && strings.Contains(logs1.String(), "retrying the apply")
		}); !ok {
			t.Errorf("the log does not say the refusal is untraced and retried:\n%s", logs1.String())
		}
		if strings.Contains(logs1.String(), "HAProxy refused an object's configuration") {
			t.Error("an untraced refusal was blamed on an object")
		}
	})
	stop()

	t.Run("at start: the configuration left on disk serves, then the wanted one once HAProxy takes it", func(t *testing.T) {
		var logs2 syncbuf.Buffer
		a, _ := run(&logs2)
		if _, ok := eventually(30*time.Second, func() bool { return e.get("default.example.com", "/") == 200 }); !ok {
			t.Fatalf("nothing serves at start:\n%s", logs2.String())
		}
		if !strings.Contains(logs2.String(), "configuration an earlier run left on disk") {
			t.Errorf("the log does not say HAProxy started on the earlier configuration:\n%s", logs2.String())
		}
		if err := a.Ready(context.Background()); err == nil {
			t.Error("Ready while the wanted configuration is refused")
		}
		if err := os.Remove(marker); err != nil {
			t.Fatal(err)
		}
		// Nothing changes in the folder: the retry applies it.
		if took, ok := eventually(60*time.Second, func() bool { return e.backendName("default.example.com", "/blocked") == "blocked" }); !ok {
			t.Fatalf("the change is not applied after %s:\n%s", took, logs2.String())
		} else {
			t.Logf("applied by a retry %s after HAProxy took it", took)
		}
		if _, ok := eventually(10*time.Second, func() bool { return a.Ready(context.Background()) == nil }); !ok {
			t.Errorf("not Ready: %v", a.Ready(context.Background()))
		}
	})
}
