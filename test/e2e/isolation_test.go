package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/internal/testutil/syncbuf"
)

// isoGateway has, on one HTTPS port, a good listener, a listener whose
// certificate HAProxy refuses (RSA 1024: the test runs hagate as if the
// data plane's OpenSSL were at security level 1, so that render lets it
// through and HAProxy is the one refusing it), and a wildcard listener
// whose certificate holds 3,000 deeper names (too many for one crt-list
// line); a plain HTTP listener on a port another process holds; and a
// plain HTTP listener.
const isoGateway = `
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
  - {name: good, port: {{.HTTPS}}, protocol: HTTPS, hostname: good.example.com, tls: {certificateRefs: [{name: good}]}}
  - {name: weak, port: {{.HTTPS}}, protocol: HTTPS, hostname: weak.example.com, tls: {certificateRefs: [{name: weak}]}}
  - {name: wild, port: {{.HTTPS}}, protocol: HTTPS, hostname: "*.wild.example.com", tls: {certificateRefs: [{name: wild}]}}
{{- if .Late}}
  - {name: late, port: {{.HTTPS}}, protocol: HTTPS, hostname: late.example.com, tls: {certificateRefs: [{name: late}]}}
{{- end}}
  - {name: busy, port: {{.Busy}}, protocol: HTTP}
  - {name: http, port: {{.HTTP}}, protocol: HTTP}
`

const isoRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: {{.Name}}, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: {{.Path}}}}]
    backendRefs: [{name: web, port: 80}]
