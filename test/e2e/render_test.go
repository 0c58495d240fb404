// Package e2e holds end-to-end tests: hagate's output driving the real
// HAProxy on loopback, with real TLS clients and test backends.
package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/controller/files"
	"hagate.io/hagate/controller/pipeline"
	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render/snapshot"
)

// renderScenario is a Gateway with three ports: plain HTTP redirecting to
// HTTPS, an HTTPS port with a catch-all, exact, wildcard and a
// not-permitted cross-namespace certificate, and an HTTPS port without a
// catch-all (strict SNI).
const renderScenario = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: v1
kind: Namespace
metadata: {name: certs}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: hagate
  listeners:
  - {name: http, port: {{.HTTP}}, protocol: HTTP}
  - name: default
    port: {{.HTTPS}}
    protocol: HTTPS
    tls: {certificateRefs: [{name: default-cert}]}
  - name: foo
    port: {{.HTTPS}}
    protocol: HTTPS
    hostname: foo.example.com
    tls: {certificateRefs: [{name: foo-cert}]}
  - name: wild
    port: {{.HTTPS}}
    protocol: HTTPS
    hostname: "*.example.com"
    tls: {certificateRefs: [{name: wild-cert}]}
  - name: denied
    port: {{.HTTPS}}
    protocol: HTTPS
    hostname: denied.example.org
    tls: {certificateRefs: [{name: denied-cert, namespace: certs}]}
  - name: strict
    port: {{.Strict}}
    protocol: HTTPS
    hostname: strict.example.com
    tls: {certificateRefs: [{name: strict-cert}]}
{{range .Secrets}}---
apiVersion: v1
kind: Secret
metadata: {name: {{.Name}}, namespace: {{.Namespace}}}
type: kubernetes.io/tls
data: {tls.crt: {{.Crt}}, tls.key: {{.Key}}}
{{end}}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-https, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https, port: {{.HTTPS}}, statusCode: 301}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: foo, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: foo}, {name: gw, sectionName: strict}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: X-Version, value: "2"}]}]
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-Route, value: "foo-api 100%"}]}}]
    backendRefs: [{name: api, port: 80}]
  - matches: [{path: {type: Exact, value: /split}}]
    backendRefs: [{name: foo, port: 80}, {name: missing, port: 80}]
  - backendRefs: [{name: foo, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wild, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: wild}]
  rules:
  - backendRefs: [{name: wild, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: default, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: default}]
  rules:
  - backendRefs: [{name: fallback, port: 80}]
{{range .Backends}}---
apiVersion: v1
kind: Service
metadata: {name: {{.Name}}, namespace: default}
spec: {ports: [{name: http, port: 80, targetPort: {{.Port}}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: {{.Name}}-1, namespace: default, labels: {kubernetes.io/service-name: {{.Name}}}}
addressType: IPv4
ports: [{name: http, port: {{.Port}}}]
endpoints: [{addresses: [127.0.0.1]}]
{{end}}`

type scenarioSecret struct{ Name, Namespace, Crt, Key string }

func TestRenderedConfigServesTLSAndRoutes(t *testing.T) {
	ca := pki.NewCA(t, "e2e CA")
	leaves := map[string]*pki.Leaf{
		"default-cert": ca.Issue(t, pki.LeafOptions{DNSNames: []string{"default.example.net"}}),
		"foo-cert":     ca.Issue(t, pki.LeafOptions{DNSNames: []string{"foo.example.com"}}),
		"wild-cert":    ca.Issue(t, pki.LeafOptions{DNSNames: []string{"*.example.com"}}),
		"denied-cert":  ca.Issue(t, pki.LeafOptions{DNSNames: []string{"denied.example.org"}}),
		"strict-cert":  ca.Issue(t, pki.LeafOptions{DNSNames: []string{"strict.example.com"}}),
	}
	data := struct {
		HTTP, HTTPS, Strict int
		Secrets             []scenarioSecret
		Backends            []*backend.Server
	}{HTTP: haproxytest.FreePort(t), HTTPS: haproxytest.FreePort(t), Strict: haproxytest.FreePort(t)}
	for _, name := range []string{"default-cert", "foo-cert", "wild-cert", "denied-cert", "strict-cert"} {
		ns := "default"
		if name == "denied-cert" {
			ns = "certs"
		}
		l := leaves[name]
		data.Secrets = append(data.Secrets, scenarioSecret{name, ns,
			base64.StdEncoding.EncodeToString(l.CertPEM), base64.StdEncoding.EncodeToString(l.KeyPEM)})
	}
	for _, name := range []string{"foo", "api", "wild", "fallback"} {
		data.Backends = append(data.Backends, backend.Start(t, name))
	}

	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "out")
	out := renderScenarioTo(t, renderScenario, dir, cfgDir, data)

	// The status says why the cross-namespace certificate is not served.
	gw := out.Status.Gateways[types.NamespacedName{Namespace: "default", Name: "gw"}]
	if gw == nil {
		t.Fatal("no status for Gateway default/gw")
	}
	for _, l := range gw.Listeners {
		if l.Name != "denied" {
			continue
		}
		c := findCond(l.Conditions, string(gwapiv1.ListenerConditionResolvedRefs))
		if c == nil || c.Reason != string(gwapiv1.ListenerReasonRefNotPermitted) {
			t.Errorf("listener denied: ResolvedRefs = %+v, want reason RefNotPermitted", c)
		}
	}

	httpsAddr := fmt.Sprintf("127.0.0.1:%d", data.HTTPS)
	strictAddr := fmt.Sprintf("127.0.0.1:%d", data.Strict)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", data.HTTP)
	haproxytest.Start(t, filepath.Join(cfgDir, bundle.ConfigFile), httpAddr, httpsAddr, strictAddr)

	t.Run("certificate by SNI", func(t *testing.T) {
		for _, tc := range []struct{ addr, sni, wantCN string }{
			{httpsAddr, "foo.example.com", "foo.example.com"},        // exact beats wildcard
			{httpsAddr, "bar.example.com", "*.example.com"},          // wildcard
			{httpsAddr, "other.example.net", "default.example.net"},  // catch-all: default certificate
			{httpsAddr, "", "default.example.net"},                   // no SNI: default certificate
			{httpsAddr, "denied.example.org", "default.example.net"}, // RefNotPermitted: never served
			{strictAddr, "strict.example.com", "strict.example.com"},
		} {
			cert, err := backend.TLSHandshake(tc.addr, tc.sni, nil)
			if err != nil {
				t.Errorf("%s SNI %q: handshake failed: %v", tc.addr, tc.sni, err)
				continue
			}
			if cert.Subject.CommonName != tc.wantCN {
				t.Errorf("%s SNI %q: served %q, want %q", tc.addr, tc.sni, cert.Subject.CommonName, tc.wantCN)
			}
			if cert.Subject.CommonName == "denied.example.org" {
				t.Errorf("the certificate of a RefNotPermitted listener was served")
			}
		}
		// No catch-all on the strict port: an unknown SNI gets no certificate.
		for _, sni := range []string{"foo.example.com", "unknown.example.net", ""} {
			if cert, err := backend.TLSHandshake(strictAddr, sni, nil); err == nil {
				t.Errorf("strict port, SNI %q: handshake succeeded with %q, want it refused", sni, cert.Subject.CommonName)
			}
		}
	})

	client := func(sni string) *http.Client {
		return backend.NewClient(backend.ClientOptions{ServerName: sni, RootCAs: ca.Pool(), DialAddr: httpsAddr})
	}
	url := func(host, path string) string { return fmt.Sprintf("https://%s:%d%s", host, data.HTTPS, path) }

	t.Run("routing", func(t *testing.T) {
		for _, tc := range []struct {
			host, path, header, want string
		}{
			{"foo.example.com", "/", "", "foo"},
			{"foo.example.com", "/api/x", "2", "api"},
			{"foo.example.com", "/api/x", "", "foo"},     // header required
			{"foo.example.com", "/apix", "2", "foo"},     // prefix matches path elements
			{"bar.example.com", "/any", "", "wild"},      // wildcard listener
			{"a.b.example.com", "/", "", "wild"},         // wildcard hostnames span labels
			{"default.example.net", "/", "", "fallback"}, // catch-all listener
		} {
			h := http.Header{}
			if tc.header != "" {
				h.Set("X-Version", tc.header)
			}
			sni := tc.host
			if strings.Count(tc.host, ".") > 2 {
				// HAProxy's crt-list wildcards span one label: a client
				// reaches a.b.example.com over a connection for a name the
				// wildcard certificate covers.
				sni = "bar.example.com"
			}
			resp, echo := backend.Get(t, client(sni), url(sni, tc.path), tc.host, h)
			if resp.StatusCode != 200 || echo == nil || echo.Name != tc.want {
				t.Errorf("%s%s (X-Version %q): status %d, backend %v, want 200 from %s", tc.host, tc.path, tc.header, resp.StatusCode, echoName(echo), tc.want)
			}
			if echo != nil && echo.Name == "api" && echo.Headers.Get("X-Route") != "foo-api 100%" {
				t.Errorf("request header modifier: X-Route = %q", echo.Headers.Get("X-Route"))
			}
		}
	})

	t.Run("421 on a Host owned by another listener", func(t *testing.T) {
		for _, tc := range []struct {
			sni, host string
			want      int
		}{
			{"bar.example.com", "foo.example.com", 421},   // SNI: wild, Host: foo
			{"foo.example.com", "bar.example.com", 421},   // SNI: foo, Host: wild
			{"foo.example.com", "other.example.net", 421}, // Host: the catch-all listener
			{"foo.example.com", "foo.example.com", 200},
		} {
			resp, _ := backend.Get(t, client(tc.sni), url(tc.sni, "/"), tc.host, nil)
			if resp.StatusCode != tc.want {
				t.Errorf("SNI %s, Host %s: status %d, want %d", tc.sni, tc.host, resp.StatusCode, tc.want)
			}
		}
	})

	t.Run("invalid backend share gets 500", func(t *testing.T) {
		codes := map[int]int{}
		for range 60 {
			resp, _ := backend.Get(t, client("foo.example.com"), url("foo.example.com", "/split"), "", nil)
			codes[resp.StatusCode]++
		}
		if codes[200] == 0 || codes[500] == 0 || codes[200]+codes[500] != 60 {
			t.Errorf("status codes of 60 requests split between a Service and a missing one: %v, want both 200 and 500", codes)
		}
	})

	t.Run("http to https redirect", func(t *testing.T) {
		c := backend.NewClient(backend.ClientOptions{DialAddr: httpAddr})
		resp, _ := backend.Get(t, c, fmt.Sprintf("http://www.example.com:%d/a/b?x=1", data.HTTP), "", nil)
		want := fmt.Sprintf("https://www.example.com:%d/a/b?x=1", data.HTTPS)
		if resp.StatusCode != 301 || resp.Header.Get("Location") != want {
			t.Errorf("redirect: %d %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})
}

func echoName(e *backend.Echo) string {
	if e == nil {
		return "none"
	}
	return e.Name
}

func findCond(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

// loadScenario writes a scenario template as YAML in dir and loads it
// like `hagate render`, at the current time.
func loadScenario(t testing.TB, scenario, dir string, data any) *snapshot.Snapshot {
	t.Helper()
	var in bytes.Buffer
	if err := template.Must(template.New("").Parse(scenario)).Execute(&in, data); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "in.yaml")
	if err := os.WriteFile(manifest, in.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := files.Load(files.Options{Paths: []string{manifest}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range loaded.Errors {
		t.Fatalf("scenario: %v", e)
	}
	loaded.Snapshot.Now = time.Now()
	return loaded.Snapshot
}

// renderScenarioTo loads a scenario (loadScenario) and writes its Bundle
// to cfgDir.
func renderScenarioTo(t testing.TB, scenario, dir, cfgDir string, data any) *pipeline.Output {
	t.Helper()
	snap := loadScenario(t, scenario, dir, data)
	out, err := pipeline.Render(snap, pipeline.Options{ConfigRoot: cfgDir, BindAddress: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Bundle.ReplaceDir(cfgDir); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		cfg, _ := os.ReadFile(filepath.Join(cfgDir, bundle.ConfigFile))
		t.Logf("haproxy.cfg:\n%s", strings.TrimSpace(string(cfg)))
	}
	return out
}
