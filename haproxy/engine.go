package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/renameio/v2"
	"github.com/haproxytech/client-native/v6/models"

	"hagate.io/hagate/haproxy/bundle"
)

// RuntimeAPI is the part of the HAProxy Runtime API the engine uses; the
// client-native v6 runtime client, on the stats socket, implements it.
type RuntimeAPI interface {
	NewCertEntry(storageName string) error
	SetCertEntry(storageName string, payload string) error
	CommitCertEntry(storageName string) error
	DeleteCertEntry(storageName string) error
	SetCAFile(caFile, payload string) error
	CommitCAFile(caFile string) error
	SetCrlFile(crlFile, payload string) error
	CommitCrlFile(crlFile string) error
	AddCrtListEntry(crtList string, entry models.SslCrtListEntry) error
	DeleteCrtListEntry(crtList, certFile string, lineNumber *int64) error
	AddServer(backend, name, attributes string) error
	SetServerState(backend, server string, state string) error
	DeleteServer(backend, name string) error
	// ExecuteRaw sends a command and returns HAProxy's answer (used for
	// versioned map updates, which the typed client does not offer as an
	// atomic replacement).
	ExecuteRaw(command string) (string, error)
}

// Reloader reloads HAProxy and confirms the new worker runs.
type Reloader interface {
	Reload(ctx context.Context) (ReloadResult, error)
}

// Observer is told what the engine does, for metrics.
type Observer interface {
	// Applied is called after every apply: action is an Action (none,
	// runtime or reload); err is nil on success.
	Applied(action string, d time.Duration, err error)
	// RuntimeUpdates counts Runtime API changes by kind (cert, crtlist,
	// cafile, server, map, tls-key).
	RuntimeUpdates(kind string, n int)
	// Reloaded counts reloads.
	Reloaded()
}

// EngineOptions configure an Engine.
type EngineOptions struct {
	// ConfigDir is the absolute folder HAProxy reads the configuration
	// from: the root the Bundles are rendered for.
	ConfigDir string
	// StageDir is where a Bundle is written to be checked with
	// `haproxy -c` before it replaces the configuration; default
	// ConfigDir + ".stage".
	StageDir string
	// Binary is the haproxy binary used for checks; default "haproxy".
	Binary string
	// Reloader reloads HAProxy.
	Reloader Reloader
	// Runtime is the Runtime API; nil makes every change a reload.
	Runtime RuntimeAPI
	// Log receives one line per apply.
	Log logr.Logger
	// Observer, if set, is told about applies.
	Observer Observer
}

// Action is what an apply did to HAProxy.
type Action string

// Actions of an apply.
const (
	// ActionNone: nothing changed.
	ActionNone Action = "none"
	// ActionRuntime: the change was made through the Runtime API.
	ActionRuntime Action = "runtime"
	// ActionReload: HAProxy reloaded the configuration.
	ActionReload Action = "reload"
	// ActionStart: HAProxy was started on the configuration (the agent's
	// first apply when it supervises HAProxy).
	ActionStart Action = "start"
)

// Outcome says what an apply did.
type Outcome struct {
	// Action is ActionNone, ActionRuntime or ActionReload (ActionStart
	// from the agent).
	Action Action
	// Reasons explain a reload, or list the runtime changes.
	Reasons []string
}

// Engine keeps a running HAProxy equal to the Bundles it is given: through
// the Runtime API when only certificates, CA files, crt-list lines,
// servers or map entries change, through a validated, confirmed reload
// otherwise. It keeps the last good configuration when anything fails.
type Engine struct {
	o   EngineOptions
	mu  sync.Mutex
	cur *bundle.Bundle
	// dirty: what HAProxy runs may differ from cur (a runtime change
	// partly applied, files not written): the next apply reloads.
	dirty bool
}

// NewEngine returns an Engine. Nothing runs from it until Install or
// Apply.
func NewEngine(o EngineOptions) *Engine {
	if o.StageDir == "" {
		o.StageDir = strings.TrimSuffix(o.ConfigDir, "/") + ".stage"
	}
	if o.Binary == "" {
		o.Binary = "haproxy"
	}
	return &Engine{o: o}
}

