package propagation

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// hagateBinary builds ./cmd/hagate with go build into a temporary folder,
// once per test binary (so a run measures the tree as it is when the run
// starts).
func hagateBinary(b testing.TB) string {
	b.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hagate-propagation-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "hagate")
		start := time.Now()
		out, err := exec.Command("go", "build", "-o", builtBin, "hagate.io/hagate/cmd/hagate").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/hagate: %v\n%s", err, out)
			return
		}
		fmt.Fprintf(os.Stderr, "propagation: built %s in %s\n", builtBin, time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return builtBin
}

// removeBinary deletes the built binary's folder (TestMain, at the end).
func removeBinary() {
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
}

// hagate is a running `hagate run` process.
type hagate struct {
	cmd        *exec.Cmd
	logPath    string
	metricsURL string
	done       chan struct{} // closed when the process has exited
	err        error         // its exit status, once done is closed
	stopping   bool
}

// startHagate runs bin with args, its stdout and stderr (hagate's log, and
// HAProxy's own output) appended to STATE/hagate.log. It is stopped (SIGTERM,
// then SIGKILL after 30 s) when the benchmark ends, and the last 50 lines
// of its log are shown if the benchmark failed.
func startHagate(b testing.TB, bin, stateDir, metricsAddr string, args ...string) *hagate {
	b.Helper()
	h := &hagate{
		logPath:    filepath.Join(stateDir, "hagate.log"),
		metricsURL: "http://" + metricsAddr + "/metrics",
		done:       make(chan struct{}),
	}
	f, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h.cmd = exec.Command(bin, args...)
	h.cmd.Stdout, h.cmd.Stderr = f, f
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := h.cmd.Start(); err != nil {
		b.Fatalf("start hagate: %v", err)
	}
	go func() {
		h.err = h.cmd.Wait()
		close(h.done)
	}()
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("last lines of %s:\n%s", h.logPath, h.tail(50))
		}
	})
	b.Cleanup(func() {
		start := time.Now()
		if killed := h.stop(); killed {
			b.Errorf("hagate did not stop within 30 s of SIGTERM; killed")
		}
		logf(b, "hagate stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	})
	return h
}

// exited returns an error when hagate is no longer running and was not
// asked to stop.
func (h *hagate) exited() error {
	select {
	case <-h.done:
		if h.stopping {
			return nil
		}
		return fmt.Errorf("hagate exited: %v", h.err)
	default:
		return nil
	}
}

// stop sends SIGTERM and waits up to 30 s, then kills; it reports
// whether it had to kill.
func (h *hagate) stop() (killed bool) {
	h.stopping = true
	select {
	case <-h.done:
		return false
	default:
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
		return false
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
		return true
	}
}

// tail returns the last n lines of hagate's log.
func (h *hagate) tail(n int) string {
	data, err := os.ReadFile(h.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// errorLines returns the log lines that carry an error (logr's Error
// writes an "error" key), and how many there are.
func (h *hagate) errorLines(max int) ([]string, int) {
	f, err := os.Open(h.logPath)
	if err != nil {
		return []string{err.Error()}, 1
	}
	defer f.Close()
	var out []string
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, `"error":`) || strings.Contains(line, "[ALERT]") {
			n++
			if len(out) < max {
				out = append(out, line)
			}
		}
	}
	return out, n
}

// metrics is one scrape of hagate's /metrics: each sample by its series
// as written, e.g. `hagate_apply_duration_seconds_count{action="runtime"}`.
type metrics map[string]float64

// Series the benchmark reads.
const (
	mReloads         = "hagate_haproxy_reloads_total"
	mRuntimeApplies  = `hagate_apply_duration_seconds_count{action="runtime"}`
	mReloadApplies   = `hagate_apply_duration_seconds_count{action="reload"}`
	mApplyFailures   = "hagate_apply_failures_total"
	mHAProxyRestarts = "hagate_haproxy_restarts_total"
)

// scrape reads /metrics (the text format; a missing series reads as 0).
func (h *hagate) scrape() (metrics, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", h.metricsURL, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	m := metrics{}
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	if len(m) == 0 {
		return nil, errors.New("no samples in /metrics")
	}
	return m, nil
}

// haproxyWorkers counts the HAProxy workers under hagate (children of its
// HAProxy master): 1 when no old worker from a reload is still draining
// its connections.
func (h *hagate) haproxyWorkers() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	parent := map[int]int{}
	comm := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(data)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		parent[pid], comm[pid] = ppid, s[open+1:closing]
	}
	n := 0
	for pid, ppid := range parent {
		// A worker's parent is the master, whose parent is hagate.
		if comm[pid] == "haproxy" && comm[ppid] == "haproxy" && parent[ppid] == h.cmd.Process.Pid {
			n++
		}
	}
	return n
}
