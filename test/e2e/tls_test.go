package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
)

// tlsScenario: port Mixed carries a passthrough listener (pass.example.com,
// routed to a TLS backend with its own certificate), a TLS Terminate
// listener (tcp.example.com, to a plain TCP backend) and an HTTPS
// listener (*.example.com, to an HTTP backend and a gRPC backend); port
// Pass carries only passthrough; port Term only TLS Terminate; port H2C is
// plain HTTP carrying a GRPCRoute over h2c.
const tlsScenario = `
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
  - name: mixed-pass
    port: {{.Mixed}}
    protocol: TLS
    hostname: pass.example.com
    tls: {mode: Passthrough}
  - name: mixed-term
    port: {{.Mixed}}
    protocol: TLS
    hostname: tcp.example.com
    tls: {mode: Terminate, certificateRefs: [{name: gw-cert}]}
  - name: mixed-https
    port: {{.Mixed}}
    protocol: HTTPS
    hostname: "*.example.com"
    tls: {certificateRefs: [{name: gw-cert}]}
  - name: pass
    port: {{.Pass}}
    protocol: TLS
    hostname: "*.pass.test"
    tls: {mode: Passthrough}
  - name: term
    port: {{.Term}}
    protocol: TLS
    tls: {mode: Terminate, certificateRefs: [{name: gw-cert}]}
  - name: h2c
    port: {{.H2C}}
    protocol: HTTP
---
apiVersion: v1
kind: Secret
metadata: {name: gw-cert, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: {{.Crt}}, tls.key: {{.Key}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: pass, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: mixed-pass}, {name: gw, sectionName: pass}]
  hostnames: [pass.example.com, "*.pass.test"]
  rules: [{backendRefs: [{name: tls-backend, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: term, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: mixed-term}, {name: gw, sectionName: term}]
  rules: [{backendRefs: [{name: tcp-backend, port: 9000}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: mixed-https}]
  # Not grpc.example.com: an HTTPRoute and a GRPCRoute may not share a
  # hostname on one listener.
  hostnames: [www.example.com]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: grpc, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: mixed-https}, {name: gw, sectionName: h2c}]
  hostnames: [grpc.example.com]
  rules:
  - matches: [{method: {service: grpc.health.v1.Health, method: Check}}]
    backendRefs: [{name: grpc-check, port: 50051}]
  - matches: [{method: {service: grpc.health.v1.Health}}]
    backendRefs: [{name: grpc-other, port: 50051}]
{{range .Backends}}---
apiVersion: v1
kind: Service
metadata: {name: {{.Name}}, namespace: default}
spec: {ports: [{name: p, port: {{.ServicePort}}, targetPort: {{.Port}}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: {{.Name}}-1, namespace: default, labels: {kubernetes.io/service-name: {{.Name}}}}
addressType: IPv4
ports: [{name: p, port: {{.Port}}}]
endpoints: [{addresses: [127.0.0.1]}]
{{end}}`

type tlsBackend struct {
	Name              string
	ServicePort, Port int
}

// startTLSBackend serves TLS with its own certificate and answers each
// connection with "tls-backend\n".
func startTLSBackend(t *testing.T, leaf *pki.Leaf) int {
	cert := leaf.TLSCertificate(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go serveLines(ln, "tls-backend")
	return ln.Addr().(*net.TCPAddr).Port
}

// startTCPBackend is a plain TCP server answering "tcp-backend\n".
func startTCPBackend(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go serveLines(ln, "tcp-backend")
	return ln.Addr().(*net.TCPAddr).Port
}

func serveLines(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s\n", name)
			// Echo one line, to show the stream flows both ways.
			if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				fmt.Fprintf(c, "echo %s", line)
			}
		}()
	}
}

// grpcBackend is a gRPC health server over h2c that records the methods
// it was called with.
type grpcBackend struct {
	mu      sync.Mutex
	methods []string
}