// Current is the Bundle HAProxy runs, nil before the first apply.
func (e *Engine) Current() *bundle.Bundle {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur
}

// InstallExisting takes the configuration found in the configuration
// folder (left by an earlier run) as the one HAProxy is about to start
// on, when HAProxy accepts it; the next Apply starts from it.
func (e *Engine) InstallExisting(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := bundle.ReadTree(e.o.ConfigDir, 64<<20)
	if err != nil {
		return err
	}
	if b.Get(bundle.ConfigFile) == nil {
		return errors.New("no haproxy.cfg in " + e.o.ConfigDir)
	}
	if err := e.check(ctx, b); err != nil {
		return err
	}
	e.cur = b
	return nil
}

// Install checks a Bundle and writes it as the configuration, without
// telling HAProxy: before HAProxy is started on it. Files of the folder
// the Bundle does not hold (left by an earlier run) are removed.
func (e *Engine) Install(ctx context.Context, b *bundle.Bundle) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.check(ctx, b); err != nil {
		return err
	}
	if err := e.write(nil, b); err != nil {
		return err
	}
	e.cur = b
	return nil
}

// Apply makes HAProxy run b. On error HAProxy keeps serving the last good
// configuration, whose files are restored; the next Apply starts from it.
func (e *Engine) Apply(ctx context.Context, b *bundle.Bundle) (out Outcome, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	start := time.Now()
	defer func() {
		if e.o.Observer != nil {
			e.o.Observer.Applied(string(out.Action), time.Since(start), err)
		}
	}()
	p := MakePlan(e.cur, b, e.o.ConfigDir)
	if e.dirty {
		p = &Plan{Reload: true, Reasons: []string{"what HAProxy runs may differ from the files after a failed change"}}
	}
	if p.Empty() {
		if e.cur != nil && !commentsAlike(e.cur, b) {
			// Only comments changed: HAProxy runs the same, the files on
			// disk say what the next start will read.
			if werr := e.write(e.cur, b); werr != nil {
				e.restore(e.cur, b)
				return Outcome{Action: ActionNone}, fmt.Errorf("write the configuration files (nothing changed): %w", werr)
			}
			e.cur = b
		}
		return Outcome{Action: ActionNone}, nil
	}
	if !p.Reload && e.o.Runtime == nil {
		p = &Plan{Reload: true, Reasons: []string{"no Runtime API"}}
	}
	written := false
	if !p.Reload {
		// The files first: what is on disk is always what HAProxy should
		// run next (a master restarted in between reads it). Written, but
		// not applied, they make a later runtime refusal a reload of b.
		if werr := e.write(e.cur, b); werr != nil {
			e.restore(e.cur, b)
			return Outcome{Action: ActionRuntime}, fmt.Errorf("write the configuration files (nothing changed): %w", werr)
		}
		written = true
		done, rerr := e.runtime(p)
		if rerr == nil {
			e.cur = b
			e.count(p)
			return Outcome{Action: ActionRuntime, Reasons: describe(p)}, nil
		}
		e.o.Log.Info("runtime API change refused; reloading instead", "done", done, "error", rerr.Error())
		p = &Plan{Reload: true, Reasons: []string{"a Runtime API change was refused: " + rerr.Error()}}
		if done > 0 {
			// Part of the change runs: until a reload succeeds, HAProxy
			// may differ from the files.
			e.dirty = true
		}
	}
	if err := e.reload(ctx, b, written); err != nil {
		return Outcome{Action: ActionReload, Reasons: p.Reasons}, err
	}
	e.dirty = false
	return Outcome{Action: ActionReload, Reasons: p.Reasons}, nil
}

