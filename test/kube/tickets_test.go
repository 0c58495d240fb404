package kube

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
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/types"

	"hagate.io/hagate/controller"
	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/metricstest"
	"hagate.io/hagate/internal/testutil/pki"
)

const ticketsYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: v1
kind: Namespace
metadata: {name: tickets}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: tickets}
spec:
  gatewayClassName: hagate
  listeners:
  - {name: https, port: {{.HTTPS}}, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}
`

// resumes makes one HTTPS request over a new TLS 1.3 connection with the
// client's session cache (any HTTP answer will do: this Gateway has no
// route) and says whether the session resumed.
func resumes(t *testing.T, port int, ca *pki.CA, cache tls.ClientSessionCache) bool {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{
		ServerName: "tickets.example.com", RootCAs: ca.Pool(), ClientSessionCache: cache, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"},
	})
	if err != nil {
		t.Fatalf("TLS connection: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: tickets.example.com\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("HTTPS request: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // the tickets come after the handshake
	resp.Body.Close()
	return conn.ConnectionState().DidResume
}

// Kubernetes mode uses the same keys file: the Gateway's TLS binds read
// it, and a rotation (here the file aged past --tls-ticket-rotation) is
// applied through the Runtime API, without a reload; a session made
// before it resumes after it.
func TestKubernetesModeSessionTickets(t *testing.T) {
	e := &env{t: t, ca: pki.NewCA(t, "kube tickets CA"), https: haproxytest.FreePort(t), m: metrics.New()}
	cluster.Apply(t, render(t, ticketsYAML, map[string]any{"HTTPS": e.https}))
	t.Cleanup(func() { cluster.Kubectl(t, "delete", "gateway", "-n", "tickets", "gw", "--ignore-not-found") })
	e.secret("tickets", "cert", "tickets.example.com")

	keys := filepath.Join(t.TempDir(), "tls-ticket-keys")
	log := funcr.NewJSON(func(o string) { t.Log(o) }, funcr.Options{})
	a, err := agent.New(agent.Options{StateDir: t.TempDir(), HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1",
		Log: log, Metrics: e.m, HAProxyOutput: io.Discard, TicketKeys: keys, TicketRotation: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go a.WatchTicketKeys(ctx, 50*time.Millisecond)
	go func() {
		err := controller.Run(ctx, controller.Options{Config: cluster.Config, Agent: a, GatewayAddress: "127.0.0.1", Log: log,
			Gateway: &types.NamespacedName{Namespace: "tickets", Name: "gw"}})
		a.Wait()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the controller did not stop")
		}
	})
	eventually(t, "the Gateway's certificate served", 30*time.Second, func() bool { return e.served("tickets.example.com") != "" })
	cfg, err := os.ReadFile(filepath.Join(a.ConfigDir(), "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "tls-ticket-keys " + a.ConfigDir() + "/tickets/tls-ticket-keys"; !strings.Contains(string(cfg), want) {
		t.Fatalf("haproxy.cfg has no bind with %q", want)
	}

	cache := tls.NewLRUClientSessionCache(4)
	if resumes(t, e.https, e.ca, cache) {
		t.Fatal("the first connection resumed")
	}
	reloads := e.counter("hagate_haproxy_reloads_total")
	old := time.Now().Add(-24 * time.Hour)
	if err := os.Chtimes(keys, old, old); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rotation applied through the Runtime API", 20*time.Second, func() bool {
		return metricstest.Counter(t, e.m.Registry, "hagate_haproxy_runtime_updates_total", "tls-key") == 1
	})
	if r := e.counter("hagate_haproxy_reloads_total"); r != reloads {
		t.Errorf("the rotation reloaded HAProxy (%v)", r-reloads)
	}
	if !resumes(t, e.https, e.ca, cache) {
		t.Error("a session of before the rotation did not resume")
	}
}