func (g *grpcBackend) record(m string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.methods = append(g.methods, m)
}

func (g *grpcBackend) seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.methods...)
}

func startGRPCBackend(t *testing.T) (*grpcBackend, int) {
	g := &grpcBackend{}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			g.record(info.FullMethod)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			g.record(info.FullMethod)
			return h(srv, ss)
		}),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return g, ln.Addr().(*net.TCPAddr).Port
}

func TestTLSPassthroughTerminateMixedAndGRPC(t *testing.T) {
	gwCA := pki.NewCA(t, "gateway CA")
	beCA := pki.NewCA(t, "backend CA")
	gwLeaf := gwCA.Issue(t, pki.LeafOptions{DNSNames: []string{"*.example.com", "tcp.example.com", "term.example.net"}})
	beLeaf := beCA.Issue(t, pki.LeafOptions{DNSNames: []string{"pass.example.com", "*.pass.test"}})

	web := backend.Start(t, "web")
	grpcCheck, checkPort := startGRPCBackend(t)
	grpcOther, otherPort := startGRPCBackend(t)
	data := struct {
		Mixed, Pass, Term, H2C int
		Crt, Key               string
		Backends               []tlsBackend
	}{
		Mixed: haproxytest.FreePort(t), Pass: haproxytest.FreePort(t), Term: haproxytest.FreePort(t), H2C: haproxytest.FreePort(t),
		Crt: base64.StdEncoding.EncodeToString(gwLeaf.CertPEM), Key: base64.StdEncoding.EncodeToString(gwLeaf.KeyPEM),
		Backends: []tlsBackend{
			{"tls-backend", 443, startTLSBackend(t, beLeaf)},
			{"tcp-backend", 9000, startTCPBackend(t)},
			{"web", 80, web.Port},
			{"grpc-check", 50051, checkPort},
			{"grpc-other", 50051, otherPort},
		},
	}
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "out")
	renderScenarioTo(t, tlsScenario, dir, cfgDir, data)
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	haproxytest.Start(t, filepath.Join(cfgDir, bundle.ConfigFile), addr(data.Mixed), addr(data.Pass), addr(data.Term), addr(data.H2C))

	// dialLine does a TLS handshake and returns the certificate the client
	// saw and the first line the backend sent through the connection.
	dialLine := func(t *testing.T, port int, sni string, roots *tls.Config) (string, string, error) {
		cfg := roots.Clone()
		cfg.ServerName = sni
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr(port), cfg)
		if err != nil {
			return "", "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		if err != nil {
			return "", "", fmt.Errorf("read from backend: %w", err)
		}
		fmt.Fprintf(c, "ping\n")
		echo, err := r.ReadString('\n')
		if err != nil || echo != "echo ping\n" {
			return "", "", fmt.Errorf("echo through the connection: %q, %v", echo, err)
		}
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, strings.TrimSpace(line), nil
	}
	beRoots := &tls.Config{RootCAs: beCA.Pool()}
	gwRoots := &tls.Config{RootCAs: gwCA.Pool()}

	t.Run("passthrough: the client sees the backend's own certificate", func(t *testing.T) {
		for _, tc := range []struct {
			port  int
			sni   string
			roots *tls.Config
		}{
			{data.Mixed, "pass.example.com", beRoots},
			{data.Pass, "a.pass.test", beRoots},
			// A wildcard listener spans labels; the backend's certificate
			// does not, so only its name is checked here.
			{data.Pass, "deep.a.pass.test", &tls.Config{InsecureSkipVerify: true}},
		} {
			cn, line, err := dialLine(t, tc.port, tc.sni, tc.roots)
			if err != nil {
				t.Errorf("port %d SNI %s: %v", tc.port, tc.sni, err)
				continue
			}
			if cn != "pass.example.com" || line != "tls-backend" {
				t.Errorf("port %d SNI %s: certificate %q, backend %q; want the backend's certificate and tls-backend", tc.port, tc.sni, cn, line)
			}
		}
	})

	t.Run("terminate: the gateway's certificate, then a plain TCP backend", func(t *testing.T) {
		for _, tc := range []struct {
			port int
			sni  string
		}{{data.Mixed, "tcp.example.com"}, {data.Term, "term.example.net"}} {
			cn, line, err := dialLine(t, tc.port, tc.sni, gwRoots)
			if err != nil {
				t.Errorf("port %d SNI %s: %v", tc.port, tc.sni, err)
				continue
			}
			if cn != "*.example.com" || line != "tcp-backend" {
				t.Errorf("port %d SNI %s: certificate %q, backend %q; want the gateway's and tcp-backend", tc.port, tc.sni, cn, line)
			}
		}
	})

	t.Run("mixed port: HTTPS behind the router keeps the client address", func(t *testing.T) {
		c := backend.NewClient(backend.ClientOptions{ServerName: "www.example.com", RootCAs: gwCA.Pool(), DialAddr: addr(data.Mixed)})
		resp, echo := backend.Get(t, c, fmt.Sprintf("https://www.example.com:%d/x", data.Mixed), "", nil)
		if resp.StatusCode != 200 || echo == nil || echo.Name != "web" {
			t.Fatalf("HTTPS on the mixed port: %d %v", resp.StatusCode, echoName(echo))
		}
		// The internal frontend got the connection over a unix socket:
		// only the PROXY protocol gives it the client's address.
		if xff := echo.Headers.Get("X-Forwarded-For"); xff != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q, want the client address 127.0.0.1", xff)
		}
		if p := echo.Headers.Get("X-Forwarded-Proto"); p != "https" {
			t.Errorf("X-Forwarded-Proto = %q", p)
		}
	})

	t.Run("unrouted SNI and non-TLS are refused", func(t *testing.T) {
		for _, tc := range []struct {
			port int
			sni  string
		}{{data.Mixed, "other.example.org"}, {data.Pass, "pass.example.com"}, {data.Pass, "other.test"}, {data.Mixed, ""}} {
			if _, line, err := dialLine(t, tc.port, tc.sni, &tls.Config{InsecureSkipVerify: true}); err == nil {
				t.Errorf("port %d SNI %q reached %q, want the connection refused", tc.port, tc.sni, line)
			}
		}
		c, err := net.DialTimeout("tcp", addr(data.Pass), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: a.pass.test\r\n\r\n")
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 64)); err == nil {
			t.Errorf("plain HTTP to the passthrough port got %d bytes back, want the connection closed", n)
		}
	})

	t.Run("gRPC through HTTPS and h2c reaches the backend of its method", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			opt  grpc.DialOption
			port int
		}{
			{"https", grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: gwCA.Pool(), ServerName: "grpc.example.com"})), data.Mixed},
			{"h2c", grpc.WithTransportCredentials(insecureCreds()), data.H2C},
		} {
			conn, err := grpc.NewClient(fmt.Sprintf("passthrough:///%s", addr(tc.port)), tc.opt, grpc.WithAuthority("grpc.example.com"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			hc := healthpb.NewHealthClient(conn)
			if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Errorf("%s: Check: %v", tc.name, err)
			}
			stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			if err != nil {
				t.Errorf("%s: Watch: %v", tc.name, err)
			}
			err = conn.Invoke(ctx, "/unknown.Service/Call", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
			if status.Code(err) != codes.Unimplemented {
				t.Errorf("%s: a method no route matches: %v, want Unimplemented", tc.name, err)
			}
			cancel()
			conn.Close()
		}
		want := []string{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Check"}
		if got := grpcCheck.seen(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("the Check backend saw %v, want %v", got, want)
		}
		want = []string{"/grpc.health.v1.Health/Watch", "/grpc.health.v1.Health/Watch"}
		if got := grpcOther.seen(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("the other backend saw %v, want %v", got, want)
		}
	})
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }
