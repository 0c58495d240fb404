// Package haproxy owns everything that touches HAProxy: writing
// configuration bundles, validating them with `haproxy -c`, the Runtime
// API, reloads through the master CLI, and starting and supervising the
// HAProxy master. It knows nothing of Gateway API: its input is a Bundle
// (haproxy/bundle), the files HAProxy reads. The API carries no
// compatibility promise before v1.
package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// Timings of Process.
const (
	defaultRestartBackoff = time.Second
	maxRestartBackoff     = 10 * time.Second
	startTimeout          = 30 * time.Second
	softStopGrace         = 10 * time.Second // SIGUSR1, then SIGTERM
	hardStopGrace         = 5 * time.Second  // SIGTERM, then SIGKILL
	outputTailSize        = 16 << 10         // HAProxy output kept for errors and logs
	alertsKept            = 32               // [ALERT] lines kept for reload errors
)

// ProcessOptions configure Start.
type ProcessOptions struct {
	// Binary is the HAProxy executable. Empty means "haproxy" from PATH,
	// else /usr/sbin/haproxy.
	Binary string
	// ConfigFile is the configuration (-f). HAProxy runs in its directory,
	// so relative paths in it resolve next to it. Its global section needs
	// `stats socket <path> ... expose-fd listeners` for hitless reloads:
	// the listening sockets are handed to the new worker through it.
	ConfigFile string
	// MasterSocket is the master CLI's socket path (-S <path>,mode,600).
	MasterSocket string
	// PIDFile receives the master's PID (-p).
	PIDFile string
	// Log receives the supervisor's messages (starts, exits, restarts,
	// stops). The zero Logger discards them.
	Log logr.Logger
	// Stdout and Stderr receive HAProxy's output (its logs go to stdout,
	// its own notices and alerts to stderr). Nil means os.Stdout and
	// os.Stderr.
	Stdout, Stderr io.Writer
	// StatsSocket is the configuration's stats socket (declared with
	// expose-fd listeners). When the PID file names a master an earlier
	// supervisor left running (it was killed: HAProxy outlives it and
	// keeps serving), the new master takes its listening sockets through
	// it (-x), then the old one is stopped softly: no connection is
	// refused while hagate restarts.
	StatsSocket string
	// ReloadTimeout bounds how long a reload waits for the new worker
	// (MasterCLI.ReloadTimeout); zero means 30s.
	ReloadTimeout time.Duration
	// RestartBackoff is the wait before starting HAProxy again after the
	// master exited on its own; it doubles with every exit in a row up to
	// 30s, and starts over once a master has run for 30s. Zero means 1s.
	RestartBackoff time.Duration
}

// Process is an HAProxy master (master-worker mode) started and supervised
// by Start.
type Process struct {
	o    ProcessOptions
	args []string
	dir  string
	log  logr.Logger
	cli  *MasterCLI
	done chan struct{} // closed when supervision has ended and HAProxy has stopped

	alerts alertLog
	outMu  sync.Mutex // serializes writes to Stdout and Stderr (which may be one writer)

	mu       sync.Mutex
	cur      *masterRun // nil while no master runs
	restarts int
}

// masterRun is one execution of the master.
type masterRun struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	out     *outputTail
	copied  sync.WaitGroup // output copiers; done when every holder of the pipes has exited
	ready   chan struct{}  // closed once the master CLI has listed a worker
	exited  chan struct{}  // closed once cmd.Wait has returned
	state   *os.ProcessState
	waitErr error
}

