package haproxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/haproxytech/client-native/v6/models"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
)

// These tests drive the Engine with a fake Runtime API and a fake
// reloader, and the real `haproxy -c` (through a wrapper that records
// each check): the paths the end-to-end tests do not reach, refusals and
// failures, and what is on disk at each step.

// fakeRuntime records the Runtime API commands in order. A command that
// starts with failOn is refused; before each command, seen is called.
type fakeRuntime struct {
	mu     sync.Mutex
	calls  []string
	failOn string
	seen   func(call string)
}

func (f *fakeRuntime) do(format string, a ...any) error {
	call := fmt.Sprintf(format, a...)
	f.mu.Lock()
	f.calls = append(f.calls, call)
	seen, failOn := f.seen, f.failOn
	f.mu.Unlock()
	if seen != nil {
		seen(call)
	}
	if failOn != "" && strings.HasPrefix(call, failOn) {
		return errors.New("refused by the fake Runtime API")
	}
	return nil
}

func (f *fakeRuntime) NewCertEntry(s string) error          { return f.do("new ssl cert %s", s) }
func (f *fakeRuntime) SetCertEntry(s, payload string) error { return f.do("set ssl cert %s", s) }
func (f *fakeRuntime) CommitCertEntry(s string) error       { return f.do("commit ssl cert %s", s) }
func (f *fakeRuntime) DeleteCertEntry(s string) error       { return f.do("del ssl cert %s", s) }
func (f *fakeRuntime) SetCAFile(c, payload string) error    { return f.do("set ssl ca-file %s", c) }
func (f *fakeRuntime) CommitCAFile(c string) error          { return f.do("commit ssl ca-file %s", c) }
func (f *fakeRuntime) SetCrlFile(c, _ string) error         { return f.do("set ssl crl-file %s", c) }
func (f *fakeRuntime) CommitCrlFile(c string) error         { return f.do("commit ssl crl-file %s", c) }
func (f *fakeRuntime) AddServer(b, n, attrs string) error {
	return f.do("add server %s/%s %s", b, n, attrs)
}
func (f *fakeRuntime) SetServerState(b, s, st string) error {
	return f.do("set server %s/%s state %s", b, s, st)
}
func (f *fakeRuntime) DeleteServer(b, n string) error { return f.do("del server %s/%s", b, n) }
func (f *fakeRuntime) DeleteCrtListEntry(l, c string, _ *int64) error {
	return f.do("del ssl crt-list %s %s", l, c)
}
func (f *fakeRuntime) AddCrtListEntry(l string, e models.SslCrtListEntry) error {
	return f.do("add ssl crt-list %s %s [%s] %s", l, e.File, e.SSLBindConfig, strings.Join(e.SNIFilter, " "))
}

func (f *fakeRuntime) ExecuteRaw(command string) (string, error) {
	first, _, _ := strings.Cut(command, "\n")
	if err := f.do("%s", first); err != nil {
		return "", err
	}
	if strings.HasPrefix(command, "prepare map ") {
		return "New version created: 2\n", nil
	}
	return "", nil
}

func (f *fakeRuntime) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeReloader answers every reload with err; before answering, seen is
// called.
type fakeReloader struct {
	mu    sync.Mutex
	calls int
	err   error
	seen  func()
}

func (r *fakeReloader) Reload(context.Context) (ReloadResult, error) {
	r.mu.Lock()
	r.calls++
	seen, err := r.seen, r.err
	r.mu.Unlock()
	if seen != nil {
		seen()
	}
	return ReloadResult{}, err
}

