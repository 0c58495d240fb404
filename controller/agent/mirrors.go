package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultMirrorsInterval is how often WatchMirrors reads HAProxy's request
// mirroring counters.
const DefaultMirrorsInterval = 10 * time.Second

// mirrorResults are the counters of "show hagate-mirror" exported as
// results of hagate_mirror_copies_total.
var mirrorResults = []string{"answered", "failed", "dropped", "too_large"}

// WatchMirrors reads the request mirroring counters of HAProxy's worker
// ("show hagate-mirror" on the stats socket, which hagate-mirror.lua
// answers) every interval until ctx is done. What they grew by is added to
// hagate_mirror_copies_total{backend,result}, and copies dropped because a
// mirror had its cap of copies in flight are logged. The counters are
// the worker's: a new worker (a reload) starts from zero. Nothing is
// counted while no rule mirrors (HAProxy does not know the command).
func (a *Agent) WatchMirrors(ctx context.Context, interval time.Duration) {
	socket := filepath.Join(a.o.ConfigDir, "haproxy.sock")
	var w mirrorCounters
	every(ctx, interval, func() {
		r, err := readMirrors(ctx, socket)
		if err != nil {
			return // HAProxy not running yet, reloading, or no mirroring
		}
		for k, n := range w.grew(r) {
			if a.o.Metrics != nil {
				a.o.Metrics.MirrorCopies(k.backend, k.result, n)
			}
			if k.result == "dropped" {
				a.o.Log.Info("HAProxy dropped copies of mirrored requests: the mirror had its cap of copies in flight",
					"backend", k.backend, "dropped", n, "since", interval.String(),
					"hint", "the mirror answers too slowly or not at all for the rate of copies (each copy waits up to the mirror timeout)")
			}
		}
	})
}

// mirrorKey is a counter of one mirror backend.
type mirrorKey struct{ backend, result string }

// mirrorReading is one "show hagate-mirror".
type mirrorReading struct {
	pid    int
	counts map[mirrorKey]uint64
}

// mirrorCounters turns readings into increments.
type mirrorCounters struct {
	pid  int
	last map[mirrorKey]uint64
}

// grew returns how much each counter grew since the last reading: all of
// it for a worker not seen before (or a counter that restarted).
func (m *mirrorCounters) grew(r mirrorReading) map[mirrorKey]uint64 {
	out := map[mirrorKey]uint64{}
	for k, v := range r.counts {
		n := v
		if r.pid == m.pid && v >= m.last[k] {
			n = v - m.last[k]
		}
		if n > 0 {
			out[k] = n
		}
	}
	m.pid, m.last = r.pid, r.counts
	return out
}

// readMirrors asks the stats socket for "show hagate-mirror".
func readMirrors(ctx context.Context, socket string) (mirrorReading, error) {
	out, err := statsCommand(ctx, socket, "show hagate-mirror")
	if err != nil {
		return mirrorReading{}, err
	}
	return parseMirrors(strings.NewReader(out))
}

// parseMirrors reads the Pid line and the "Mirror: <backend> k=v ..."
// lines of "show hagate-mirror".
func parseMirrors(rd io.Reader) (mirrorReading, error) {
	r := mirrorReading{counts: map[mirrorKey]uint64{}}
	found := false
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "Pid: "); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return r, fmt.Errorf("show hagate-mirror: Pid %q", v)
			}
			r.pid, found = pid, true
			continue
		}
		rest, ok := strings.CutPrefix(line, "Mirror: ")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			for _, res := range mirrorResults {
				if k == res {
					n, err := strconv.ParseUint(v, 10, 64)
					if err != nil {
						return r, fmt.Errorf("show hagate-mirror: %s", f)
					}
					r.counts[mirrorKey{fields[0], res}] = n
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return r, err
	}
	if !found {
		return r, fmt.Errorf("show hagate-mirror: no Pid (no request mirroring in this configuration)")
	}
	return r, nil
}