// reload checks b, writes it and reloads; on failure the previous files
// are written back. written says b's files were written already (by a
// runtime change HAProxy refused): they are written back as well when b
// does not pass the checks.
func (e *Engine) reload(ctx context.Context, b *bundle.Bundle, written bool) error {
	prev := e.cur
	refused := func(err error) error {
		if written {
			e.restore(prev, b)
		}
		return err
	}
	if err := e.check(ctx, b); err != nil {
		return refused(err)
	}
	// haproxy -c does not bind: a port another process holds would make
	// the reload fail after HAProxy paused every listener for seconds.
	if err := checkNewPorts(prev, b); err != nil {
		return refused(err)
	}
	if err := e.write(prev, b); err != nil {
		e.restore(prev, b)
		return err
	}
	if e.o.Reloader == nil {
		return errors.New("no way to reload HAProxy")
	}
	if _, err := e.o.Reloader.Reload(ctx); err != nil {
		if errors.Is(err, ErrReloadNotSent) {
			// HAProxy did not try the new files, and they passed the
			// check: they stay, so that a master started meanwhile (a
			// supervised restart) runs them. What runs is unknown: the
			// next apply reloads, from these files.
			e.cur, e.dirty = b, true
			return err
		}
		e.restore(prev, b)
		return err
	}
	if e.o.Observer != nil {
		e.o.Observer.Reloaded()
	}
	e.cur = b
	return nil
}

// restore writes the previous Bundle back after a failed change.
func (e *Engine) restore(prev, failed *bundle.Bundle) {
	if prev == nil {
		return
	}
	if err := e.write(failed, prev); err != nil {
		e.o.Log.Error(err, "restoring the previous configuration files failed")
	}
}

func (e *Engine) count(p *Plan) {
	if e.o.Observer == nil {
		return
	}
	kinds := map[string]int{}
	for k, n := range p.Kinds() {
		switch k {
		case OpCertNew, OpCertSet, OpCertDel:
			kinds["cert"] += n
		case OpCrtListAdd, OpCrtListDel:
			kinds["crtlist"] += n
		case OpCAFileSet:
			kinds["cafile"] += n
		case OpCRLFileSet:
			kinds["crlfile"] += n
		case OpTLSKey:
			kinds["tls-key"] += n
		case OpServerAdd, OpServerDel:
			kinds["server"] += n
		case OpMapReplace, OpMapAdd, OpMapSet, OpMapDel:
			kinds["map"] += n
		}
	}
	for k, n := range kinds {
		e.o.Observer.RuntimeUpdates(k, n)
	}
}

func describe(p *Plan) []string {
	var out []string
	for _, o := range p.Ops {
		out = append(out, o.String())
	}
	return out
}

// runtime applies the ops of a plan in order; it returns how many were
// done and the first error.
func (e *Engine) runtime(p *Plan) (int, error) {
	r := e.o.Runtime
	for i, o := range p.Ops {
		var err error
		switch o.Kind {
		case OpCertNew:
			if err = r.NewCertEntry(o.File); err == nil {
				if err = r.SetCertEntry(o.File, string(o.Content)); err == nil {
					err = r.CommitCertEntry(o.File)
				}
			}
		case OpCertSet:
			if err = r.SetCertEntry(o.File, string(o.Content)); err == nil {
				err = r.CommitCertEntry(o.File)
			}
		case OpCertDel:
			err = r.DeleteCertEntry(o.File)
		case OpCAFileSet:
			if err = r.SetCAFile(o.File, string(o.Content)); err == nil {
				err = r.CommitCAFile(o.File)
			}
		case OpCRLFileSet:
			if err = r.SetCrlFile(o.File, string(o.Content)); err == nil {
				err = r.CommitCrlFile(o.File)
			}
		case OpCrtListAdd:
			err = r.AddCrtListEntry(o.File, o.Entry)
		case OpCrtListDel:
			err = r.DeleteCrtListEntry(o.File, o.Line, nil)
		case OpServerAdd:
			if err = r.AddServer(o.Backend, o.Server, o.Params); err == nil {
				err = r.SetServerState(o.Backend, o.Server, "ready")
			}
		case OpServerDel:
			if err = r.SetServerState(o.Backend, o.Server, "maint"); err == nil {
				if derr := r.DeleteServer(o.Backend, o.Server); derr != nil {
					// Still has connections: it stays in maintenance,
					// drained, and the next reload removes it.
					e.o.Log.V(1).Info("server kept in maintenance until its connections end", "server", o.Backend+"/"+o.Server, "reason", derr.Error())
				}
			}
		case OpMapReplace:
			err = replaceMap(r, o.File, o.Content)
		case OpMapAdd:
			err = addMapEntries(r, o.File, o.Content)
		case OpMapSet:
			err = mapCommand(r, fmt.Sprintf("set map %s %s %s", o.File, cliEscape(o.Key), cliEscape(o.Value)))
		case OpMapDel:
			err = mapCommand(r, fmt.Sprintf("del map %s %s", o.File, cliEscape(o.Key)))
		case OpTLSKey:
			err = setTicketKey(r, o.File, o.Value)
		default:
			err = fmt.Errorf("unknown op %s", o.Kind)
		}
		if err != nil {
			return i, fmt.Errorf("%s: %w", o, err)
		}
	}
	return len(p.Ops), nil
}

