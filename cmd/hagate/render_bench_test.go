package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hagate.io/hagate/controller/files"
	"hagate.io/hagate/controller/pipeline"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/report"
	"hagate.io/hagate/templates"
)

// BenchmarkRenderProcess times `hagate render` as users meet it: the
// hagate binary, built once, run as a process on a folder of YAML files
// holding 1,000 HTTPS listeners on port 443 (20 Gateways of 50), each with
// its own ECDSA certificate Secret, and 10,000 HTTPRoutes (one PathPrefix
// rule each) to 100 Services of 3 endpoints (render/bench_test.go's
// benchSnapshot, as files). The folder is generated once, in a temporary
// folder, and the output folder is replaced on every run, as a user
// rendering again would.
//
//	go test ./cmd/hagate -run '^$' -bench RenderProcess -benchtime 5x
//
// The sub-benchmark "process" reports ms/run, the whole process, and
// cpu-ms/run, the CPU time it took (user and system), which other work on
// the machine disturbs less. The sub-benchmark "phases" runs the same steps
// in this process, by the calls runRender makes, and reports each:
// read+decode-ms (files.Load), translate-ms (render.Translate),
// templates-ms (templates.Render), status-ms (report.Status) and write-ms
// (Bundle.ReplaceDir). The process takes these plus starting up.
//
// The folders go to a new temporary folder ($TMPDIR), or to
// $HAGATE_BENCH_DIR when set (kept, to run or profile the binary by
// hand). Writing the output creates about 1,000 files, which costs from
// 30 ms to most of a second depending on the file system and what else
// writes to it: compare runs with the output on the same disk.
func BenchmarkRenderProcess(b *testing.B) {
	const listeners, routes = 1000, 10000
	dir := os.Getenv("HAGATE_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	in := filepath.Join(dir, "manifests")
	writeBenchManifests(b, in, listeners, routes)
	bin := filepath.Join(dir, "hagate")
	gobin, err := exec.LookPath("go")
	if err != nil {
		b.Skipf("no go command to build hagate with: %v", err)
	}
	build := exec.Command(gobin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out")

	b.Run("process", func(b *testing.B) {
		var cpu time.Duration
		for b.Loop() {
			cmd := exec.Command(bin, "render", "-f", in, "-o", out)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("hagate render: %v\n%s", err, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), "wrote ") {
				b.Fatalf("hagate render printed %q", stdout.String())
			}
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/run")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/run")
		checkBenchOutput(b, out, listeners, routes)
	})

	b.Run("phases", func(b *testing.B) {
		var load, translate, tmpl, status, write time.Duration
		for b.Loop() {
			t0 := time.Now()
			loaded, err := files.Load(files.Options{Paths: []string{in}})
			if err != nil {
				b.Fatal(err)
			}
			if len(loaded.Errors) > 0 {
				b.Fatal(loaded.Errors[0])
			}
			t1 := time.Now()
			loaded.Snapshot.Now = t1
			res := render.Translate(loaded.Snapshot, render.Options{ControllerName: render.DefaultControllerName, SecurityLevel: render.DefaultSecurityLevel})
			t2 := time.Now()
			tout, err := templates.Render(res.Config, templates.Options{ConfigRoot: out})
			if err != nil {
				b.Fatal(err)
			}
			t3 := time.Now()
			st, err := report.Status(loaded.Snapshot, res.Status)
			if err != nil {
				b.Fatal(err)
			}
			t4 := time.Now()
			o := &pipeline.Output{Bundle: tout.Bundle, StatusYAML: st}
			if err := o.WithStatus().ReplaceDir(out); err != nil {
				b.Fatal(err)
			}
			t5 := time.Now()
			load += t1.Sub(t0)
			translate += t2.Sub(t1)
			tmpl += t3.Sub(t2)
			status += t4.Sub(t3)
			write += t5.Sub(t4)
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
		b.ReportMetric(ms(load), "read+decode-ms")
		b.ReportMetric(ms(translate), "translate-ms")
		b.ReportMetric(ms(tmpl), "templates-ms")
		b.ReportMetric(ms(status), "status-ms")
		b.ReportMetric(ms(write), "write-ms")
		checkBenchOutput(b, out, listeners, routes)
	})
}

// checkBenchOutput fails b unless out holds what the benchmark's input
// renders to: a certificate per listener and a status per route.
func checkBenchOutput(b *testing.B, out string, listeners, routes int) {
	b.Helper()
	certs, err := filepath.Glob(filepath.Join(out, "certs", "*", "*"))
	if err != nil {
		b.Fatal(err)
	}
	if len(certs) != listeners {
		b.Fatalf("%d certificate files in %s, want %d", len(certs), out, listeners)
	}
	st, err := os.ReadFile(filepath.Join(out, "status.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	if n := bytes.Count(st, []byte("\nkind: HTTPRoute\n")); n != routes {
		b.Fatalf("status.yaml holds %d HTTPRoutes, want %d", n, routes)
	}
	// Every listener holds its share of the routes, and its only False
	// condition is Conflicted.
	if n := bytes.Count(st, fmt.Appendf(nil, "attachedRoutes: %d\n", routes/listeners)); n != listeners {
		b.Fatalf("status.yaml holds %d listeners with %d routes, want %d", n, routes/listeners, listeners)
	}
	if n := bytes.Count(st, []byte(`status: "False"`)); n != listeners {
		b.Fatalf("status.yaml holds %d False conditions, want %d (Conflicted)", n, listeners)
	}
}

// writeBenchManifests writes the benchmark's input into dir, as people
// keep manifests: a file of Gateways, one file per certificate Secret, a
// file of Services and EndpointSlices, and the routes in files of 100.
func writeBenchManifests(b *testing.B, dir string, listeners, routes int) {
	b.Helper()
	const perGateway = 50
	ca := pki.NewCA(b, "bench CA")
	var gws bytes.Buffer
	gws.WriteString(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: hagate
spec:
  controllerName: ` + render.DefaultControllerName + "\n")
	for i := range listeners {
		if i%perGateway == 0 {
			fmt.Fprintf(&gws, `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw%d
  namespace: default
spec:
  gatewayClassName: hagate
  listeners:
`, i/perGateway)
		}
		host := fmt.Sprintf("h%d.example.com", i)
		fmt.Fprintf(&gws, `  - name: l%d
    hostname: %s
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - kind: Secret
        name: cert%d
`, i, host, i)
		leaf := ca.Issue(b, pki.LeafOptions{DNSNames: []string{host}})
		benchWrite(b, filepath.Join(dir, "certs", fmt.Sprintf("cert%d.yaml", i)), fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: cert%d
  namespace: default
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
`, i, base64.StdEncoding.EncodeToString(leaf.CertPEM), base64.StdEncoding.EncodeToString(leaf.KeyPEM)))
	}
	benchWrite(b, filepath.Join(dir, "gateways.yaml"), gws.String())

	var svcs bytes.Buffer
	for i := range 100 {
		if i > 0 {
			svcs.WriteString("---\n")
		}
		fmt.Fprintf(&svcs, `apiVersion: v1
kind: Service
metadata:
  name: svc%d
  namespace: default
spec:
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc%d-1
  namespace: default
  labels:
    kubernetes.io/service-name: svc%d
addressType: IPv4
ports:
- name: http
  port: 8080
endpoints:
`, i, i, i)
		for j := range 3 {
			fmt.Fprintf(&svcs, "- addresses: [\"10.%d.%d.%d\"]\n  conditions:\n    ready: true\n", i/250, i%250, j+1)
		}
	}
	benchWrite(b, filepath.Join(dir, "services.yaml"), svcs.String())

	const perFile = 100
	var rs bytes.Buffer
	for i := range routes {
		l := i % listeners
		if i%perFile > 0 {
			rs.WriteString("---\n")
		}
		fmt.Fprintf(&rs, `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route%d
  namespace: default
spec:
  parentRefs:
  - name: gw%d
    sectionName: l%d
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /r%d
    backendRefs:
    - name: svc%d
      port: 80
`, i, l/perGateway, l, i, i%100)
		if i%perFile == perFile-1 || i == routes-1 {
			benchWrite(b, filepath.Join(dir, "routes", fmt.Sprintf("routes%03d.yaml", i/perFile)), rs.String())
			rs.Reset()
		}
	}
}

func benchWrite(b *testing.B, path, content string) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}
