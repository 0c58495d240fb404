package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults of MasterCLI.
const (
	defaultCommandTimeout = 5 * time.Second
	defaultReloadTimeout  = 30 * time.Second
	defaultReloadPoll     = 20 * time.Millisecond
)

// MasterCLI talks to an HAProxy master socket (the -S socket) in
// non-interactive mode: one connection per command.
//
// It implements Reloader.
type MasterCLI struct {
	// Path is the master socket's path.
	Path string
	// Timeout bounds each command, from dial to the end of the answer.
	// Zero means 5s.
	Timeout time.Duration
	// ReloadTimeout bounds how long Reload waits for a new worker. Zero
	// means 30s.
	ReloadTimeout time.Duration
	// PollInterval is how often Reload reads `show proc` while it waits.
	// Zero means 20ms.
	PollInterval time.Duration
	// Alive, if set, reports whether the master process still exists;
	// Reload fails at once when it turns false. Nil: a vanished master is
	// noticed at ReloadTimeout. (The socket alone cannot tell: a reloading
	// master refuses connections for as long as it parses its
	// configuration.) Process.CLI sets it.
	Alive func() bool
	// Alerts, if set, returns the [ALERT] lines HAProxy has written since
	// a time; Reload quotes them when a reload fails. Process.CLI sets it.
	Alerts func(since time.Time) []string
}

// Command sends one command and returns the master's whole answer. It
// half-closes the connection after the command: the 2.6 master answers
// and closes only once it has read the end of its input.
func (m *MasterCLI) Command(ctx context.Context, cmd string) (string, error) {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = defaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", m.Path)
	if err != nil {
		return "", fmt.Errorf("master CLI %s: %w", m.Path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Unblock the read below if ctx is cancelled before the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fmt.Errorf("master CLI %s: send %q: %w", m.Path, cmd, err)
	}
	if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
		return "", fmt.Errorf("master CLI %s: send %q: %w", m.Path, cmd, err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		return string(out), fmt.Errorf("master CLI %s: read answer to %q: %w", m.Path, cmd, err)
	}
	return string(out), nil
}

// Proc is one line of the master's `show proc`.
type Proc struct {
	// PID is the process ID (in HAProxy's PID namespace).
	PID int
	// Type is "master", "worker", or a program's name.
	Type string
	// Reloads counts the master's reloads (for the master) or the reloads
	// the process has lived through (for a worker).
	Reloads int
	// FailedReloads is the master's "[failed: N]" count: reloads whose new
	// configuration could not be loaded since the last successful one
	// (a successful reload resets it to 0). Zero for the other processes.
	FailedReloads int
	// Uptime is as HAProxy prints it, e.g. "0d00h02m07s".
	Uptime string
	// Version is the HAProxy version the process runs ("-" for programs).
	Version string
	// Old is true for processes listed under "# old workers" (or "# old
	// programs"): they are finishing their connections after a reload.
	Old bool
}

// ShowProc runs `show proc` and parses its answer.
func (m *MasterCLI) ShowProc(ctx context.Context) ([]Proc, error) {
	out, err := m.Command(ctx, "show proc")
	if err != nil {
		return nil, err
	}
	procs, err := parseShowProc(out)
	if err != nil {
		return nil, fmt.Errorf("master CLI %s: show proc: %w", m.Path, err)
	}
	return procs, nil
}

// parseShowProc parses the 2.6 `show proc` table:
//
//	#<PID>          <type>          <reloads>       <uptime>        <version>
//	30610           master          1 [failed: 0]   0d00h10m17s     2.6.12-1+deb12u4
//	# workers
//	32190           worker          0               0d00h00m01s     2.6.12-1+deb12u4
//	# old workers
//	30613           worker          1               0d00h00m02s     2.6.12-1+deb12u4
//	# programs
//
// The master's line comes first; the "# ..." lines open sections.
func parseShowProc(out string) ([]Proc, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "#<PID>") {
		return nil, fmt.Errorf("unexpected answer %q", mcliShorten(out))
	}
	var procs []Proc
	old := false
	for i, line := range lines[1:] {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			old = strings.Contains(line, "old")
			continue
		}
		p, err := parseProcLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+2, err)
		}
		p.Old = old
		procs = append(procs, p)
	}
	if len(procs) == 0 || procs[0].Type != "master" {
		return nil, fmt.Errorf("no master line in %q", mcliShorten(out))
	}
	return procs, nil
}

// parseProcLine parses "<pid> <type> <reloads> [failed: N] <uptime> <version>".
func parseProcLine(line string) (Proc, error) {
	f := strings.Fields(line)
	if len(f) < 4 {
		return Proc{}, fmt.Errorf("too few fields in %q", line)
	}
	var p Proc
	var err error
	if p.PID, err = strconv.Atoi(f[0]); err != nil {
		return Proc{}, fmt.Errorf("bad PID in %q", line)
	}
	p.Type = f[1]
	if p.Reloads, err = strconv.Atoi(f[2]); err != nil {
		return Proc{}, fmt.Errorf("bad reload count in %q", line)
	}
	rest := f[3:]
	if rest[0] == "[failed:" {
		if len(rest) < 2 {
			return Proc{}, fmt.Errorf("bad failed count in %q", line)
		}
		if p.FailedReloads, err = strconv.Atoi(strings.TrimSuffix(rest[1], "]")); err != nil {
			return Proc{}, fmt.Errorf("bad failed count in %q", line)
		}
		rest = rest[2:]
	}
	if len(rest) > 0 {
		p.Uptime = rest[0]
	}
	if len(rest) > 1 {
		p.Version = strings.Join(rest[1:], " ")
	}
	return p, nil
}

// ReloadResult describes a successful reload.
type ReloadResult struct {
	// OldWorkers are the PIDs of the workers that were current before the
	// reload (they are now finishing their connections).
	OldWorkers []int
	// NewWorkers are the PIDs of the current workers the reload started.
	NewWorkers []int
	// MasterReloads is the master's reload counter after the reload.
	MasterReloads int
}

// ErrReloadNotSent is a reload that failed before the master was asked to
// reload (it does not answer): HAProxy did not try the new files.
var ErrReloadNotSent = errors.New("reload not sent: the HAProxy master does not answer")

// Reload reloads HAProxy (the `reload` command, like SIGUSR2 to the master)
// and confirms the outcome from `show proc`, since the 2.6 master answers
// `reload` with nothing: it succeeds once a current worker runs that was not
// a current worker before. It fails when the master counts a failed reload,
// when the master reloaded but no new worker appeared within ReloadTimeout,
// when the master vanished or was replaced, or when nothing happened within
// ReloadTimeout. After a failed reload the old worker keeps serving the old
// configuration.
//
// Reload does not validate the configuration; run `haproxy -c` first.
func (m *MasterCLI) Reload(ctx context.Context) (ReloadResult, error) {
	before, err := m.ShowProc(ctx)
	if err != nil {
		return ReloadResult{}, fmt.Errorf("%w: %w", ErrReloadNotSent, err)
	}
	master0 := before[0]
	var res ReloadResult
	wasCurrent := map[int]bool{}
	for _, p := range before {
		if p.Type == "worker" && !p.Old {
			wasCurrent[p.PID] = true
			res.OldWorkers = append(res.OldWorkers, p.PID)
		}
	}
	sort.Ints(res.OldWorkers)

	sent := time.Now()
	timeout := m.ReloadTimeout
	if timeout <= 0 {
		timeout = defaultReloadTimeout
	}
	// HAProxy 2.6's master re-executes itself while answering, which may
	// reset the connection once the command is sent; 2.7 and later answer
	// once the reload is done ("Success=1" and the new process's output),
	// which may take as long as a reload: the command gets that long, and
	// only a failed send is an error (what happened is read below, from
	// show proc, for every version).
	long := *m
	long.Timeout = timeout
	answer, err := long.Command(ctx, "reload")
	if err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, os.ErrDeadlineExceeded) {
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	answer = strings.TrimSpace(answer)
	note := ""
	if answer != "" {
		note = fmt.Sprintf(" (the master answered %q)", mcliShorten(answer))
	}

	poll := m.PollInterval
	if poll <= 0 {
		poll = defaultReloadPoll
	}
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	var last []Proc
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			return ReloadResult{}, fmt.Errorf("reload: waiting for the new worker: %w", ctx.Err())
		case <-ticker.C:
		}
		if m.Alive != nil && !m.Alive() {
			return ReloadResult{}, fmt.Errorf("reload failed: the HAProxy master (pid %d) exited during the reload%s%s", master0.PID, note, m.alertsSince(sent))
		}
		procs, err := m.ShowProc(ctx)
		if err != nil {
			// Expected while the master re-executes and parses the new
			// configuration: it refuses or drops connections meanwhile.
			lastErr = err
		} else {
			last, lastErr = procs, nil
			master := procs[0]
			if master.PID != master0.PID {
				return ReloadResult{}, fmt.Errorf("reload failed: the HAProxy master was replaced during the reload (pid %d, now %d)%s", master0.PID, master.PID, note)
			}
			for _, p := range procs {
				if p.Type == "worker" && !p.Old && !wasCurrent[p.PID] {
					res.NewWorkers = append(res.NewWorkers, p.PID)
				}
			}
			if len(res.NewWorkers) > 0 {
				sort.Ints(res.NewWorkers)
				res.MasterReloads = master.Reloads
				return res, nil
			}
			if master.FailedReloads > master0.FailedReloads {
				return ReloadResult{}, fmt.Errorf("reload failed: HAProxy could not load the new configuration (failed reloads %d, was %d); the old workers %v keep serving the previous one%s%s",
					master.FailedReloads, master0.FailedReloads, res.OldWorkers, note, m.alertsSince(sent))
			}
		}
		if time.Now().After(deadline) {
			break
		}
	}
	switch {
	case last == nil && lastErr != nil:
		return ReloadResult{}, fmt.Errorf("reload failed: no answer from the master within %v: %w%s", timeout, lastErr, note)
	case last != nil && last[0].Reloads > master0.Reloads:
		return ReloadResult{}, fmt.Errorf("reload failed: the master reloaded (reloads %d, was %d) but no new worker appeared within %v; the old workers %v keep serving%s%s",
			last[0].Reloads, master0.Reloads, timeout, res.OldWorkers, note, m.alertsSince(sent))
	case lastErr != nil:
		return ReloadResult{}, fmt.Errorf("reload failed: no new worker within %v; last answer: %w%s", timeout, lastErr, note)
	default:
		return ReloadResult{}, fmt.Errorf("reload failed: the master did not reload within %v (reloads still %d)%s", timeout, master0.Reloads, note)
	}
}

// alertsSince returns ": " and HAProxy's alerts since t, or "" if there are
// none or no Alerts. The alerts are written before the master answers
// again, but are read from its output concurrently: wait a little for them.
func (m *MasterCLI) alertsSince(t time.Time) string {
	if m.Alerts == nil {
		return ""
	}
	var alerts []string
	for deadline := time.Now().Add(200 * time.Millisecond); ; time.Sleep(10 * time.Millisecond) {
		if alerts = m.Alerts(t); len(alerts) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(alerts) == 0 {
		return ""
	}
	return ": " + strings.Join(alerts, "; ")
}

// mcliShorten cuts s for an error message.
func mcliShorten(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
