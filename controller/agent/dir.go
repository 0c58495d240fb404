package agent

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"hagate.io/hagate/controller/files"
	"hagate.io/hagate/controller/pipeline"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/render/snapshot"
)

// Debounce bounds how changes of a source folder are batched: a render
// starts once the folder has been quiet for Quiet, and at most Max after
// the first change of a batch. A file being written in place is read once
// its writer has closed it, or after Writing when it stays open.
type Debounce struct {
	Quiet, Max, Writing time.Duration
	// Recheck is how often listeners left out because another process
	// holds their ports are tried again.
	Recheck time.Duration
}

// DefaultDebounce batches editor saves (write, rename, chmod) into one
// render without delaying a change by more than a second.
var DefaultDebounce = Debounce{Quiet: 100 * time.Millisecond, Max: time.Second, Writing: 5 * time.Second, Recheck: 5 * time.Second}

// StatusFile is where RunDir writes the status report, in the state
// folder.
const StatusFile = pipeline.StatusFile

// RunDir serves a folder of manifests: it renders it, starts HAProxy on it
// (or applies it to the attached one), then renders and applies again on
// every change until ctx is done. Bad documents are logged with file and
// document; the rest of the folder still applies, and a broken file keeps
// its last good version. A failed apply is retried, with a backoff, until
// HAProxy runs what the folder says. Every condition that turns bad is
// logged, and status.yaml in the state folder holds every status.
func (a *Agent) RunDir(ctx context.Context, dir string, db Debounce) error {
	if db.Writing <= 0 {
		db.Writing = DefaultDebounce.Writing
	}
	if db.Recheck <= 0 {
		db.Recheck = DefaultDebounce.Recheck
	}
	// Watch first: a change made while HAProxy starts is not missed.
	w, err := newWatcher(dir)
	if err != nil {
		return err
	}
	defer w.Close()

	d := &dirRun{a: a, src: &files.Dir{Root: dir}}
	d.apply(ctx)

	var quiet, max, retry, recheck <-chan time.Time
	pending := false
	inPlace := map[string]time.Time{} // files written in place, not closed yet: since when
	var writeCheck <-chan time.Time
	for {
		if d.failed && retry == nil && !pending {
			wait := d.backoff.Next()
			a.o.Log.Info("retrying the apply", "in", wait.String())
			retry = time.After(wait)
		}
		if recheck == nil && a.WaitingForPorts() {
			recheck = time.After(db.Recheck)
		}
		select {
		case <-ctx.Done():
			a.Wait()
			return nil
		case ev, ok := <-w.events:
			if !ok {
				return nil
			}
			if !relevant(ev.path) && ev.path != w.root {
				continue
			}
			if ev.what == writing {
				if _, ok := inPlace[ev.path]; !ok {
					inPlace[ev.path] = time.Now()
				}
				if writeCheck == nil {
					writeCheck = time.After(db.Writing)
				}
				continue
			}
			delete(inPlace, ev.path)
			quiet = time.After(db.Quiet)
			if !pending {
				pending = true
				max = time.After(db.Max)
			}
		case err := <-w.errs:
			a.o.Log.Error(err, "watching the source folder")
		case <-writeCheck:
			// A writer that keeps its file open: take the file as it is.
			writeCheck = nil
			for p, since := range inPlace {
				if time.Since(since) >= db.Writing {
					delete(inPlace, p)
					quiet = time.After(0)
					pending = true
				}
			}
			if len(inPlace) > 0 {
				writeCheck = time.After(db.Writing / 2)
			}
		case <-quiet:
			if len(inPlace) > 0 {
				continue // the file being written is read once closed
			}
			pending, quiet, max, retry = false, nil, nil, nil
			d.apply(ctx)
		case <-max:
			if len(inPlace) > 0 {
				max = nil
				continue
			}
			pending, quiet, max, retry = false, nil, nil, nil
			d.apply(ctx)
		case <-retry:
			retry = nil
			d.apply(ctx)
		case <-recheck:
			recheck = nil
			if !pending && a.WaitingForPorts() {
				d.apply(ctx)
			}
		}
	}
}

