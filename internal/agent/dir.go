package agent

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"hagate.io/hagate/internal/snapshot"
	"hagate.io/hagate/internal/source/files"
)

// Debounce bounds how changes of a source folder are batched: a render
// starts once the folder has been quiet for Quiet, and at most Max after
// the first change of a batch.
type Debounce struct {
	Quiet, Max time.Duration
}

// DefaultDebounce batches editor saves (write, rename, chmod) into one
// render without delaying a change by more than a second.
var DefaultDebounce = Debounce{Quiet: 100 * time.Millisecond, Max: time.Second}

// RunDir serves a folder of manifests: it renders it, starts HAProxy on it
// (or applies it to the attached one), then renders and applies again on
// every change until ctx is done. Bad documents are logged with file and
// document; the rest of the folder still applies, and a broken file keeps
// its last good version.
func (a *Agent) RunDir(ctx context.Context, dir string, db Debounce) error {
	// Watch first: a change made while HAProxy starts is not missed.
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	addTree(w, dir)

	src := &files.Dir{Root: dir}
	snap, err := a.loadDir(src)
	if err != nil {
		return err
	}
	out, err := a.Start(ctx, snap)
	if err != nil {
		return err
	}
	for _, w := range out.Warnings {
		a.o.Log.Info("warning", "detail", w)
	}

	var quiet, max <-chan time.Time
	pending := false
	for {
		select {
		case <-ctx.Done():
			a.Wait()
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					addTree(w, ev.Name)
				}
			}
			if !relevant(ev.Name) {
				continue
			}
			quiet = time.After(db.Quiet)
			if !pending {
				pending = true
				max = time.After(db.Max)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			a.o.Log.Error(err, "watching the source folder")
		case <-quiet:
			pending, quiet, max = false, nil, nil
			a.reloadDir(ctx, src)
		case <-max:
			pending, quiet, max = false, nil, nil
			a.reloadDir(ctx, src)
		}
	}
}

func (a *Agent) loadDir(src *files.Dir) (*snapshot.Snapshot, error) {
	res, err := src.Load()
	if err != nil {
		return nil, err
	}
	for _, e := range res.Errors {
		a.o.Log.Info("bad document skipped", "error", e.Error())
	}
	for _, p := range res.Stale {
		a.o.Log.Info("file has errors: its last good version still applies", "file", p)
	}
	for _, w := range res.Warnings {
		a.o.Log.V(1).Info("warning", "detail", w)
	}
	res.Snapshot.Now = time.Now()
	return res.Snapshot, nil
}

// reloadDir renders the folder and applies it; failures are logged and
// the last good configuration keeps serving.
func (a *Agent) reloadDir(ctx context.Context, src *files.Dir) {
	snap, err := a.loadDir(src)
	if err != nil {
		a.o.Log.Error(err, "reading the source folder")
		return
	}
	start := time.Now()
	_, res, err := a.Update(ctx, snap)
	if err != nil {
		a.o.Log.Error(err, "apply failed; HAProxy keeps the last good configuration", "action", res.Action)
		return
	}
	if res.Action == "none" {
		a.o.Log.V(1).Info("nothing to change")
		return
	}
	a.o.Log.Info("applied", "action", res.Action, "why", strings.Join(res.Reasons, "; "), "duration", time.Since(start).String())
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
	ext := filepath.Ext(base)
	return ext == ".yaml" || ext == ".yml" || ext == ""
}

// addTree watches a folder and the folders below it.
func addTree(w *fsnotify.Watcher, root string) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = w.Add(p)
		}
		return nil
	})
}