`

type isoEnv struct {
	*runEnv
	busy  int
	state string
	logs  *syncbuf.Buffer
	held  net.Listener
}

func (e *isoEnv) gatewayYAML(late bool) {
	e.write("gateway.yaml", isoGateway, map[string]any{"HTTPS": e.https, "HTTP": e.http, "Busy": e.busy, "Late": late})
}

func (e *isoEnv) cert(name string, o pki.LeafOptions) {
	leaf := e.ca.Issue(e.t, o)
	e.write(name+".yaml", runSecret, map[string]string{
		"Name": name, "Crt": base64.StdEncoding.EncodeToString(leaf.CertPEM), "Key": base64.StdEncoding.EncodeToString(leaf.KeyPEM),
	})
}

// httpGet sends a plain HTTP request to port and returns its status (0 on
// a connection failure).
func httpGet(port int, path string) int {
	c := backend.NewClient(backend.ClientOptions{})
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// verified makes a TLS handshake that verifies the certificate against the
// test CA for sni and returns the served certificate's common name.
func (e *isoEnv) verified(sni string) (string, error) {
	cert, err := backend.TLSHandshake(fmt.Sprintf("127.0.0.1:%d", e.https), sni, &tls.Config{ServerName: sni, RootCAs: e.ca.Pool()})
	if err != nil {
		return "", err
	}
	return cert.Subject.CommonName, nil
}

// listenerCondition reads a condition of a listener of Gateway
// default/gw from the state folder's status.yaml.
func (e *isoEnv) listenerCondition(listener, typ string) *metav1.Condition {
	data, err := os.ReadFile(filepath.Join(e.state, agent.StatusFile))
	if err != nil {
		return nil
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var doc struct {
			Kind     string                `json:"kind"`
			Metadata metav1.ObjectMeta     `json:"metadata"`
			Status   gwapiv1.GatewayStatus `json:"status"`
		}
		if err := dec.Decode(&doc); err != nil {
			if !errors.Is(err, io.EOF) {
				e.t.Errorf("status.yaml: %v", err)
			}
			return nil
		}
		if doc.Kind != "Gateway" || doc.Metadata.Namespace != "default" || doc.Metadata.Name != "gw" {
			continue
		}
		for _, l := range doc.Status.Listeners {
			if string(l.Name) == listener {
				for i := range l.Conditions {
					if l.Conditions[i].Type == typ {
						return &l.Conditions[i]
					}
				}
			}
		}
	}
}

// startIsolation starts hagate run on a folder that already holds the bad
// objects: HAProxy must start and serve everything else.
func startIsolation(t *testing.T) *isoEnv {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	e := &isoEnv{
		runEnv: &runEnv{t: t, dir: t.TempDir(), ca: pki.NewCA(t, "isolation CA"), m: metrics.New(), done: make(chan struct{}),
			http: haproxytest.FreePort(t), https: haproxytest.FreePort(t)},
		busy:  held.Addr().(*net.TCPAddr).Port,
		state: t.TempDir(),
		logs:  &syncbuf.Buffer{},
		held:  held,
	}
	e.runEnv.state = e.state
	var deep []string
	for i := 1; i <= 3000; i++ {
		deep = append(deep, fmt.Sprintf("h%d.deep.wild.example.com", i))
	}
	e.cert("good", pki.LeafOptions{DNSNames: []string{"good.example.com"}})
	e.cert("weak", pki.LeafOptions{DNSNames: []string{"weak.example.com"}, RSABits: 1024})
	e.cert("wild", pki.LeafOptions{DNSNames: append([]string{"*.wild.example.com"}, deep...)})
	e.gatewayYAML(false)
	web := backend.Start(t, "web")
	e.write("web.yaml", runService, map[string]any{"Name": "web", "Port": web.Port})
	e.write("route-web.yaml", isoRoute, map[string]any{"Name": "web", "Path": "/"})

	log := funcr.NewJSON(func(obj string) { fmt.Fprintln(e.logs, obj) }, funcr.Options{})
	a, err := agent.New(agent.Options{StateDir: e.state, HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1",
		Log: log, Metrics: e.m, HAProxyOutput: io.Discard, SecurityLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(e.done)
		if err := a.RunDir(ctx, e.dir, agent.Debounce{Quiet: 50 * time.Millisecond, Max: 500 * time.Millisecond, Recheck: 300 * time.Millisecond}); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			t.Error("hagate run did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("hagate log:\n%s", e.logs.String())
		}
	})
	if took, ok := eventually(60*time.Second, func() bool { return e.get("good.example.com", "/") == 200 }); !ok {
		t.Fatalf("HAProxy does not serve the good listener after %s", took)
	} else {
		t.Logf("the good listener served %s after start, with the bad objects present", took)
	}
	return e
}

func TestIsolationBadObjectsStayWithTheirObjects(t *testing.T) {
	e := startIsolation(t)

	t.Run("at start, HAProxy's refusal stays with the weak certificate's listener", func(t *testing.T) {
		c, ok := eventuallyCondition(e, "weak", "ResolvedRefs")
		if !ok || c.Status != metav1.ConditionFalse || c.Reason != string(gwapiv1.ListenerReasonInvalidCertificateRef) || !strings.Contains(c.Message, "HAProxy refused") {
			t.Fatalf("weak listener ResolvedRefs = %+v, want False InvalidCertificateRef quoting HAProxy", c)
		}
		t.Logf("weak listener: %s", c.Message)
		if p := e.listenerCondition("weak", "Programmed"); p == nil || p.Status != metav1.ConditionFalse {
			t.Errorf("weak listener Programmed = %+v, want False", p)
		}
		// strict-sni: no certificate for the refused listener's name.
		if cn, err := e.verified("weak.example.com"); err == nil {
			t.Errorf("weak.example.com got certificate %q, want the handshake refused", cn)
		}
		if !strings.Contains(e.logs.String(), "HAProxy refused an object's configuration") {
			t.Error("the refusal is not logged")
		}
	})

	t.Run("at start, a port another process holds is reported and the rest served", func(t *testing.T) {
		c, ok := eventuallyCondition(e, "busy", "Accepted")
		if !ok || c.Status != metav1.ConditionFalse || c.Reason != string(gwapiv1.ListenerReasonPortUnavailable) {
			t.Fatalf("busy listener Accepted = %+v, want False PortUnavailable", c)
		}
		if httpGet(e.http, "/") != 200 {
			t.Error("the plain HTTP listener does not serve")
		}
	})

	t.Run("a wildcard certificate with 3,000 deeper names is served for them", func(t *testing.T) {
		for _, sni := range []string{"a.wild.example.com", "h1.deep.wild.example.com", "h3000.deep.wild.example.com"} {
			cn, err := e.verified(sni)
			if err != nil || cn != "*.wild.example.com" {
				t.Errorf("%s: certificate %q, error %v; want the wildcard certificate, verified", sni, cn, err)
			}
		}
		data, err := os.ReadFile(filepath.Join(e.state, "config", "crt-lists", fmt.Sprintf("https-%d.crt-list", e.https)))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if n := len(strings.Fields(line)); n > 2047 || len(line) > 65535 {
				t.Errorf("a crt-list line has %d words and %d characters", n, len(line))
			}
		}
	})

	t.Run("live, a new route and a new refused listener together: the route serves", func(t *testing.T) {
		e.cert("late", pki.LeafOptions{DNSNames: []string{"late.example.com"}, RSABits: 1024})
		e.gatewayYAML(true)
		e.write("route-new.yaml", isoRoute, map[string]any{"Name": "new", "Path": "/new"})
		if _, ok := eventually(30*time.Second, func() bool {
			return e.backendName("good.example.com", "/new") == "web" && httpGet(e.http, "/new") == 200
		}); !ok {
			t.Fatal("the new route is not served")
		}
		c, ok := eventuallyCondition(e, "late", "ResolvedRefs")
		if !ok || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "HAProxy refused") {
			t.Fatalf("late listener ResolvedRefs = %+v, want False quoting HAProxy", c)
		}
		if e.get("good.example.com", "/") != 200 {
			t.Error("the good listener stopped serving")
		}
	})

	t.Run("a fixed certificate is tried again and served", func(t *testing.T) {
		e.cert("weak", pki.LeafOptions{DNSNames: []string{"weak.example.com"}, RSA: true})
		if _, ok := eventually(30*time.Second, func() bool { cn, err := e.verified("weak.example.com"); return err == nil && cn == "weak.example.com" }); !ok {
			t.Fatal("the fixed certificate is not served")
		}
		var c *metav1.Condition
		if _, ok := eventually(10*time.Second, func() bool {
			c = e.listenerCondition("weak", "ResolvedRefs")
			return c != nil && c.Status == metav1.ConditionTrue
		}); !ok {
			t.Errorf("weak listener ResolvedRefs = %+v, want True", c)
		}
	})

	t.Run("a freed port is served without any change", func(t *testing.T) {
		if err := e.held.Close(); err != nil {
			t.Fatal(err)
		}
		if took, ok := eventually(30*time.Second, func() bool { return httpGet(e.busy, "/") == 200 }); !ok {
			t.Fatalf("the freed port is not served after %s", took)
		} else {
			t.Logf("freed port served after %s", took)
		}
	})
}

// eventuallyCondition waits for a listener condition to appear in
// status.yaml.
func eventuallyCondition(e *isoEnv, listener, typ string) (*metav1.Condition, bool) {
	var c *metav1.Condition
	_, ok := eventually(30*time.Second, func() bool {
		c = e.listenerCondition(listener, typ)
		return c != nil && (typ != "ResolvedRefs" || c.Status == metav1.ConditionFalse || listener == "good")
	})
	return c, ok
}