// Start starts `haproxy -W -db -S <socket>,mode,600 -p <pidfile> -f <config>`
// and returns once the master socket answers `show proc` with at least one
// worker, or an error holding HAProxy's output if the master exits first or
// is not ready within 30s.
//
// Then a goroutine supervises the master until ctx is done: when it exits,
// the reason is logged and it is started again after RestartBackoff. (The
// 2.6 master also exits when its current worker dies.) Once ctx is done
// HAProxy is stopped: SIGUSR1 (soft stop: workers finish their
// connections), SIGTERM after 10s, SIGKILL 5s later; then Wait returns.
func Start(ctx context.Context, o ProcessOptions) (*Process, error) {
	if o.ConfigFile == "" || o.MasterSocket == "" || o.PIDFile == "" {
		return nil, errors.New("start haproxy: ConfigFile, MasterSocket and PIDFile are required")
	}
	bin, err := haproxyBinary(o.Binary)
	if err != nil {
		return nil, err
	}
	o.Binary = bin
	for _, p := range []*string{&o.ConfigFile, &o.MasterSocket, &o.PIDFile} {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, fmt.Errorf("start haproxy: %w", err)
		}
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = defaultRestartBackoff
	}
	p := &Process{
		o:    o,
		args: []string{"-W", "-db", "-S", o.MasterSocket + ",mode,600", "-p", o.PIDFile, "-f", o.ConfigFile},
		dir:  filepath.Dir(o.ConfigFile),
		log:  o.Log.WithValues("config", o.ConfigFile),
		done: make(chan struct{}),
	}
	p.cli = &MasterCLI{Path: o.MasterSocket, Alive: p.running, Alerts: p.alerts.since, ReloadTimeout: o.ReloadTimeout}

	old := p.leftRunning()
	var extra []string
	if old != 0 {
		p.log.Info("an HAProxy master an earlier run left is serving; taking over its listening sockets", "oldPID", old)
		extra = []string{"-x", o.StatsSocket}
	}
	r, err := p.launch(extra...)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, r); err != nil {
		p.stop(r, false)
		return nil, fmt.Errorf("start haproxy: %w\n%s", err, r.output())
	}
	close(r.ready)
	p.log.Info("HAProxy is running", "pid", r.pid)
	if old != 0 {
		// Soft stop: its workers finish their connections, then it exits.
		if err := syscall.Kill(old, syscall.SIGUSR1); err != nil {
			p.log.Info("could not stop the earlier HAProxy master", "oldPID", old, "error", err.Error())
		}
	}
	go p.supervise(ctx, r)
	return p, nil
}

// MasterPID returns the running master's PID, or 0 while none runs (between
// an exit and the restart, and after the stop).
func (p *Process) MasterPID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.pid
}

// Serving reports whether a master runs and has listed a worker since it
// started (a restarted master is not serving until its worker runs).
func (p *Process) Serving() bool {
	p.mu.Lock()
	r := p.cur
	p.mu.Unlock()
	if r == nil {
		return false
	}
	select {
	case <-r.ready:
		return true
	default:
		return false
	}
}

// Restarts returns how many times the master was started again after it
// exited on its own.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// CLI returns a client of the master socket whose Reload also fails at once
// when the master exits during the reload.
func (p *Process) CLI() *MasterCLI { return p.cli }

// Wait returns once Start's ctx is done and HAProxy has stopped.
func (p *Process) Wait() { <-p.done }

// running reports whether a master process runs.
func (p *Process) running() bool { return p.MasterPID() != 0 }

// launch starts a master. Its output goes through pipes of our own (not
// exec's) so that cmd.Wait returns when the master exits, even while
// workers that inherited the pipes are still finishing.
func (p *Process) launch(extra ...string) (*masterRun, error) {
	r := &masterRun{out: &outputTail{}, ready: make(chan struct{}), exited: make(chan struct{})}
	cmd := exec.Command(p.o.Binary, append(append([]string(nil), p.args...), extra...)...)
	cmd.Dir = p.dir
	// Own process group: a terminal's Ctrl-C reaches us, not HAProxy, and we
	// stop it in order. No parent-death signal: if hagate is killed, HAProxy
	// keeps serving what it runs, and the next hagate takes it over (see
	// StatsSocket). A stopping hagate stops it (Start's ctx).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var closeAfterStart []*os.File
	for _, s := range []struct {
		set func(*os.File)
		dst io.Writer
	}{
		{func(f *os.File) { cmd.Stdout = f }, lockedWriter{&p.outMu, p.o.Stdout}},
		{func(f *os.File) { cmd.Stderr = f }, io.MultiWriter(ignoreErrors{lockedWriter{&p.outMu, p.o.Stderr}}, &alertScanner{log: &p.alerts})},
	} {
		pr, pw, err := os.Pipe()
		if err != nil {
			for _, f := range closeAfterStart {
				f.Close()
			}
			return nil, fmt.Errorf("start haproxy: %w", err)
		}
		s.set(pw)
		closeAfterStart = append(closeAfterStart, pw)
		r.copied.Add(1)
		go func(dst io.Writer) {
			defer r.copied.Done()
			defer pr.Close()
			_, _ = io.Copy(io.MultiWriter(r.out, ignoreErrors{dst}), pr)
		}(s.dst)
	}
	// One goroutine starts the child and waits for it.
	started := make(chan error, 1)
	go func() {
		err := cmd.Start()
		for _, f := range closeAfterStart {
			f.Close() // the child holds its copies; the copiers see EOF when it and its workers are gone
		}
		if err != nil {
			started <- err
			return
		}
		r.cmd, r.pid, r.started = cmd, cmd.Process.Pid, time.Now()
		p.mu.Lock()
		p.cur = r
		p.mu.Unlock()
		started <- nil
		r.waitErr = cmd.Wait()
		r.state = cmd.ProcessState
		p.mu.Lock()
		if p.cur == r {
			p.cur = nil
		}
		p.mu.Unlock()
		close(r.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start haproxy: %s: %w", p.o.Binary, err)
	}
	p.log.V(1).Info("started HAProxy master", "pid", r.pid, "args", p.args)
	return r, nil
}

// leftRunning returns the PID of a master an earlier supervisor of the
// same files left running, 0 when there is none: the PID file names a
// live process whose command line is HAProxy's with this PID file and
// master socket, and the stats socket to take its listeners from exists.
func (p *Process) leftRunning() int {
	if p.o.StatsSocket == "" {
		return 0
	}
	data, err := os.ReadFile(p.o.PIDFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if !slices.Contains(args, p.o.PIDFile) || !slices.Contains(args, p.o.MasterSocket+",mode,600") {
		return 0
	}
	if fi, err := os.Stat(p.o.StatsSocket); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return 0
	}
	return pid
}

// waitReady polls `show proc` until the master r lists a current worker
// (at most 30s). Only then has the master set up its signal handlers:
// before, SIGUSR1 kills it or is lost.
func (p *Process) waitReady(ctx context.Context, r *masterRun) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cli := &MasterCLI{Path: p.o.MasterSocket, Timeout: time.Second}
	ticker := time.NewTicker(defaultReloadPoll)
	defer ticker.Stop()
	var lastErr error
	for {
		select {
		case <-r.exited:
			return fmt.Errorf("HAProxy master exited during startup: %s", exitReason(r.state, r.waitErr))
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("HAProxy master not ready: %w (last error: %v)", ctx.Err(), lastErr)
			}
			return fmt.Errorf("HAProxy master not ready: %w", ctx.Err())
		case <-ticker.C:
		}
		procs, err := cli.ShowProc(ctx)
		if err != nil {
			lastErr = err
			continue
		}
		// The socket path might still belong to another master.
		if procs[0].PID != r.pid {
			lastErr = fmt.Errorf("master socket %s answers for pid %d, not %d", p.o.MasterSocket, procs[0].PID, r.pid)
			continue
		}
		for _, pr := range procs {
			if pr.Type == "worker" && !pr.Old {
				return nil
			}
		}
		lastErr = errors.New("no worker yet")
	}
}

