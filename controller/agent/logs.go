package agent

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultDroppedLogsInterval is how often WatchDroppedLogs reads HAProxy's
// dropped-log counter.
const DefaultDroppedLogsInterval = 10 * time.Second

// WatchDroppedLogs reads HAProxy's DroppedLogs counter ("show info" on the
// stats socket) every interval until ctx is done. What it grew by is added
// to the metric hagate_haproxy_dropped_logs_total and logged, so that
// access log lines HAProxy could not write (a full pipe to standard
// output, a syslog socket that refused them) are never lost silently. The
// counter is per worker process: a new worker (a reload) starts from zero.
// Nothing is read while access logs are off.
func (a *Agent) WatchDroppedLogs(ctx context.Context, interval time.Duration) {
	if !a.o.AccessLog.On() {
		return
	}
	socket := filepath.Join(a.o.ConfigDir, "haproxy.sock")
	var w droppedLogs
	every(ctx, interval, func() {
		pid, dropped, err := readDroppedLogs(ctx, socket)
		if err != nil {
			return // HAProxy not running yet, or reloading: next time
		}
		if n := w.grew(pid, dropped); n > 0 {
			if a.o.Metrics != nil {
				a.o.Metrics.DroppedLogs(n)
			}
			a.o.Log.Info("HAProxy dropped access log lines: their destination could not take them as fast as requests came",
				"dropped", n, "since", interval.String(), "accessLog", a.o.AccessLog.String(), "total", w.total,
				"hint", "read HAProxy's output faster, send the access log to a syslog socket (--access-log), or turn it off")
		}
	})
}

// droppedLogs turns readings of a worker's DroppedLogs into increments.
type droppedLogs struct {
	pid   int
	last  uint64
	total uint64
}

// grew returns how much the counter grew since the last reading: all of
// it for a worker not seen before (or one that restarted its count).
func (d *droppedLogs) grew(pid int, dropped uint64) uint64 {
	n := dropped
	if pid == d.pid && dropped >= d.last {
		n = dropped - d.last
	}
	d.pid, d.last = pid, dropped
	d.total += n
	return n
}

// readDroppedLogs asks the stats socket for "show info" and returns the
// worker's PID and DroppedLogs.
func readDroppedLogs(ctx context.Context, socket string) (int, uint64, error) {
	out, err := statsCommand(ctx, socket, "show info")
	if err != nil {
		return 0, 0, err
	}
	return parseDroppedLogs(bufio.NewScanner(strings.NewReader(out)))
}

// parseDroppedLogs reads the Pid and DroppedLogs lines of "show info".
func parseDroppedLogs(sc *bufio.Scanner) (int, uint64, error) {
	pid, dropped, found := 0, uint64(0), 0
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Pid":
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, 0, fmt.Errorf("show info: Pid %q", v)
			}
			pid = n
			found++
		case "DroppedLogs":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("show info: DroppedLogs %q", v)
			}
			dropped = n
			found++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("show info: no Pid or DroppedLogs")
	}
	return pid, dropped, nil
}
