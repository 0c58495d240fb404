package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/types"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
)

// addressesScenario: four Gateways with one HTTP listener on the same
// port. one and two bind addresses of their own, def binds the default
// (127.0.0.1), bad asks for an address of no interface here. Each has a
// route to its own backend.
const addressesScenario = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
{{- range .Gateways }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: {{ .Name }}, namespace: default}
spec:
  gatewayClassName: hagate
  {{- if .Addr }}
  addresses: [{type: IPAddress, value: "{{ .Addr }}"}]
  {{- end }}
  listeners: [{name: http, protocol: HTTP, port: {{ $.Port }}}]
---
apiVersion: v1
kind: Service
metadata: {name: {{ .Name }}, namespace: default}
spec: {ports: [{name: http, port: 80, targetPort: {{ .Backend }}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: {{ .Name }}-1, namespace: default, labels: {kubernetes.io/service-name: {{ .Name }}}}
addressType: IPv4
ports: [{name: http, port: {{ .Backend }}}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: {{ .Name }}, namespace: default}
spec:
  parentRefs: [{name: {{ .Name }}}]
  rules: [{backendRefs: [{name: {{ .Name }}, port: 80}]}]
{{- end }}
`

// TestGatewaysOnTheirOwnAddresses: Gateways sharing a port are told apart
// by the addresses they ask for (spec.addresses), next to a Gateway on the
// default address, each serving its own routes; an address this host
// cannot bind is reported (AddressNotUsable) and the others keep serving.
func TestGatewaysOnTheirOwnAddresses(t *testing.T) {
	port := haproxytest.FreePort(t)
	type gw struct {
		Name, Addr string
		Backend    int
	}
	gws := []gw{
		{Name: "one", Addr: "127.0.50.2", Backend: backend.Start(t, "one").Port},
		{Name: "two", Addr: "127.0.50.3", Backend: backend.Start(t, "two").Port},
		{Name: "def", Backend: backend.Start(t, "def").Port},
		// TEST-NET-2: on no interface of a test machine.
		{Name: "bad", Addr: "198.51.100.7", Backend: backend.Start(t, "bad").Port},
	}
	snap := loadScenario(t, addressesScenario, t.TempDir(), map[string]any{"Port": port, "Gateways": gws})

	a, err := agent.New(agent.Options{
		StateDir: t.TempDir(), HAProxyBinary: haproxytest.Binary(t), BindAddress: "127.0.0.1",
		Log: funcr.NewJSON(func(obj string) { t.Log(obj) }, funcr.Options{}), HAProxyOutput: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); a.Wait() })
	out, err := a.Start(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}

	st := func(name string) (addrs []string, programmed string) {
		s := out.Status.Gateways[types.NamespacedName{Namespace: "default", Name: name}]
		if s == nil {
			t.Fatalf("no status for Gateway %s", name)
		}
		for _, a := range s.Addresses {
			addrs = append(addrs, a.Value)
		}
		if c := findCond(s.Conditions, "Programmed"); c != nil {
			programmed = string(c.Status) + "/" + c.Reason
		}
		return addrs, programmed
	}
	for _, c := range []struct {
		name, addrs, programmed string
	}{
		{"one", "127.0.50.2", "True/Programmed"},
		{"two", "127.0.50.3", "True/Programmed"},
		{"def", "", "True/Programmed"},
		{"bad", "", "False/AddressNotUsable"},
	} {
		addrs, programmed := st(c.name)
		if strings.Join(addrs, ",") != c.addrs || programmed != c.programmed {
			t.Errorf("Gateway %s: status addresses %v, Programmed %s; want [%s], %s", c.name, addrs, programmed, c.addrs, c.programmed)
		}
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct{ addr, want string }{
		{"127.0.50.2", "one"},
		{"127.0.50.3", "two"},
		{"127.0.0.1", "def"},
	} {
		var got string
		if _, ok := eventually(10*time.Second, func() bool {
			got = fetchName(client, fmt.Sprintf("http://%s:%d/", c.addr, port))
			return got == c.want
		}); !ok {
			t.Errorf("http://%s:%d/ reached %q, want %q", c.addr, port, got, c.want)
		}
	}
	// Nothing listens on the addresses of other Gateways: 127.0.50.4 is
	// loopback too, but no Gateway asked for it.
	if got := fetchName(client, fmt.Sprintf("http://127.0.50.4:%d/", port)); got != "" {
		t.Errorf("127.0.50.4 answered (%q); no Gateway binds it", got)
	}
}

// fetchName GETs url and returns the answering echo backend's name ("" on
// any failure).
func fetchName(c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var e backend.Echo
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&e) != nil {
		return ""
	}
	return e.Name
}