// supervise restarts the master whenever it exits, until ctx is done.
func (p *Process) supervise(ctx context.Context, r *masterRun) {
	defer close(p.done)
	backoff := p.o.RestartBackoff
	for {
		if r != nil {
			select {
			case <-ctx.Done():
				p.log.Info("stopping HAProxy", "pid", r.pid)
				p.stop(r, true)
				p.log.Info("HAProxy stopped", "pid", r.pid, "status", exitReason(r.state, r.waitErr))
				return
			case <-r.exited:
			}
			r.drain(time.Second)
			if time.Since(r.started) >= maxRestartBackoff {
				backoff = p.o.RestartBackoff
			}
			p.log.Error(fmt.Errorf("HAProxy master (pid %d) exited: %s", r.pid, exitReason(r.state, r.waitErr)),
				"HAProxy exited unexpectedly; restarting it",
				"pid", r.pid, "status", exitReason(r.state, r.waitErr), "uptime", time.Since(r.started).Round(time.Millisecond).String(),
				"restartIn", backoff.String(), "lastOutput", r.lastLines(5))
		}
		select {
		case <-ctx.Done():
			p.log.Info("not restarting HAProxy: stopping")
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxRestartBackoff)
		next, err := p.launch()
		if err != nil {
			p.log.Error(err, "could not restart HAProxy", "retryIn", backoff.String())
			r = nil
			continue
		}
		p.mu.Lock()
		p.restarts++
		n := p.restarts
		p.mu.Unlock()
		p.log.Info("HAProxy restarted", "pid", next.pid, "restarts", n)
		go func(r *masterRun) {
			// Not tied to ctx: stop waits for readiness to choose a soft stop.
			if err := p.waitReady(context.Background(), r); err != nil {
				p.log.Info("restarted HAProxy master not ready", "pid", r.pid, "reason", err.Error())
				return
			}
			close(r.ready)
			p.log.Info("HAProxy is running", "pid", r.pid)
		}(next)
		r = next
	}
}