// replaceMap swaps the entries of a map atomically and in order: a new
// version is prepared, filled, then committed.
func replaceMap(r RuntimeAPI, file string, payload []byte) error {
	out, err := r.ExecuteRaw("prepare map " + file)
	if err != nil {
		return err
	}
	// "New version created: 2"
	i := strings.LastIndex(out, ":")
	ver := strings.TrimSpace(out[i+1:])
	if i < 0 || ver == "" || strings.ContainsAny(ver, " \n") {
		return fmt.Errorf("prepare map %s: unexpected answer %q", file, out)
	}
	// A command and its payload must fit in one CLI buffer (16 kB by
	// default): the entries go in chunks, all into the prepared version.
	for _, chunk := range mapChunks(payload, mapChunkBytes) {
		// The chunk ends with a newline and the client adds one: the empty
		// line that ends a payload.
		out, err = r.ExecuteRaw(fmt.Sprintf("add map @%s %s <<\n%s", ver, file, chunk))
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("add map %s: %s", file, strings.TrimSpace(out))
		}
	}
	out, err = r.ExecuteRaw(fmt.Sprintf("commit map @%s %s", ver, file))
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "" {
		return fmt.Errorf("commit map %s: %s", file, strings.TrimSpace(out))
	}
	return nil
}

// addMapEntries adds "key value" lines to the running version of a map,
// in chunks that fit the CLI buffer.
func addMapEntries(r RuntimeAPI, file string, payload []byte) error {
	for _, chunk := range mapChunks(payload, mapChunkBytes) {
		if err := mapCommand(r, fmt.Sprintf("add map %s <<\n%s", file, chunk)); err != nil {
			return err
		}
	}
	return nil
}

// mapCommand sends a map command, which answers nothing when it works.
func mapCommand(r RuntimeAPI, cmd string) error {
	out, err := r.ExecuteRaw(cmd)
	if err != nil {
		return err
	}
	if out = strings.TrimSpace(out); out != "" {
		name, _, _ := strings.Cut(cmd, "\n")
		return fmt.Errorf("%s: %s", name, out)
	}
	return nil
}

// cliEscape escapes what the Runtime API's command line would take for
// a command separator (;) or an escape (\).
func cliEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `;`, `\;`).Replace(s)
}

// mapChunkBytes bounds the entries sent in one "add map" payload, well
// under HAProxy's default 16 kB buffer.
const mapChunkBytes = 8 << 10

// mapChunks splits a map file's entries (comments and blank lines left
// out) into newline-terminated chunks of at most max bytes (a longer line
// is a chunk of its own).
func mapChunks(payload []byte, max int) []string {
	var chunks []string
	var cur strings.Builder
	for _, line := range strings.Split(string(payload), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() > 0 && cur.Len()+len(line)+1 > max {
			chunks = append(chunks, cur.String())
			cur.Reset()
		}
		cur.WriteString(line + "\n")
	}
	if cur.Len() > 0 {
		chunks = append(chunks, cur.String())
	}
	return chunks
}