// dirRun is the state of RunDir between changes.
type dirRun struct {
	a       *Agent
	src     *files.Dir
	failed  bool
	backoff Backoff
	// problems are the conditions reporting a problem after the last
	// render, to log only new ones.
	problems []problem
	status   []byte
	// warnings are the source's warnings of the last reading, to log
	// only new ones.
	warnings map[string]bool
}

// apply reads the folder, renders and applies it; failures are logged
// and the last good configuration keeps serving.
func (d *dirRun) apply(ctx context.Context) {
	a := d.a
	snap, err := d.load()
	if err != nil {
		a.o.Log.Error(err, "reading the source folder; the last good configuration keeps serving")
		d.failed = true
		return
	}
	start := time.Now()
	out, res, err := a.Update(ctx, snap)
	if ctx.Err() != nil {
		return // stopping
	}
	if out != nil {
		d.report(out)
	}
	if err != nil {
		d.failed = true
		a.o.Log.Error(err, "apply failed; HAProxy keeps the last good configuration", "action", res.Action)
		return
	}
	d.failed = false
	d.backoff.Reset()
	switch res.Action {
	case haproxy.ActionNone:
		a.o.Log.V(1).Info("nothing to change")
	case haproxy.ActionStart:
		a.o.Log.Info("applied", "action", "start", "duration", time.Since(start).String())
	default:
		a.o.Log.Info("applied", "action", res.Action, "why", strings.Join(res.Reasons, "; "), "duration", time.Since(start).String())
	}
}

// report logs the conditions that turned bad and writes status.yaml into
// the state folder when it changed.
func (d *dirRun) report(out *pipeline.Output) {
	a := d.a
	cur := problems(out.Status)
	for _, p := range newProblems(d.problems, cur) {
		a.o.Log.Info("object not fully served", "object", p.object, "condition", p.condition, "reason", p.reason, "message", p.message)
	}
	d.problems = cur
	for _, w := range out.Warnings {
		a.o.Log.V(1).Info("warning", "detail", w)
	}
	if bytes.Equal(d.status, out.StatusYAML) {
		return
	}
	if err := renameio.WriteFile(filepath.Join(a.o.StateDir, StatusFile), out.StatusYAML, 0o644); err != nil {
		a.o.Log.Error(err, "writing status.yaml")
		return
	}
	d.status = out.StatusYAML
}

func (d *dirRun) load() (*snapshot.Snapshot, error) {
	a := d.a
	res, err := d.src.Load()
	if err != nil {
		return nil, err
	}
	for _, e := range res.Errors {
		a.o.Log.Info("bad document skipped", "error", e.Error())
	}
	for _, p := range res.Stale {
		a.o.Log.Info("file cannot be used as it is: its last good version still applies", "file", p)
	}
	// Warnings (a file refused, a duplicate skipped...) are logged once,
	// when they appear.
	seen := map[string]bool{}
	for _, w := range res.Warnings {
		seen[w] = true
		if !d.warnings[w] {
			a.o.Log.Info("source warning", "detail", w)
		}
	}
	d.warnings = seen
	res.Snapshot.Now = time.Now()
	return res.Snapshot, nil
}

// relevant reports whether a changed path can hold manifests.
func relevant(p string) bool {
	base := filepath.Base(p)
	if strings.HasPrefix(base, ".") && !strings.HasPrefix(base, "..") {
		// Editor swap files; but a hidden folder holding manifests (such
		// as .generated) is watched through its files' own events.
		if ext := filepath.Ext(base); ext != ".yaml" && ext != ".yml" {
			return false
		}
	}
	// No extension: a folder (created, removed, restored).
	ext := filepath.Ext(base)
	return ext == ".yaml" || ext == ".yml" || ext == ""
}
