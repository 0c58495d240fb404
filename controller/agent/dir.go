package agent

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
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
// every change until ctx is done. The first change after a quiet period
// applies at once; changes that follow it within Quiet are batched. Only
// the files that changed are read again. Bad documents are logged with
// file and document; the rest of the folder still applies, and a broken
// file keeps its last good version. A failed apply is retried, with a
// backoff, until HAProxy runs what the folder says. Every condition that
// turns bad is logged, and status.yaml in the state folder holds every
// status (written after the change is applied, off its path).
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

	rep := newReporter(a)
	repDone := make(chan struct{})
	go func() { defer close(repDone); rep.run(ctx) }()
	defer func() { <-repDone }()

	d := &dirRun{a: a, src: &files.Dir{Root: dir}, rep: rep, changed: map[string]bool{}, full: true}
	d.apply(ctx)

	var quiet, max, retry, recheck <-chan time.Time
	pending := false
	inPlace := map[string]time.Time{} // files written in place, not closed yet: since when
	var writeCheck <-chan time.Time
	// note records a change; it says whether the path is being written.
	note := func(ev watchEvent) (writingNow bool) {
		if !relevant(ev.path) && ev.path != w.root {
			return false
		}
		if ev.what == writing {
			if _, ok := inPlace[ev.path]; !ok {
				inPlace[ev.path] = time.Now()
			}
			if writeCheck == nil {
				writeCheck = time.After(db.Writing)
			}
			return true
		}
		delete(inPlace, ev.path)
		d.note(ev.path, ev.path == w.root)
		return false
	}
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
			if note(ev) || !d.dirty() {
				continue
			}
			if !pending && len(inPlace) == 0 && time.Since(d.lastApply) >= db.Quiet {
				// Leading edge: the first change after a quiet period
				// applies at once, with what arrived with it.
				for more := true; more; {
					select {
					case ev, ok := <-w.events:
						if ok {
							note(ev)
						}
						more = ok
					default:
						more = false
					}
				}
				if len(inPlace) == 0 {
					retry = nil
					d.apply(ctx)
					continue
				}
			}
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
					d.note(p, false)
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
	rep     *reporter
	failed  bool
	backoff Backoff
	// changed are the paths changed since the last reading; full asks
	// for a reading of the whole folder.
	changed map[string]bool
	full    bool
	// lastApply is when the last apply ended.
	lastApply time.Time
	// warnings are the source's warnings of the last reading, to log
	// only new ones.
	warnings map[string]bool
}

// note records a changed path; whole asks for the whole folder to be
// read (the folder itself changed, or events were lost).
func (d *dirRun) note(path string, whole bool) {
	if whole {
		d.full = true
		return
	}
	d.changed[path] = true
}

// dirty reports whether something changed since the last reading.
func (d *dirRun) dirty() bool { return d.full || len(d.changed) > 0 }

// apply reads what changed in the folder, renders and applies it;
// failures are logged and the last good configuration keeps serving.
func (d *dirRun) apply(ctx context.Context) {
	a := d.a
	defer func() { d.lastApply = time.Now() }()
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
		d.rep.submit(snap, out)
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

func (d *dirRun) load() (*snapshot.Snapshot, error) {
	a := d.a
	var res *files.DirResult
	var err error
	if d.full {
		res, err = d.src.Load()
	} else {
		changed := make([]string, 0, len(d.changed))
		for p := range d.changed {
			changed = append(changed, p)
		}
		res, err = d.src.LoadChanged(changed)
	}
	if err != nil {
		return nil, err
	}
	d.full, d.changed = false, map[string]bool{}
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

// reporter logs the conditions that turned bad and writes status.yaml
// after each apply, in its own goroutine: the next change does not wait
// for it. When renders come faster than it writes, it skips to the last.
type reporter struct {
	a    *Agent
	mu   sync.Mutex
	next *reportJob
	wake chan struct{}
	// problems are the conditions reporting a problem in the last report,
	// to log only new ones.
	problems []problem
	status   []byte
}

type reportJob struct {
	snap *snapshot.Snapshot
	out  *pipeline.Output
}

func newReporter(a *Agent) *reporter {
	return &reporter{a: a, wake: make(chan struct{}, 1)}
}

// submit hands the reporter the result of a render; a report not yet
// started is replaced.
func (r *reporter) submit(snap *snapshot.Snapshot, out *pipeline.Output) {
	r.mu.Lock()
	r.next = &reportJob{snap: snap, out: out}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Reports wait for changes to pause (reportQuiet), but not longer than
// reportMax: building status.yaml takes about 100 ms of a core at 10,000
// routes, which the next change should not have to share.
const (
	reportQuiet = 500 * time.Millisecond
	reportMax   = 5 * time.Second
)

// run reports until ctx is done, then reports what is left.
func (r *reporter) run(ctx context.Context) {
	var due <-chan time.Time
	var first time.Time
	for {
		select {
		case <-r.wake:
			if first.IsZero() {
				first = time.Now()
			}
			due = time.After(min(reportQuiet, reportMax-time.Since(first)))
		case <-due:
			due, first = nil, time.Time{}
			r.report()
		case <-ctx.Done():
			r.report()
			return
		}
	}
}

func (r *reporter) report() {
	r.mu.Lock()
	j := r.next
	r.next = nil
	r.mu.Unlock()
	if j == nil {
		return
	}
	a := r.a
	cur := problems(j.out.Status)
	for _, p := range newProblems(r.problems, cur) {
		a.o.Log.Info("object not fully served", "object", p.object, "condition", p.condition, "reason", p.reason, "message", p.message)
	}
	r.problems = cur
	for _, w := range j.out.Warnings {
		a.o.Log.V(1).Info("warning", "detail", w)
	}
	// One core: the other is the next render's.
	st, err := pipeline.StatusReport(j.snap, j.out.Status, 1)
	if err != nil {
		a.o.Log.Error(err, "building status.yaml")
		return
	}
	if bytes.Equal(r.status, st) {
		return
	}
	if err := renameio.WriteFile(filepath.Join(a.o.StateDir, StatusFile), st, 0o644); err != nil {
		a.o.Log.Error(err, "writing status.yaml")
		return
	}
	r.status = st
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