// check writes b into the stage folder, with its paths pointing there,
// and runs `haproxy -c` on it. The paths of haproxy.cfg and of the
// crt-lists are rewritten; a Bundle without a State (read from the
// configuration folder) keeps its crt-lists as they are: they name the
// files it was read from.
func (e *Engine) check(ctx context.Context, b *bundle.Bundle) error {
	stage := e.o.StageDir
	if err := os.RemoveAll(stage); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer os.RemoveAll(stage)
	staged := bundle.New()
	from, to := []byte(strings.TrimSuffix(e.o.ConfigDir, "/")+"/"), []byte(strings.TrimSuffix(stage, "/")+"/")
	var kind map[string]fileKind
	if b.State != nil {
		kind = kinds(b.State)
	}
	for _, f := range b.Files() {
		c := f.Content
		if f.Path == bundle.ConfigFile || kind[f.Path] == kindCrtList {
			c = bytes.ReplaceAll(c, from, to)
		}
		staged.Add(&bundle.File{Path: f.Path, Content: c, Mode: f.Mode})
	}
	if err := staged.WriteTree(stage); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, e.o.Binary, "-c", "-f", filepath.Join(stage, bundle.ConfigFile)).CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("check: haproxy -c: %w", ctx.Err())
		}
		return parseCheck(string(out), stage, b, err)
	}
	return nil
}

// write makes ConfigDir hold next: changed files are replaced atomically
// (renameio), files of prev that next lacks are removed. Key files are
// written 0600 in 0700 folders.
func (e *Engine) write(prev, next *bundle.Bundle) error {
	dir := e.o.ConfigDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	for _, f := range next.Files() {
		if prev != nil {
			if o := prev.Get(f.Path); o != nil && o.Mode == f.Mode && bytes.Equal(o.Content, f.Content) {
				if _, err := os.Stat(filepath.Join(dir, f.Path)); err == nil {
					continue
				}
			}
		}
		full := filepath.Join(dir, filepath.FromSlash(f.Path))
		dmode := fs.FileMode(0o755)
		if f.Secret() {
			dmode = 0o700
		}
		if err := os.MkdirAll(filepath.Dir(full), dmode); err != nil {
			return fmt.Errorf("write configuration: %w", err)
		}
		if f.Secret() {
			// The folder may exist from before (a shared volume).
			if err := os.Chmod(filepath.Dir(full), 0o700); err != nil {
				return fmt.Errorf("write configuration: %w", err)
			}
		}
		if err := renameio.WriteFile(full, f.Content, f.Mode); err != nil {
			return fmt.Errorf("write configuration: %w", err)
		}
	}
	if prev == nil {
		return removeStale(dir, next)
	}
	for _, f := range prev.Files() {
		if next.Get(f.Path) == nil {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(f.Path))); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("write configuration: %w", err)
			}
		}
	}
	return nil
}

// removeStale removes the files of the folders the Bundle owns (its
// State's Dirs: certificates, CA files, crt-lists, maps) that next does
// not hold: what an earlier run left, such as the key of a Secret deleted
// since. Nothing else of the folder is touched (in attach mode it may be
// shared).
func removeStale(dir string, next *bundle.Bundle) error {
	if next.State == nil {
		return nil
	}
	for _, sub := range next.State.Dirs {
		if rel := strings.TrimSuffix(sub, "/"); rel == "" || !filepath.IsLocal(rel) {
			return fmt.Errorf("write configuration: remove stale files: folder %q is not inside the configuration folder", sub)
		}
		root := filepath.Join(dir, sub)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			if next.Get(filepath.ToSlash(rel)) != nil {
				return nil
			}
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return err
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("write configuration: remove stale files: %w", err)
		}
	}
	return nil
}
