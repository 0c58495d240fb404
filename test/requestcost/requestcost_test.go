package requestcost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"hagate.io/hagate/controller/files"
	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/backend"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/templates"
)

// gatewayScenario is the start of both scenarios: the GatewayClass, one
// HTTPS listener on Port and its Secret (Cert, Key).
const gatewayScenario = `
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
  listeners: [{name: https, protocol: HTTPS, port: {{ .Port }}, tls: {certificateRefs: [{name: tls}]}}]
---
apiVersion: v1
kind: Secret
metadata: {name: tls, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: {{ .Cert }}, tls.key: {{ .Key }}}`

// scenario is what both configurations serve: one HTTPS listener (no
// hostname: it takes every name) with one certificate, and N HTTPRoutes,
// each with its own hostname h<i>.example.com and one rule to the one
// Service, whose endpoint is the backend on 127.0.0.1.
const scenario = gatewayScenario + `
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {ports: [{port: 80, targetPort: {{ .Backend }}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: {{ .Backend }}}]
endpoints: [{addresses: [127.0.0.1]}]
{{- range .Routes }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r{{ . }}, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [h{{ . }}.example.com]
  rules: [{backendRefs: [{name: web, port: 80}]}]
{{- end }}
`

// backendCfg is the backend every request reaches: an HAProxy answering
// 200 itself, the cheapest HTTP server at hand.
const backendCfg = `global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend backend
    bind 127.0.0.1:%d
    http-request return status 200 content-type text/plain string "ok"
`

// The CPUs: HAProxy under test alone on one, the load generator and the
// backend on the other.
const (
	proxyCPU = "0"
	loadCPU  = "1"
)

// requestPath is the path of every request (no dot-segment, two
// segments: an API call).
const requestPath = "/api/items"

// BenchmarkRequestCost measures what a request costs HAProxy with the
// haproxy.cfg hagate renders, next to the hand-written reference.cfg for
// the same routes, at 1 and 3,000 HTTPRoutes: throughput with wrk
// (HTTP/1.1 keep-alive) and h2load (HTTP/2), in interleaved rounds, and
// the CPU time of the HAProxy process per request (its threads' run time
// from /proc). Both HAProxys run nbthread 1 on CPU 0; the load generator
// and the backend share CPU 1. It reports the medians of the rounds and
// the ratios hagate/reference (throughput: higher is better; CPU per
// request: lower is better), with access logs off on both sides; at one
// route also with access logs to stdout on both sides (read by a pipe, as
// hagate run does), and hagate's with logs to syslog over UDP.
//
//	go test ./test/requestcost -run '^$' -bench RequestCost -benchtime 1x
//
// REQUESTCOST_DURATION (a Go duration, default 2s) is the length of one
// measurement, REQUESTCOST_ROUNDS (default 5) the number of rounds. Needs
// haproxy, wrk and h2load (Debian: apt-get install haproxy wrk
// nghttp2-client) and taskset; skipped without wrk or h2load.
func BenchmarkRequestCost(b *testing.B) {
	for _, tool := range []string{"wrk", "h2load", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not found: apt-get install wrk nghttp2-client util-linux", tool)
		}
	}
	haproxytest.Binary(b)
	// This process (the pipe and syslog readers) stays off the CPU of the
	// HAProxy under test, with the load generator.
	if out, err := exec.Command("taskset", "-a", "-p", "-c", loadCPU, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		b.Fatalf("taskset: %v\n%s", err, out)
	}
	dur := 2 * time.Second
	if s := os.Getenv("REQUESTCOST_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("REQUESTCOST_DURATION: %v", err)
		}
		dur = d
	}
	rounds := 5
	if s := os.Getenv("REQUESTCOST_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("REQUESTCOST_ROUNDS=%q: want a positive number", s)
		}
		rounds = n
	}
	ca := pki.NewCA(b, "requestcost CA")
	leaf := ca.Issue(b, pki.LeafOptions{DNSNames: []string{"*.example.com"}})
	backendPort := haproxytest.FreePort(b)
	be := filepath.Join(b.TempDir(), "backend.cfg")
	if err := os.WriteFile(be, fmt.Appendf(nil, backendCfg, backendPort), 0o600); err != nil {
		b.Fatal(err)
	}
	backendPID := start(b, loadCPU, be, nil, fmt.Sprintf("127.0.0.1:%d", backendPort))

	for _, n := range []int{1, 3000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			s := &setup{leaf: leaf, backendPort: backendPort, backendPID: backendPID, routes: n}
			ts := []*target{
				s.hagate(b, "hagate", ir.AccessLogOff),
				s.reference(b, "reference", false),
			}
			if n == 1 {
				syslog := udpSink(b)
				ts = append(ts,
					s.hagate(b, "hagate-stdout", ir.AccessLogStdout),
					s.reference(b, "reference-stdout", true),
					s.hagate(b, "hagate-syslog", ir.AccessLog(syslog)),
				)
			}
			host := fmt.Sprintf("h%d.example.com", n-1)
			for _, t := range ts {
				t.check(b, host)
			}
			res := map[string][]result{}
			for r := range rounds {
				order := slices.Clone(ts)
				if r%2 == 1 {
					slices.Reverse(order)
				}
				for _, tool := range []string{"wrk", "h2load"} {
					for _, t := range order {
						res[t.name+" "+tool] = append(res[t.name+" "+tool], t.load(b, tool, host, dur))
					}
				}
			}
			report(b, ts, res)
		})
	}
}