// stop stops the master r and waits for it: SIGUSR1 (soft stop) first if
// soft, SIGTERM after softStopGrace, SIGKILL after hardStopGrace more. It
// returns once the master has exited and its output has been copied (or
// one second later, if workers still hold the pipes).
//
// A master still starting gets no SIGUSR1: until its signal handlers are
// set, SIGUSR1 either kills it or stops only its own listeners (the master
// CLI) and leaves it waiting for a worker that was never told. stop waits
// up to hardStopGrace for it to be ready, else stops it with SIGTERM.
func (p *Process) stop(r *masterRun, soft bool) {
	if soft {
		select {
		case <-r.ready:
		case <-r.exited:
		case <-time.After(hardStopGrace):
			p.log.Info("HAProxy master not ready; stopping it with SIGTERM", "pid", r.pid)
			soft = false
		}
	}
	type step struct {
		sig  syscall.Signal
		wait time.Duration
	}
	steps := []step{{syscall.SIGTERM, hardStopGrace}, {syscall.SIGKILL, 0}}
	if soft {
		steps = append([]step{{syscall.SIGUSR1, softStopGrace}}, steps...)
	}
	for _, s := range steps {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Signal(s.sig)
			if s.wait == 0 {
				<-r.exited
				break
			}
			deadline := time.After(s.wait)
			// A 2.6 master that is reloading re-executes itself and drops
			// a SIGUSR1 that arrives meanwhile: the soft stop is sent again
			// every second (once is enough for a master that took it).
			again := time.NewTicker(time.Second)
		wait:
			for {
				select {
				case <-r.exited:
					break wait
				case <-again.C:
					if s.sig == syscall.SIGUSR1 {
						_ = r.cmd.Process.Signal(s.sig)
					}
				case <-deadline:
					p.log.Info("HAProxy did not stop in time", "pid", r.pid, "signal", s.sig.String(), "waited", s.wait.String())
					break wait
				}
			}
			again.Stop()
		}
	}
	r.drain(time.Second)
}

// drain waits until the run's output has been copied, at most d: workers
// that inherited the pipes may outlive the master a little.
func (r *masterRun) drain(d time.Duration) {
	copied := make(chan struct{})
	go func() { r.copied.Wait(); close(copied) }()
	select {
	case <-copied:
	case <-time.After(d):
	}
}

// output returns the tail of the run's HAProxy output.
func (r *masterRun) output() string { return r.out.String() }

// lastLines returns the last n lines of the run's HAProxy output.
func (r *masterRun) lastLines(n int) string {
	lines := strings.Split(r.output(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// exitReason describes how a process ended.
func exitReason(st *os.ProcessState, err error) string {
	if st == nil {
		if err != nil {
			return err.Error()
		}
		return "unknown"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("exit status %d", st.ExitCode())
}

// haproxyBinary resolves the HAProxy executable.
func haproxyBinary(bin string) (string, error) {
	if bin != "" {
		p, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("haproxy binary: %w", err)
		}
		return filepath.Abs(p)
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return filepath.Abs(p)
	}
	const fallback = "/usr/sbin/haproxy"
	if _, err := os.Stat(fallback); err != nil {
		return "", fmt.Errorf("haproxy binary: not on PATH and %w", err)
	}
	return fallback, nil
}

// outputTail keeps the last outputTailSize bytes written to it.
type outputTail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *outputTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - outputTailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

// String returns the kept output from its first whole line.
func (t *outputTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.buf
	if len(s) == outputTailSize {
		if i := bytes.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimRight(string(s), "\n")
}

// alertLog keeps the last [ALERT] lines of HAProxy's output, with the time
// each was read.
type alertLog struct {
	mu    sync.Mutex
	lines []alertLine
}

type alertLine struct {
	at   time.Time
	text string
}

// since returns the alerts read since t, without their "[ALERT] (pid) : "
// prefix.
func (a *alertLog) since(t time.Time) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, l := range a.lines {
		if !l.at.Before(t) {
			out = append(out, l.text)
		}
	}
	return out
}

func (a *alertLog) add(line string) {
	if !strings.HasPrefix(line, "[ALERT]") {
		return
	}
	if _, msg, ok := strings.Cut(line, ") : "); ok {
		line = msg
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = append(a.lines, alertLine{time.Now(), line})
	if len(a.lines) > alertsKept {
		a.lines = append(a.lines[:0], a.lines[len(a.lines)-alertsKept:]...)
	}
}

// alertScanner splits one output stream into lines for an alertLog.
type alertScanner struct {
	log     *alertLog
	partial []byte
}

func (s *alertScanner) Write(b []byte) (int, error) {
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.log.add(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 4096 { // no newline in sight: not a line worth keeping
		s.partial = s.partial[:0]
	}
	return len(b), nil
}

// lockedWriter writes under a mutex shared by the writers of one Process.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

// ignoreErrors keeps copying HAProxy's output to the other writers when
// one fails: a broken log destination must not block HAProxy.
type ignoreErrors struct{ w io.Writer }

func (w ignoreErrors) Write(b []byte) (int, error) {
	_, _ = w.w.Write(b)
	return len(b), nil
}
