package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"hagate.io/hagate/internal/testutil/haproxytest"
)

// tcpGateway is startRun's Gateway plus three TCP listeners: db (to
// Service blue), split (blue 3, green 1, grey 0) and broken (to a Service
// that does not exist).
const tcpGateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: hagate
  listeners:
  - name: https
    port: {{.HTTPS}}
    protocol: HTTPS
    tls: {certificateRefs: [{name: default-cert}]}
  - {name: http, port: {{.HTTP}}, protocol: HTTP}
  - {name: db, port: {{.DB}}, protocol: TCP}
  - {name: split, port: {{.Split}}, protocol: TCP}
  - {name: broken, port: {{.Broken}}, protocol: TCP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: db, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: db}]
  rules: [{backendRefs: [{name: blue, port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: split, namespace: default}
spec:
  parentRefs: [{name: gw, port: {{.Split}}}]
  rules:
  - backendRefs:
    - {name: blue, port: 5432, weight: 3}
    - {name: green, port: 5432, weight: 1}
    - {name: grey, port: 5432, weight: 0}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: broken, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: broken}]
  rules: [{backendRefs: [{name: nowhere, port: 5432}]}]
`

// tcpService is a Service of port 5432 whose one endpoint is
// 127.0.0.1:Port.
const tcpService = `
apiVersion: v1
kind: Service
metadata: {name: {{.Name}}, namespace: default}
spec: {ports: [{name: pg, port: 5432, targetPort: 5432}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: {{.Name}}-1, namespace: default, labels: {kubernetes.io/service-name: {{.Name}}}}
addressType: IPv4
ports: [{name: pg, port: {{.Port}}}]
endpoints: [{addresses: [127.0.0.1]}]
`

// startTCPEcho is a TCP server that greets every connection with
// "<name>\n" and then echoes what it reads until the client closes.
func startTCPEcho(t *testing.T, name string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(c, "%s\n", name)
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// tcpGreeting connects to a port of HAProxy and returns the backend's
// greeting ("" when the connection is refused or closed without one).
func tcpGreeting(port int) string {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(line, "\n")
}

// A TCP listener forwards connections, unread, to its TCPRoute's backends:
// the bytes reach the right backend and come back unchanged; weights share
// the connections (weight 0 gets none); a backendRef that does not resolve
// has its connections rejected; an endpoint change of a backend is a
// Runtime API change, without reload.
func TestTCPRoute(t *testing.T) {
	e := startRun(t)
	blue1, green, grey := startTCPEcho(t, "blue-1"), startTCPEcho(t, "green"), startTCPEcho(t, "grey")
	e.write("blue.yaml", tcpService, map[string]any{"Name": "blue", "Port": blue1})
	e.write("green.yaml", tcpService, map[string]any{"Name": "green", "Port": green})
	e.write("grey.yaml", tcpService, map[string]any{"Name": "grey", "Port": grey})
	ports := map[string]any{"HTTPS": e.https, "HTTP": e.http}
	db, split, broken := haproxytest.FreePort(t), haproxytest.FreePort(t), haproxytest.FreePort(t)
	ports["DB"], ports["Split"], ports["Broken"] = db, split, broken
	e.write("gateway.yaml", tcpGateway, ports)
	if _, ok := eventually(30*time.Second, func() bool { return tcpGreeting(db) == "blue-1" }); !ok {
		t.Fatalf("the db listener does not reach blue: %q", tcpGreeting(db))
	}

	t.Run("bytes flow both ways", func(t *testing.T) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", db))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || line != "blue-1\n" {
			t.Fatalf("greeting %q, %v", line, err)
		}
		payload := make([]byte, 256<<10)
		if _, err := rand.Read(payload); err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = c.Write(payload) }()
		got := make([]byte, len(payload))
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("reading the echo: %v", err)
		}
		if !bytes.Equal(got, payload) {
			t.Error("the echoed bytes differ from those sent")
		}
	})

	t.Run("weights", func(t *testing.T) {
		const n = 400
		counts := map[string]int{}
		for range n {
			counts[tcpGreeting(split)]++
		}
		t.Logf("%d connections: %v", n, counts)
		// blue 3/4, green 1/4: green's count is binomial (mean 100,
		// standard deviation 8.7); the bounds are about 6 deviations away.
		if counts["blue-1"]+counts["green"] != n {
			t.Errorf("connections did not all reach blue or green: %v", counts)
		}
		if g := counts["green"]; g < 50 || g > 150 {
			t.Errorf("green got %d of %d connections, want about %d", g, n, n/4)
		}
		if counts["grey"] != 0 {
			t.Errorf("grey (weight 0) got %d connections", counts["grey"])
		}
	})

	t.Run("invalid backend rejected", func(t *testing.T) {
		for range 5 {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", broken), 2*time.Second)
			if err != nil {
				continue // refused is rejected too
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "hello\n")
			b, err := io.ReadAll(c)
			c.Close()
			if len(b) > 0 {
				t.Fatalf("the broken listener answered %q", b)
			}
			var ne net.Error
			if err != nil && errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the broken listener's connection stayed open instead of being rejected")
			}
		}
	})

	t.Run("endpoint change without reload", func(t *testing.T) {
		// The TCP listeners came with a reload (counted once confirmed).
		if _, ok := eventually(20*time.Second, func() bool { return e.counter("hagate_haproxy_reloads_total", "") >= 1 }); !ok {
			t.Fatal("no reload confirmed for the TCP listeners")
		}
		reloads := e.counter("hagate_haproxy_reloads_total", "")
		workers := e.workers()
		servers := e.counter("hagate_haproxy_runtime_updates_total", "server")
		blue2 := startTCPEcho(t, "blue-2")
		e.write("blue.yaml", tcpService, map[string]any{"Name": "blue", "Port": blue2})
		took, ok := eventually(20*time.Second, func() bool { return tcpGreeting(db) == "blue-2" })
		if !ok {
			t.Fatalf("blue's new endpoint is not reached: %q", tcpGreeting(db))
		}
		t.Logf("blue's new endpoint reached after %s", took)
		for range 20 {
			if g := tcpGreeting(db); g != "blue-2" {
				t.Fatalf("a connection reached %q after the change", g)
			}
		}
		if r := e.counter("hagate_haproxy_reloads_total", ""); r != reloads {
			t.Errorf("reloads went from %v to %v", reloads, r)
		}
		if w := e.workers(); fmt.Sprint(w) != fmt.Sprint(workers) {
			t.Errorf("workers changed from %v to %v", workers, w)
		}
		if s := e.counter("hagate_haproxy_runtime_updates_total", "server"); s <= servers {
			t.Errorf("no server was changed through the Runtime API (%v -> %v)", servers, s)
		}
	})
}
