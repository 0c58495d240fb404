package kubetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testLog writes Start's progress lines to the test log.
type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestStartCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, stop, err := Start(ctx, testLog{t})
	if errors.Is(err, ErrNoKubeAPIServer) && !Required() {
		t.Skipf("%v (set %s=1 to make this a failure)", err, EnvRequire)
	}
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	c.Apply(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: hagate
spec:
  controllerName: hagate.io/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
  namespace: default
spec:
  gatewayClassName: hagate
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    hostname: www.example.com
`)
	if got := c.Kubectl(t, "get", "gatewayclass", "hagate", "-o", "jsonpath={.spec.controllerName}"); got != "hagate.io/gateway-controller" {
		t.Errorf("GatewayClass controllerName = %q", got)
	}
	// The API server defaulted the listener (allowedRoutes) and the status
	// (Pending until a controller answers): the CRD schema is in force.
	got := c.Kubectl(t, "get", "gateway", "-n", "default", "web", "-o",
		`jsonpath={.spec.listeners[0].hostname} {.spec.listeners[0].allowedRoutes.namespaces.from} {.status.conditions[?(@.type=="Accepted")].reason}`)
	if want := "www.example.com Same Pending"; got != want {
		t.Errorf("Gateway = %q, want %q", got, want)
	}

	// CEL validation from the CRD: a listener hostname on a TCP listener is
	// refused.
	if _, err := c.kubectl(strings.NewReader(`
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bad, namespace: default}
spec:
  gatewayClassName: hagate
  listeners:
  - {name: tcp, port: 9000, protocol: TCP, hostname: www.example.com}
`), "apply", "--server-side", "-f", "-"); err == nil || !strings.Contains(err.Error(), "hostname") {
		t.Errorf("invalid Gateway: err = %v, want a validation error about hostname", err)
	}

	// The rest.Config works on its own, and the kubeconfig is private.
	if c.Config == nil || !strings.HasPrefix(c.Config.Host, "https://127.0.0.1:") || len(c.Config.CAData) == 0 {
		t.Errorf("Config = %+v", c.Config)
	}
	if fi, err := os.Stat(c.Kubeconfig); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig %s: %v, %v", c.Kubeconfig, fi.Mode(), err)
	}

	// kube-apiserver stops and comes back with the data (etcd stays).
	c.StopAPIServer(t)
	if _, err := c.kubectl(nil, "get", "gateway", "-n", "default", "web", "--request-timeout", "2s"); err == nil {
		t.Error("kubectl worked with kube-apiserver stopped")
	}
	c.StartAPIServer(t)
	if got := c.Kubectl(t, "get", "gateway", "-n", "default", "web", "-o", "name"); strings.TrimSpace(got) != "gateway.gateway.networking.k8s.io/web" {
		t.Errorf("after StartAPIServer: %q", got)
	}

	// stop kills both processes and deletes the folder.
	stop()
	stopped = true
	for _, p := range c.procs {
		t.Errorf("%s still listed after stop", p.name)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after stop: %v", c.Dir, err)
	}
	stop() // twice is fine
}

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if rel, err := filepath.Rel(root, wd); err != nil || rel != filepath.Join("internal", "testutil", "kubetest") {
		t.Errorf("moduleRoot = %s for %s", root, wd)
	}
}
