package agent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/renameio/v2"

	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/snapshot"
)

// TicketKeysFileName is the TLS session-ticket keys file in the state
// folder, hagate run's default.
const TicketKeysFileName = "tls-ticket-keys"

// DefaultTicketKeysInterval is how often WatchTicketKeys reads the keys
// file (a change another replica made, a rotation due).
const DefaultTicketKeysInterval = 10 * time.Second

// DefaultTicketRotation is how old the keys file gets before hagate
// rotates its keys.
const DefaultTicketRotation = 12 * time.Hour

// maxTicketKeysFile bounds the keys file read (a few hundred bytes hold
// the keys HAProxy uses).
const maxTicketKeysFile = 64 << 10

// tickets is the agent's side of the TLS session-ticket keys: the keys
// file (Options.TicketKeys) read, created and rotated, and the keys given
// to each render (Snapshot.TLSTicketKeys).
type tickets struct {
	// mu guards what follows: renders (under Agent.mu) and the watcher
	// read the file.
	mu sync.Mutex
	// keys are the last good keys of the file; nil before any (tickets
	// stay off).
	keys []string
	// rendered are the keys the last render used (nil after a failed
	// apply of new keys: the watcher tries again).
	rendered []string
	// readProblem and rotateProblem are the last problems logged
	// (each is logged once, until it is gone).
	readProblem, rotateProblem string
	// last is the Snapshot last rendered (guarded by Agent.mu, which
	// renders hold): applied again with new keys when only the keys
	// change.
	last *snapshot.Snapshot
}

// ticketKeysFill gives a Snapshot the session-ticket keys: those of the
// keys file, which is created with new keys when it does not exist. A
// file that cannot be used keeps the last good keys (none: tickets off),
// and the problem is logged once. Nothing when the agent has no keys file.
// Called by renders, with Agent.mu held.
func (a *Agent) ticketKeysFill(snap *snapshot.Snapshot) {
	if a.o.TicketKeys == "" {
		return
	}
	t := &a.tickets
	t.last = snap
	t.mu.Lock()
	defer t.mu.Unlock()
	a.readTicketKeysLocked()
	snap.TLSTicketKeys = slices.Clone(t.keys)
	t.rendered = snap.TLSTicketKeys
}

// readTicketKeysLocked reads the keys file into tickets.keys, creating it
// when it does not exist; it returns the file's modification time (zero
// when unknown). Called with tickets.mu held.
func (a *Agent) readTicketKeysLocked() time.Time {
	t := &a.tickets
	path := a.o.TicketKeys
	keys, mod, err := readTicketKeys(path)
	if errors.Is(err, fs.ErrNotExist) {
		keys, err = createTicketKeys(path)
		if err == nil {
			a.o.Log.Info("TLS session-ticket keys created", "file", path, "keys", len(keys))
			mod = time.Now()
		}
	}
	if err != nil {
		what := "the last good keys stay in use"
		if t.keys == nil {
			what = "session tickets stay off (no-tls-tickets) until it is"
		}
		t.report(a, &t.readProblem, fmt.Sprintf("TLS session-ticket keys file %s cannot be used (%v): %s", path, err, what))
		return time.Time{}
	}
	if t.readProblem != "" {
		a.o.Log.Info("TLS session-ticket keys file usable again", "file", path)
	}
	t.readProblem = ""
	t.keys = keys
	return mod
}

// report logs a problem once: unless *last is it already.
func (t *tickets) report(a *Agent, last *string, problem string) {
	if problem != *last {
		a.o.Log.Info(problem)
	}
	*last = problem
}

// WatchTicketKeys keeps HAProxy's session-ticket keys equal to the keys
// file until ctx is done: every interval it reads the file, rotates the
// keys when the file is older than Options.TicketRotation (a new key at
// the end, the oldest dropped, written back), and when the keys differ
// from those HAProxy was given (a rotation, here or by another replica
// sharing the file), applies the last Snapshot again with them: a
// rotation is a Runtime API change (set ssl tls-key), anything else a
// reload. Nothing when the agent has no keys file.
func (a *Agent) WatchTicketKeys(ctx context.Context, interval time.Duration) {
	if a.o.TicketKeys == "" {
		return
	}
	if interval <= 0 {
		interval = DefaultTicketKeysInterval
	}
	every(ctx, interval, func() {
		if a.checkTicketKeys(time.Now()) {
			a.applyTicketKeys(ctx)
		}
	})
}