func (r *fakeReloader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *fakeReloader) answer(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// engineEnv is an Engine on a temporary configuration folder, checking
// with the real haproxy through a wrapper that counts the checks.
type engineEnv struct {
	t        *testing.T
	dir      string
	checkLog string
	port     int
	rt       *fakeRuntime
	rl       *fakeReloader
	e        *Engine
	certA    []byte // two certificates for the same names
	certB    []byte
}

func newEngineEnv(t *testing.T) *engineEnv {
	tmp := t.TempDir()
	env := &engineEnv{t: t, dir: filepath.Join(tmp, "config"), checkLog: filepath.Join(tmp, "checks.log"),
		port: haproxytest.FreePort(t), rt: &fakeRuntime{}, rl: &fakeReloader{}}
	wrapper := filepath.Join(tmp, "haproxy")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\nexec %s \"$@\"\n", env.checkLog, haproxytest.Binary(t))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := pki.NewCA(t, "engine test CA")
	env.certA = ca.Issue(t, pki.LeafOptions{DNSNames: []string{"a.example.com"}}).CombinedPEM()
	env.certB = ca.Issue(t, pki.LeafOptions{DNSNames: []string{"a.example.com"}}).CombinedPEM()
	env.e = NewEngine(EngineOptions{ConfigDir: env.dir, StageDir: filepath.Join(tmp, "stage"), Binary: wrapper,
		Reloader: env.rl, Runtime: env.rt, Log: logr.Discard()})
	return env
}

// conf describes a test configuration: one TLS frontend (a crt-list of
// one certificate, a hosts map) and one backend.
type conf struct {
	cert    []byte
	servers []bundle.Server
	hosts   []bundle.MapEntry
	// extra is a frontend line: a change only a reload applies.
	extra string
	// files are files haproxy.cfg does not use, path -> content.
	files map[string]string
}

func (env *engineEnv) base() conf {
	return conf{
		cert:    env.certA,
		servers: []bundle.Server{{Name: "s1", Params: "127.0.0.1:9001"}},
		hosts:   []bundle.MapEntry{{Key: "a.example.com", Value: "a"}},
	}
}