// setup renders and starts the configurations of one number of routes.
type setup struct {
	leaf        *pki.Leaf
	backendPort int
	backendPID  int
	routes      int
}

// target is one HAProxy under test.
type target struct {
	name    string
	addr    string
	pid     int
	backend int // the backend's PID
}

// hagate renders the scenario through hagate's pipeline and starts
// HAProxy on it.
func (s *setup) hagate(b *testing.B, name string, log ir.AccessLog) *target {
	b.Helper()
	port := haproxytest.FreePort(b)
	routes := make([]int, s.routes)
	for i := range routes {
		routes[i] = i
	}
	tmpl := template.Must(template.New("").Parse(scenario))
	return startRendered(b, name, tmpl, map[string]any{"Port": port, "Backend": s.backendPort, "Routes": routes}, s.leaf, port, s.backendPID, log)
}

// startRendered executes tmpl with data (and the leaf's Cert and Key, in
// base64) into a manifest, renders it through hagate's pipeline (its two
// steps, with the access log chosen) into a folder of its own, checks it
// with haproxy -c and starts HAProxy on it, serving port.
func startRendered(b *testing.B, name string, tmpl *template.Template, data map[string]any, leaf *pki.Leaf, port, backendPID int, log ir.AccessLog) *target {
	b.Helper()
	dir := b.TempDir()
	data["Cert"] = base64.StdEncoding.EncodeToString(leaf.CertPEM)
	data["Key"] = base64.StdEncoding.EncodeToString(leaf.KeyPEM)
	var in bytes.Buffer
	if err := tmpl.Execute(&in, data); err != nil {
		b.Fatal(err)
	}
	manifest := filepath.Join(dir, "in.yaml")
	if err := os.WriteFile(manifest, in.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	loaded, err := files.Load(files.Options{Paths: []string{manifest}})
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range loaded.Errors {
		b.Fatalf("scenario: %v", e)
	}
	loaded.Snapshot.Now = time.Now()
	cfgDir := filepath.Join(dir, "config")
	res := render.Translate(loaded.Snapshot, render.Options{})
	out, err := templates.Render(res.Config, templates.Options{ConfigRoot: cfgDir, BindAddress: "127.0.0.1", Threads: 1, AccessLog: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := out.Bundle.ReplaceDir(cfgDir); err != nil {
		b.Fatal(err)
	}
	cfg := filepath.Join(cfgDir, bundle.ConfigFile)
	haproxytest.Check(b, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return &target{name: name, addr: addr, pid: start(b, proxyCPU, cfg, nil, addr), backend: backendPID}
}

// reference starts HAProxy on reference.cfg for the same routes.
func (s *setup) reference(b *testing.B, name string, log bool) *target {
	b.Helper()
	dir := b.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, s.leaf.CombinedPEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	var hosts strings.Builder
	for i := range s.routes {
		fmt.Fprintf(&hosts, "h%d.example.com web\n", i)
	}
	hostsMap := filepath.Join(dir, "hosts.map")
	if err := os.WriteFile(hostsMap, []byte(hosts.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := filepath.Abs("reference.cfg")
	if err != nil {
		b.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", haproxytest.FreePort(b))
	env := []string{
		"REQUESTCOST_BIND=" + addr,
		"REQUESTCOST_CERT=" + cert,
		"REQUESTCOST_HOSTS=" + hostsMap,
		fmt.Sprintf("REQUESTCOST_SERVER=127.0.0.1:%d", s.backendPort),
	}
	if log {
		env = append(env, "REQUESTCOST_LOG=1")
	}
	return &target{name: name, addr: addr, pid: start(b, proxyCPU, cfg, env, addr), backend: s.backendPID}
}

// start runs `haproxy -db -f cfg` on cpu with env added, its output read
// (and dropped) through a pipe as hagate run reads it, and waits for
// addr. It returns the PID; the process is stopped when the benchmark
// ends.
func start(b *testing.B, cpu, cfg string, env []string, addr string) int {
	b.Helper()
	cmd := exec.Command("taskset", "-c", cpu, haproxytest.Binary(b), "-db", "-f", cfg)
	cmd.Dir = filepath.Dir(cfg)
	// Killed with this process, should it be stopped before its cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), env...)
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail tailBuffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&tail, pr)
	}()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pw.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		pr.Close()
		<-copied
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return cmd.Process.Pid // taskset execs haproxy: same PID
		}
		select {
		case err := <-exited:
			b.Fatalf("haproxy -f %s exited (%v):\n%s", cfg, err, tail.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("haproxy -f %s: %s not ready: %v\n%s", cfg, addr, err, tail.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tailBuffer keeps the last 16 kB written to it, discarding the rest.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 16<<10 {
		t.b = append(t.b[:0], t.b[len(t.b)-16<<10:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// udpSink receives syslog datagrams on 127.0.0.1 and drops them; it
// returns the address.
func udpSink(b *testing.B) string {
	b.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}

// check verifies that the target routes as the scenario says, over
// HTTP/1.1 and HTTP/2: the route's host gets the backend's 200 (in any
// case, with a port), another host 404, a path with a dot-segment 400.
func (t *target) check(b *testing.B, host string) {
	b.Helper()
	for _, h2 := range []bool{false, true} {
		c := backend.NewClient(backend.ClientOptions{DialAddr: t.addr, InsecureSkipVerify: true, HTTP2: h2})
		for _, r := range []struct {
			host, path string
			want       int
		}{
			{host, requestPath, 200},
			{strings.ToUpper(host) + ":443", requestPath, 200},
			{"nowhere.example.com", requestPath, 404},
			{host, "/api/../items", 400},
		} {
			req, err := http.NewRequest("GET", "https://"+host+"/", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.URL.Opaque = r.path // sent as is, dot-segments included
			req.Host = r.host
			resp, err := c.Do(req)
			if err != nil {
				b.Fatalf("%s: GET %s (Host %s, HTTP/2 %v): %v", t.name, r.path, r.host, h2, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != r.want {
				b.Fatalf("%s: GET %s (Host %s, HTTP/2 %v): status %d, want %d", t.name, r.path, r.host, h2, resp.StatusCode, r.want)
			}
		}
		c.CloseIdleConnections()
	}
}

// result is one measurement.
type result struct {
	requests int64
	seconds  float64
	cpu      time.Duration // HAProxy's CPU time during the run
	load     time.Duration // the load generator's and the backend's CPU time
	others   time.Duration // the CPU time of every other process
}

func (r result) rps() float64 { return float64(r.requests) / r.seconds }

func (r result) cpuPerRequest() time.Duration {
	return time.Duration(float64(r.cpu) / float64(r.requests))
}

// h2loadRate is about the HTTP/2 requests per second of one HAProxy
// thread here: h2load sends d times as many (its timed mode, -D, was
// seen hanging once its clients had stopped).
const h2loadRate = 25000

// load runs tool against the target for about d and returns what it
// measured. A tool that has not finished long after is stopped and run
// again, once.
func (t *target) load(b *testing.B, tool, host string, d time.Duration) result {
	b.Helper()
	secs := strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
	url := "https://" + t.addr + requestPath
	var args []string
	switch tool {
	case "wrk":
		args = []string{"wrk", "-t1", "-c50", "-d" + secs + "s", "-H", "Host: " + host, url}
	case "h2load":
		n := strconv.Itoa(max(10000, int(h2loadRate*d.Seconds())))
		args = []string{"h2load", "-t1", "-c10", "-m10", "-n", n, "-H", ":authority: " + host, url}
	}
	var cmd *exec.Cmd
	var out []byte
	var err error
	var cpu0, busy0, be0, self0, cpu1, busy1, be1, self1 time.Duration
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*d+30*time.Second)
		cpu0, busy0, be0, self0 = cpuTime(b, t.pid), machineBusy(b), cpuTime(b, t.backend), selfTime()
		cmd = exec.CommandContext(ctx, "taskset", append([]string{"-c", loadCPU}, args...)...)
		out, err = cmd.CombinedOutput()
		cpu1, busy1, be1, self1 = cpuTime(b, t.pid), machineBusy(b), cpuTime(b, t.backend), selfTime()
		timedOut := ctx.Err() != nil
		cancel()
		if !timedOut || try == 1 {
			break
		}
		b.Logf("%s: %s did not finish in time; again", t.name, tool)
	}
	if err != nil {
		b.Fatalf("%s: %s: %v\n%s", t.name, strings.Join(args, " "), err, out)
	}
	n, secsRun, err := parseLoad(tool, string(out))
	if err != nil {
		b.Fatalf("%s: %s: %v\n%s", t.name, strings.Join(args, " "), err, out)
	}
	// The tool's CPU time (taskset execs it: one process) and the
	// backend's: what the load CPU spends per request.
	load := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() + be1 - be0
	// What else ran on the machine meanwhile (not HAProxy, the load,
	// the backend or this process, which reads HAProxy's output).
	others := (busy1 - busy0) - (cpu1 - cpu0) - load - (self1 - self0)
	return result{requests: n, seconds: secsRun, cpu: cpu1 - cpu0, load: load, others: max(others, 0)}
}

var (
	wrkDone     = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(m?s)`)
	wrkBad      = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
	h2loadDone  = regexp.MustCompile(`finished in ([0-9.]+)(m?s)`)
	h2loadReqs  = regexp.MustCompile(`requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2loadCodes = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// parseLoad reads the requests done and the seconds they took from the
// output of wrk or h2load, and refuses a run with failed requests.
func parseLoad(tool, out string) (int64, float64, error) {
	seconds := func(v, unit string) float64 {
		f, _ := strconv.ParseFloat(v, 64)
		if unit == "ms" {
			f /= 1000
		}
		return f
	}
	switch tool {
	case "wrk":
		if m := wrkBad.FindString(out); m != "" {
			return 0, 0, fmt.Errorf("failed requests: %s", m)
		}
		m := wrkDone.FindStringSubmatch(out)
		if m == nil {
			return 0, 0, errors.New("no request count in the output")
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n, seconds(m[2], m[3]), nil
	default:
		d := h2loadDone.FindStringSubmatch(out)
		r := h2loadReqs.FindStringSubmatch(out)
		c := h2loadCodes.FindStringSubmatch(out)
		if d == nil || r == nil || c == nil {
			return 0, 0, errors.New("no request count in the output")
		}
		if r[2] != "0" || r[3] != "0" || r[4] != "0" || c[2] != "0" || c[3] != "0" || c[4] != "0" {
			return 0, 0, fmt.Errorf("failed requests: %s; %s", r[0], c[0])
		}
		n, _ := strconv.ParseInt(r[1], 10, 64)
		return n, seconds(d[1], d[2]), nil
	}
}

// cpuTime is the time the process's threads have run, from
// /proc/<pid>/task/*/schedstat (nanoseconds on the CPU).
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		b.Fatalf("haproxy %d: no schedstat (%v)", pid, err)
	}
	var total time.Duration
	for _, p := range tasks {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // a thread gone
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		total += time.Duration(ns)
	}
	return total
}

// machineBusy is the time all CPUs were busy (not idle nor waiting for
// I/O), from /proc/stat (in USER_HZ ticks, 10 ms).
func machineBusy(b *testing.B) time.Duration {
	b.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		b.Fatalf("/proc/stat: %q", line)
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// selfTime is this process's CPU time.
func selfTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report logs a table of the medians of the rounds, and reports the
// ratios as metrics: each the median of the rounds' own ratios (the two
// runs of a round are next to each other in time, so what else runs on
// the machine weighs on both alike).
func report(b *testing.B, ts []*target, res map[string][]result) {
	median := func(vs []float64) float64 {
		if len(vs) == 0 {
			return 0
		}
		vs = slices.Clone(vs)
		slices.Sort(vs)
		if len(vs)%2 == 0 {
			return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
		}
		return vs[len(vs)/2]
	}
	med := func(key string, f func(result) float64) float64 {
		var vs []float64
		for _, r := range res[key] {
			vs = append(vs, f(r))
		}
		return median(vs)
	}
	rps := func(r result) float64 { return r.rps() }
	cpu := func(r result) float64 { return float64(r.cpuPerRequest().Nanoseconds()) / 1000 }
	busy := func(r result) float64 { return float64(r.cpu) / (r.seconds * 1e9) * 100 }
	load := func(r result) float64 { return float64(r.load.Nanoseconds()) / float64(r.requests) / 1000 }
	others := func(r result) float64 { return float64(r.others) / (r.seconds * 1e9) * 100 }
	var tbl strings.Builder
	w := bufio.NewWriter(&tbl)
	fmt.Fprintf(w, "\n%-18s %-7s %9s %11s %6s %12s %7s\n", "haproxy.cfg", "load", "req/s", "CPU µs/req", "busy", "load µs/req", "others")
	for _, tool := range []string{"wrk", "h2load"} {
		for _, t := range ts {
			k := t.name + " " + tool
			fmt.Fprintf(w, "%-18s %-7s %9.0f %11.2f %5.0f%% %12.2f %6.0f%%\n", t.name, tool, med(k, rps), med(k, cpu), med(k, busy), med(k, load), med(k, others))
		}
	}
	fmt.Fprintf(w, "(busy: HAProxy's share of its CPU; load: wrk or h2load and the backend, on the other CPU; others: CPU time of all other processes, in %% of one CPU: more than a few %% makes the figures unreliable)\n")
	ratios := func(a, ref, label string) {
		for _, tool := range []string{"wrk", "h2load"} {
			ra, rr := res[a+" "+tool], res[ref+" "+tool]
			if len(ra) == 0 || len(ra) != len(rr) {
				continue
			}
			var trs, crs []float64
			for i := range ra {
				trs = append(trs, ra[i].rps()/rr[i].rps())
				crs = append(crs, cpu(ra[i])/cpu(rr[i]))
			}
			proto := map[string]string{"wrk": "h1", "h2load": "h2"}[tool]
			tr, cr := median(trs), median(crs)
			fmt.Fprintf(w, "%s %s: throughput %.3fx, CPU per request %.3fx\n", label, proto, tr, cr)
			b.ReportMetric(tr, label+"-"+proto+"-throughput-x")
			b.ReportMetric(cr, label+"-"+proto+"-cpu/req-x")
		}
	}
	ratios("hagate", "reference", "hagate/reference")
	ratios("hagate-stdout", "reference-stdout", "stdout-hagate/reference")
	ratios("hagate-stdout", "hagate", "hagate-stdout/off")
	ratios("hagate-syslog", "hagate", "hagate-syslog/off")
	w.Flush()
	b.Log(tbl.String())
}