// checkTicketKeys reads the keys file, rotates it when due at now, and
// reports whether the keys differ from those of the last render.
func (a *Agent) checkTicketKeys(now time.Time) bool {
	t := &a.tickets
	t.mu.Lock()
	defer t.mu.Unlock()
	mod := a.readTicketKeysLocked()
	if rot := a.o.TicketRotation; rot > 0 && t.keys != nil && !mod.IsZero() && now.Sub(mod) >= rot {
		keys, err := rotateTicketKeys(a.o.TicketKeys, t.keys)
		if err != nil {
			t.report(a, &t.rotateProblem, fmt.Sprintf("TLS session-ticket keys file %s cannot be rotated (%v): its keys stay in use; rotate them where the file is managed, or set --tls-ticket-rotation 0", a.o.TicketKeys, err))
		} else {
			t.keys, t.rotateProblem = keys, ""
			a.o.Log.Info("TLS session-ticket keys rotated", "file", a.o.TicketKeys, "age", now.Sub(mod).Round(time.Second).String())
		}
	}
	return t.keys != nil && !slices.Equal(t.keys, t.rendered)
}

// applyTicketKeys applies the last Snapshot again, with the keys of the
// file; before the first update, that one takes them.
func (a *Agent) applyTicketKeys(ctx context.Context) {
	a.mu.Lock()
	last := a.tickets.last
	a.mu.Unlock()
	if last == nil {
		return
	}
	snap := *last // the source may still read its Snapshot
	start := time.Now()
	_, res, err := a.Update(ctx, &snap)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		// Not applied: the next check tries again, even when the file
		// does not change.
		a.tickets.mu.Lock()
		a.tickets.rendered = nil
		a.tickets.mu.Unlock()
		a.o.Log.Error(err, "applying the new TLS session-ticket keys failed; HAProxy keeps the last good configuration, tried again at the next check", "action", res.Action)
		return
	}
	if res.Action != haproxy.ActionNone {
		a.o.Log.Info("applied", "action", res.Action, "why", strings.Join(res.Reasons, "; "), "duration", time.Since(start).String())
	}
}

// readTicketKeys reads a keys file: its keys and modification time. It
// never blocks on a FIFO or device (opened non-blocking, refused unless a
// regular file).
func readTicketKeys(path string) ([]string, time.Time, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, time.Time{}, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTicketKeysFile+1))
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(data) > maxTicketKeysFile {
		return nil, time.Time{}, fmt.Errorf("larger than %d bytes", maxTicketKeysFile)
	}
	keys, err := render.ParseTicketKeys(data)
	if err != nil {
		return nil, time.Time{}, err
	}
	return keys, fi.ModTime(), nil
}

// createTicketKeys writes a new keys file (0600) with ir.TicketKeysInUse
// new keys, unless one appears meanwhile (another replica sharing the
// file made it first): then that one's keys are returned.
func createTicketKeys(path string) ([]string, error) {
	keys := make([]string, ir.TicketKeysInUse)
	for i := range keys {
		k, err := newTicketKey()
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(ticketKeysContent(keys)); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	// A link, not a rename: it fails when the file exists.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			theirs, _, rerr := readTicketKeys(path)
			return theirs, rerr
		}
		return nil, err
	}
	return keys, nil
}

// rotateTicketKeys writes keys rotated once to the file (atomically,
// 0600): the oldest dropped, a new one at the end.
func rotateTicketKeys(path string, keys []string) ([]string, error) {
	k, err := newTicketKey()
	if err != nil {
		return nil, err
	}
	next := append(slices.Clone(keys[1:]), k)
	if err := renameio.WriteFile(path, ticketKeysContent(next), 0o600); err != nil {
		return nil, err
	}
	return next, nil
}

// newTicketKey is a new random AES-256 ticket key, base64.
func newTicketKey() (string, error) {
	raw := make([]byte, render.GeneratedTicketKeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// ticketKeysContent is a keys file: one base64 key a line, oldest first.
func ticketKeysContent(keys []string) []byte {
	return []byte(strings.Join(keys, "\n") + "\n")
}

// ReadTicketKeys reads a TLS session-ticket keys file (hagate render
// --tls-ticket-keys): its keys, checked, in canonical base64.
func ReadTicketKeys(path string) ([]string, error) {
	keys, _, err := readTicketKeys(path)
	return keys, err
}
