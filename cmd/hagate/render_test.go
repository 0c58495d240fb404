package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const minimal = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: hagate}
spec: {controllerName: hagate.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: hagate
  listeners: [{name: http, port: 8080, protocol: HTTP}]
`

// run runs the hagate command line and returns stdout, stderr and the
// error main would turn into exit status 1.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd(strings.NewReader(stdin), &out, &errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// read returns a file's content and fails the test when it cannot be
// read: a missing output file is a failure, never an empty one.
func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(data)
}

func TestRenderWritesConfigWithAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "m", "a.yaml"), minimal)
	out := filepath.Join(dir, "out")
	if _, stderr, err := run(t, "", "render", "-f", filepath.Join(dir, "m"), "-o", out); err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}
	cfg := read(t, filepath.Join(out, "haproxy.cfg"))
	if !strings.Contains(cfg, "bind :::8080 v4v6") {
		t.Errorf("haproxy.cfg does not bind all addresses on 8080:\n%s", cfg)
	}
	if !strings.Contains(cfg, "stats socket "+out+"/haproxy.sock") {
		t.Errorf("paths in haproxy.cfg do not start with the absolute output folder %s", out)
	}
	if st := read(t, filepath.Join(out, "status.yaml")); !strings.Contains(st, "kind: Gateway") {
		t.Errorf("status.yaml holds no Gateway:\n%s", st)
	}
}

func TestRenderFromStdinWithFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	_, stderr, err := run(t, minimal, "render", "-f", "-", "-o", out, "--bind-address", "127.0.0.1", "--config-root", "/etc/hagate")
	if err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}
	cfg := read(t, filepath.Join(out, "haproxy.cfg"))
	for _, want := range []string{"bind 127.0.0.1:8080", "stats socket /etc/hagate/haproxy.sock"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
}

// render takes run's data-plane flags, so that it writes what run would:
// the access log, HAProxy's exporter, threads and maxconn.
func TestRenderDataPlaneFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	_, stderr, err := run(t, minimal, "render", "-f", "-", "-o", out, "--access-log-format", "json", "--access-log", "127.0.0.1:5140",
		"--haproxy-metrics-address", "127.0.0.1:8405", "--haproxy-threads", "2", "--haproxy-maxconn", "5000")
	if err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}
	cfg := read(t, filepath.Join(out, "haproxy.cfg"))
	for _, want := range []string{`log-format "{\"time\"`, "log 127.0.0.1:5140 local0", "frontend hagate-haproxy-metrics from metrics", "bind 127.0.0.1:8405", "nbthread 2", "maxconn 5000"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	for _, bad := range [][]string{{"--access-log-format", "yaml"}, {"--access-log", "nowhere"}} {
		if _, _, err := run(t, minimal, append([]string{"render", "-f", "-", "-o", out}, bad...)...); err == nil {
			t.Errorf("render %v: no error", bad)
		}
	}
}

func TestRenderOtherControllerName(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := run(t, minimal, "render", "-f", "-", "-o", out, "--controller-name", "example.net/other"); err != nil {
		t.Fatal(err)
	}
	cfg := read(t, filepath.Join(out, "haproxy.cfg"))
	if strings.Contains(cfg, "frontend") {
		t.Errorf("a Gateway of another controller was rendered:\n%s", cfg)
	}
}

func TestRenderWarnsWithoutGatewayClass(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	in := strings.SplitN(minimal, "---\n", 2)[1]
	_, stderr, err := run(t, in, "render", "-f", "-", "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "no GatewayClass") {
		t.Errorf("no warning about the missing GatewayClass: %q", stderr)
	}
	cfg := read(t, filepath.Join(out, "haproxy.cfg"))
	if !strings.Contains(cfg, "frontend http-8080") {
		t.Errorf("the Gateway was not rendered:\n%s", cfg)
	}
}

func TestRenderBadInputLeavesOutputUntouched(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	write(t, filepath.Join(out, "haproxy.cfg"), "previous\n")
	bad := filepath.Join(dir, "bad.yaml")
	write(t, bad, minimal+"---\nkind: [not, yaml\n")
	_, _, err := run(t, "", "render", "-f", bad, "-o", out)
	if err == nil {
		t.Fatal("render of bad YAML succeeded")
	}
	if !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "document 3") {
		t.Errorf("error does not name the file and the document: %v", err)
	}
	if got := read(t, filepath.Join(out, "haproxy.cfg")); got != "previous\n" {
		t.Errorf("output folder changed after a failed render: %q", got)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("output folder holds %d entries, want the 1 it had", len(entries))
	}
}

func TestRenderNotAKubernetesObject(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	_, _, err := run(t, "just: a map\n", "render", "-f", "-", "-o", out)
	if err == nil || !strings.Contains(err.Error(), "<stdin>: document 1") {
		t.Fatalf("err = %v, want a message naming <stdin> document 1", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output folder created after a failed render")
	}
}

func TestRenderIsDeterministicAndReplacesOutput(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, filepath.Join(a, "stale.txt"), "stale")
	for _, out := range []string{a, b} {
		if _, _, err := run(t, minimal, "render", "-f", "-", "-o", out, "--config-root", "/etc/hagate"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(a, "stale.txt")); !os.IsNotExist(err) {
		t.Error("a file of the previous output survived the render")
	}
	for _, f := range []string{"haproxy.cfg", "status.yaml"} {
		x, y := read(t, filepath.Join(a, f)), read(t, filepath.Join(b, f))
		if x != y {
			t.Errorf("%s differs between two renders of the same input", f)
		}
	}
}