// bundle renders c as templates would: the files, and their State.
func (env *engineEnv) bundle(c conf) *bundle.Bundle {
	root := env.dir
	list := bundle.CrtList{Path: "crt-lists/f.crt-list", Lines: []bundle.CrtListLine{{Cert: "certs/a.pem", SNIFilters: []string{"a.example.com"}}}}
	hosts := bundle.Map{Path: "maps/f.hosts.map", Entries: c.hosts}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global
    stats socket %[1]s/haproxy.sock mode 600 level admin expose-fd listeners

defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s

frontend f
    bind 127.0.0.1:%[2]d ssl crt-list %[1]s/crt-lists/f.crt-list
    http-request set-var(txn.vhost) req.hdr(host),lower,map_str(%[1]s/maps/f.hosts.map)
`, root, env.port)
	if c.extra != "" {
		cfg.WriteString("    " + c.extra + "\n")
	}
	cfg.WriteString("    default_backend be\n\nbackend be\n")
	for _, s := range c.servers {
		cfg.WriteString("    " + s.Line() + "\n")
	}
	b := bundle.New()
	b.Add(&bundle.File{Path: bundle.ConfigFile, Content: []byte(cfg.String()), Mode: 0o644})
	b.Add(&bundle.File{Path: list.Path, Content: []byte("# the certificate\n" + list.Lines[0].Text(root) + "\n"), Mode: 0o644})
	b.Add(&bundle.File{Path: hosts.Path, Content: append([]byte("# hosts\n"), hosts.Payload()...), Mode: 0o644})
	b.Add(&bundle.File{Path: "certs/a.pem", Content: c.cert, Mode: 0o600})
	for p, content := range c.files {
		b.Add(&bundle.File{Path: p, Content: []byte(content), Mode: 0o644})
	}
	b.State = &bundle.State{
		Backends:     []bundle.Backend{{Name: "be", Servers: c.servers}},
		Certificates: []string{"certs/a.pem"},
		CrtLists:     []bundle.CrtList{list},
		Maps:         []bundle.Map{hosts},
		Binds:        []string{fmt.Sprintf("127.0.0.1:%d", env.port)},
		Dirs:         []string{"certs/", "crt-lists/", "maps/", "cas/"},
	}
	return b
}

// disk is what the configuration folder holds.
func (env *engineEnv) disk() *bundle.Bundle {
	env.t.Helper()
	b, err := bundle.ReadTree(env.dir, 1<<20)
	if err != nil {
		env.t.Fatal(err)
	}
	return b
}

// onDisk fails the test when the folder does not hold exactly b.
func (env *engineEnv) onDisk(when string, b *bundle.Bundle) {
	env.t.Helper()
	if d := env.disk(); !d.Equal(b) {
		var got []string
		for _, f := range d.Files() {
			got = append(got, f.Path)
		}
		env.t.Errorf("%s: the configuration folder does not hold the expected files (it holds %q)", when, got)
	}
}

// checks counts the haproxy -c runs.
func (env *engineEnv) checks() int {
	data, err := os.ReadFile(env.checkLog)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "-c -f ")
}

func (env *engineEnv) install(b *bundle.Bundle) {
	env.t.Helper()
	if err := env.e.Install(context.Background(), b); err != nil {
		env.t.Fatalf("install: %v", err)
	}
}

func (env *engineEnv) apply(b *bundle.Bundle) (Outcome, error) {
	return env.e.Apply(context.Background(), b)
}

// The files are written before the first Runtime API command (a master
// restarted in between reads them), and the commands come in the plan's
// order: certificates, servers added, maps, servers removed.
func TestEngineWritesFilesBeforeRuntimeChanges(t *testing.T) {
	env := newEngineEnv(t)
	cur := env.bundle(env.base())
	env.install(cur)
	env.onDisk("after Install", cur)

	c := env.base()
	c.cert = env.certB
	c.servers = []bundle.Server{{Name: "s2", Params: "127.0.0.1:9002"}}
	c.hosts = []bundle.MapEntry{{Key: "a.example.com", Value: "b"}, {Key: "b.example.com", Value: "b"}}
	next := env.bundle(c)
	env.rt.seen = func(call string) {
		if d := env.disk(); !d.Equal(next) {
			t.Errorf("%q is sent before the new files are written", call)
		}
	}
	checks := env.checks()
	out, err := env.apply(next)
	if err != nil || out.Action != ActionRuntime {
		t.Fatalf("apply: %v %v", out, err)
	}
	root := env.dir
	want := []string{
		"set ssl cert " + root + "/certs/a.pem",
		"commit ssl cert " + root + "/certs/a.pem",
		"add server be/s2 127.0.0.1:9002",
		"set server be/s2 state ready",
		"add map " + root + "/maps/f.hosts.map <<",
		"set map " + root + "/maps/f.hosts.map a.example.com b",
		"set server be/s1 state maint",
		"del server be/s1",
	}
	if got := env.rt.log(); !slices.Equal(got, want) {
		t.Errorf("Runtime API commands:\n got %q\nwant %q", got, want)
	}
	if env.rl.count() != 0 || env.checks() != checks {
		t.Errorf("a runtime change reloaded (%d) or ran haproxy -c (%d)", env.rl.count(), env.checks()-checks)
	}
	if env.e.Current() != next {
		t.Error("the engine does not run the new Bundle")
	}
	if out, err := env.apply(next); err != nil || out.Action != ActionNone {
		t.Errorf("the same Bundle again: %v %v", out, err)
	}
}

// A change the Runtime API refuses is reloaded instead, after
// `haproxy -c`; when the check refuses it too, the files already written
// for the runtime change are written back.
func TestEngineRuntimeRefusalReloadsChecked(t *testing.T) {
	t.Run("the reload takes it", func(t *testing.T) {
		env := newEngineEnv(t)
		env.install(env.bundle(env.base()))
		c := env.base()
		c.servers = append(c.servers, bundle.Server{Name: "s2", Params: "127.0.0.1:9002"})
		next := env.bundle(c)
		env.rt.failOn = "add server"
		env.rl.seen = func() { env.onDisk("at the reload", next) }
		checks := env.checks()
		out, err := env.apply(next)
		if err != nil || out.Action != ActionReload || !strings.Contains(strings.Join(out.Reasons, "; "), "Runtime API change was refused") {
			t.Fatalf("apply: %+v %v", out, err)
		}
		if env.checks() != checks+1 || env.rl.count() != 1 {
			t.Errorf("haproxy -c ran %d times and the reloader %d times, want 1 and 1", env.checks()-checks, env.rl.count())
		}
		if env.e.Current() != next {
			t.Error("the engine does not run the new Bundle")
		}
		// Nothing of the refused change ran (it was the first command):
		// the reload made HAProxy equal to the files.
		env.rt.failOn = ""
		if out, err := env.apply(next); err != nil || out.Action != ActionNone {
			t.Errorf("the same Bundle again: %v %v", out, err)
		}
	})
	t.Run("haproxy -c refuses it", func(t *testing.T) {
		env := newEngineEnv(t)
		cur := env.bundle(env.base())
		env.install(cur)
		c := env.base()
		c.servers = append(c.servers, bundle.Server{Name: "s2", Params: "127.0.0.1:9002 no-such-keyword"})
		next := env.bundle(c)
		env.rt.failOn = "add server"
		out, err := env.apply(next)
		var ce *CheckError
		if !errors.As(err, &ce) || out.Action != ActionReload {
			t.Fatalf("apply: %+v %v, want a CheckError", out, err)
		}
		if len(ce.Problems) == 0 || ce.Problems[0].Path != bundle.ConfigFile {
			t.Errorf("problems %+v, want haproxy.cfg's line", ce.Problems)
		}
		if env.rl.count() != 0 {
			t.Error("a configuration haproxy -c refused was reloaded")
		}
		env.onDisk("after the refusal", cur)
		if env.e.Current() != cur {
			t.Error("the engine forgot what runs")
		}
		if out, err := env.apply(cur); err != nil || out.Action != ActionNone {
			t.Errorf("what runs, again: %v %v (nothing of the change ran: no reload is due)", out, err)
		}
	})
}

// A reload that fails writes the previous files back: the folder holds
// what HAProxy runs, files added by the failed change removed and files
// it removed restored.
func TestEngineRestoresFilesAfterAFailedReload(t *testing.T) {
	env := newEngineEnv(t)
	c := env.base()
	c.files = map[string]string{"cas/old.pem": "OLD"}
	cur := env.bundle(c)
	env.install(cur)

	c = env.base()
	c.extra = "http-request set-header X-Change 1"
	c.files = map[string]string{"cas/new.pem": "NEW"}
	next := env.bundle(c)
	env.rl.answer(errors.New("the new worker did not start"))
	env.rl.seen = func() { env.onDisk("at the reload", next) }
	out, err := env.apply(next)
	if err == nil || out.Action != ActionReload {
		t.Fatalf("apply: %+v %v, want the reload's error", out, err)
	}
	env.rl.seen = nil
	env.onDisk("after the failed reload", cur)
	if env.e.Current() != cur {
		t.Error("the engine forgot what runs")
	}
	// The old configuration runs, whole: nothing to do for it.
	if out, err := env.apply(cur); err != nil || out.Action != ActionNone {
		t.Errorf("what runs, again: %v %v", out, err)
	}
}

// After a runtime change applied in part, HAProxy may run something the
// files do not say: the next apply reloads, even of the Bundle the
// engine believes runs, until a reload succeeds.
func TestEngineReloadsAfterAPartialRuntimeChange(t *testing.T) {
	env := newEngineEnv(t)
	cur := env.bundle(env.base())
	env.install(cur)
	c := env.base()
	c.cert = env.certB // applied first
	c.servers = append(c.servers, bundle.Server{Name: "s2", Params: "127.0.0.1:9002"})
	next := env.bundle(c)
	env.rt.failOn = "add server"
	env.rl.answer(errors.New("the new worker did not start"))
	if out, err := env.apply(next); err == nil || out.Action != ActionReload {
		t.Fatalf("apply: %+v %v, want the reload's error", out, err)
	}
	if log := env.rt.log(); len(log) < 2 || !strings.HasPrefix(log[1], "commit ssl cert") {
		t.Fatalf("the certificate was not changed before the refusal: %q", log)
	}
	env.onDisk("after the failed reload", cur)

	env.rt.failOn = ""
	env.rl.answer(nil)
	reloads := env.rl.count()
	out, err := env.apply(cur)
	if err != nil || out.Action != ActionReload || !strings.Contains(strings.Join(out.Reasons, "; "), "may differ") {
		t.Fatalf("apply of what runs after a partial change: %+v %v, want a reload", out, err)
	}
	if env.rl.count() != reloads+1 {
		t.Error("no reload")
	}
	if out, err := env.apply(cur); err != nil || out.Action != ActionNone {
		t.Errorf("after the reload: %v %v", out, err)
	}
}

// A reload the master never received (it does not answer) keeps the new,
// checked files, so that a master started meanwhile runs them; the next
// apply reloads.
func TestEngineReloadNotSentKeepsTheNewFiles(t *testing.T) {
	env := newEngineEnv(t)
	cur := env.bundle(env.base())
	env.install(cur)
	c := env.base()
	c.extra = "http-request set-header X-Change 1"
	next := env.bundle(c)
	env.rl.answer(fmt.Errorf("%w: connection refused", ErrReloadNotSent))
	out, err := env.apply(next)
	if !errors.Is(err, ErrReloadNotSent) || out.Action != ActionReload {
		t.Fatalf("apply: %+v %v", out, err)
	}
	env.onDisk("after the reload not sent", next)
	if env.e.Current() != next {
		t.Error("the engine does not take the new files as current")
	}
	env.rl.answer(nil)
	if out, err := env.apply(next); err != nil || out.Action != ActionReload {
		t.Errorf("the next apply: %+v %v, want a reload", out, err)
	}
	if out, err := env.apply(next); err != nil || out.Action != ActionNone {
		t.Errorf("after the reload: %v %v", out, err)
	}
}

// Install removes what an earlier run left in the folders the Bundle
// owns, and nothing else; InstallExisting takes the folder as it is
// (without a State, so any change to it reloads).
func TestEngineInstall(t *testing.T) {
	env := newEngineEnv(t)
	for p, content := range map[string]string{"certs/deleted.pem": "KEY", "maps/old.map": "x y\n", "notes.txt": "mine"} {
		full := filepath.Join(env.dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cur := env.bundle(env.base())
	env.install(cur)
	for p, want := range map[string]bool{"certs/deleted.pem": false, "maps/old.map": false, "notes.txt": true, "certs/a.pem": true} {
		if _, err := os.Stat(filepath.Join(env.dir, p)); (err == nil) != want {
			t.Errorf("%s: present=%v, want %v", p, err == nil, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(env.dir, "certs")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("certs/: %v %v, want mode 0700", fi.Mode(), err)
	}
	if err := os.Remove(filepath.Join(env.dir, "notes.txt")); err != nil {
		t.Fatal(err)
	}

	if err := env.e.InstallExisting(context.Background()); err != nil {
		t.Fatalf("InstallExisting: %v", err)
	}
	if env.e.Current().State != nil {
		t.Error("a Bundle read from disk has a State")
	}
	if out, err := env.apply(cur); err != nil || out.Action != ActionNone {
		t.Errorf("the same files: %+v %v", out, err)
	}
	c := env.base()
	c.cert = env.certB
	out, err := env.apply(env.bundle(c))
	if err != nil || out.Action != ActionReload {
		t.Errorf("a rotation over a configuration read from disk: %+v %v, want a reload", out, err)
	}
}
