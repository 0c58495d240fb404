package haproxy

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hagate.io/hagate/haproxy/bundle"
)

const ticketsPath = "tickets/tls-ticket-keys"

// ticketKey is a dummy key of size bytes, all b.
func ticketKey(b byte, size int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, size))
}

func ticketFile(keys ...string) string { return strings.Join(keys, "\n") + "\n" }

func TestDiffTicketKeys(t *testing.T) {
	a, b, c, d, e := ticketKey('a', 80), ticketKey('b', 80), ticketKey('c', 80), ticketKey('d', 80), ticketKey('e', 80)
	for _, tc := range []struct {
		name     string
		old, new string
		want     []string // keys set, in order
		reload   string   // part of the reason
	}{
		{name: "one rotation", old: ticketFile(a, b, c), new: ticketFile(b, c, d), want: []string{d}},
		{name: "two rotations", old: ticketFile(a, b, c), new: ticketFile(c, d, e), want: []string{d, e}},
		{name: "more keys than HAProxy uses", old: ticketFile(a, b, c, d), new: ticketFile(b, c, d, e), want: []string{e}},
		{name: "blank lines and CRLF", old: ticketFile(a, b, c), new: "\n" + b + "\r\n" + c + "\r\n\n" + d + "\n", want: []string{d}},
		{name: "replaced", old: ticketFile(a, b, c), new: ticketFile(d, e, a), reload: "replaced, not rotated"},
		{name: "all new", old: ticketFile(a, b, c), new: ticketFile(d, e, ticketKey('f', 80)), reload: "replaced"},
		{name: "reordered", old: ticketFile(a, b, c), new: ticketFile(b, a, c), reload: "replaced"},
		{name: "a key added", old: ticketFile(a, b, c), new: ticketFile(a, b, c, d), reload: "number of keys"},
		{name: "a key dropped", old: ticketFile(a, b, c), new: ticketFile(b, c), reload: "number of keys"},
		{name: "another size", old: ticketFile(a, b, c), new: ticketFile(b, c, ticketKey('d', 48)), reload: "one size"},
		{name: "not base64", old: ticketFile(a, b, c), new: ticketFile(b, c, "not base64!"), reload: "one size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, why := diffTicketKeys([]byte(tc.old), []byte(tc.new), "/etc/hagate/"+ticketsPath)
			if tc.reload != "" {
				if why == "" || !strings.Contains(why, tc.reload) || ops != nil {
					t.Fatalf("got ops %v, reason %q; want a reload (%q)", ops, why, tc.reload)
				}
				return
			}
			if why != "" {
				t.Fatalf("reload: %s", why)
			}
			var got []string
			for _, o := range ops {
				if o.Kind != OpTLSKey || o.File != "/etc/hagate/"+ticketsPath {
					t.Errorf("op %v", o)
				}
				got = append(got, o.Value)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("keys set %d, want %d (or not in order)", len(got), len(tc.want))
			}
		})
	}
}

// ticketBundle is the plan tests' base Bundle with a keys file its bind
// reads.
func ticketBundle(keys string) *bundle.Bundle {
	m := base()
	m["haproxy.cfg"] = strings.Replace(baseCfg, "https-443.crt-list\n", "https-443.crt-list tls-ticket-keys /etc/hagate/"+ticketsPath+"\n", 1)
	if keys != "" {
		m[ticketsPath] = keys
	}
	b := files(m)
	if keys != "" {
		b.Get(ticketsPath).Mode = 0o600
		b.State.TicketKeys = []string{ticketsPath}
	}
	return b
}

func TestMakePlanTicketKeys(t *testing.T) {
	a, b, c, d := ticketKey('a', 80), ticketKey('b', 80), ticketKey('c', 80), ticketKey('d', 80)
	cur := ticketBundle(ticketFile(a, b, c))

	p := MakePlan(cur, ticketBundle(ticketFile(b, c, d)), root)
	if p.Reload || len(p.Ops) != 1 || p.Ops[0].Kind != OpTLSKey || p.Ops[0].Value != d {
		t.Fatalf("a rotation: %+v", p)
	}
	if s := p.Ops[0].String(); s != "tls-key /etc/hagate/"+ticketsPath || strings.Contains(s, d) {
		t.Errorf("the op is described as %q: want its kind and file, never the key", s)
	}
	if k := p.Kinds(); k[OpTLSKey] != 1 {
		t.Errorf("kinds %v", k)
	}

	// With other runtime changes: the key first, the rest as before.
	next := ticketBundle(ticketFile(b, c, d))
	next.Add(&bundle.File{Path: "certs/default/foo.pem", Content: []byte("FOO2"), Mode: 0o600})
	p = MakePlan(cur, next, root)
	if p.Reload || ops(p) != "tls-key /etc/hagate/"+ticketsPath+"; cert-set /etc/hagate/certs/default/foo.pem" {
		t.Errorf("a rotation and a certificate: %s %v", ops(p), p.Reasons)
	}

	p = MakePlan(cur, ticketBundle(ticketFile(d, a, b)), root)
	if !p.Reload || !strings.Contains(strings.Join(p.Reasons, ";"), "replaced, not rotated") {
		t.Errorf("replaced keys: %+v", p)
	}
	for _, r := range p.Reasons {
		for _, k := range []string{a, b, c, d} {
			if strings.Contains(r, k) {
				t.Errorf("a reason quotes a key: %q", r)
			}
		}
	}

	// Tickets turned on or off: haproxy.cfg changes too, and the file
	// appears or vanishes.
	if p := MakePlan(ticketBundle(""), cur, root); !p.Reload {
		t.Errorf("keys appear: %+v", p)
	}
	if p := MakePlan(cur, ticketBundle(""), root); !p.Reload {
		t.Errorf("keys vanish: %+v", p)
	}
	if p := MakePlan(cur, ticketBundle(ticketFile(a, b, c)), root); !p.Empty() {
		t.Errorf("the same keys: %+v", p)
	}
}

// ticketRuntime answers "set ssl tls-key" as HAProxy 2.6 does.
type ticketRuntime struct {
	*fakeRuntime
	answer string
}

func (r *ticketRuntime) ExecuteRaw(command string) (string, error) {
	if !strings.HasPrefix(command, "set ssl tls-key ") {
		return r.fakeRuntime.ExecuteRaw(command)
	}
	f := strings.Fields(command)
	if err := r.do("set ssl tls-key %s %s", f[3], f[4]); err != nil {
		return "", err
	}
	return r.answer, nil
}

type countingObserver struct {
	mu      sync.Mutex
	updates map[string]int
}

func (o *countingObserver) Applied(string, time.Duration, error) {}
func (o *countingObserver) Reloaded()                            {}
func (o *countingObserver) RuntimeUpdates(kind string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.updates[kind] += n
}

// withTicketKeys adds a keys file to a test Bundle and the option to its
// bind.
func (env *engineEnv) withTicketKeys(b *bundle.Bundle, keys string) *bundle.Bundle {
	cfg := b.Get(bundle.ConfigFile)
	list := env.dir + "/crt-lists/f.crt-list"
	cfg.Content = bytes.Replace(cfg.Content, []byte(list+"\n"), []byte(list+" tls-ticket-keys "+env.dir+"/"+ticketsPath+"\n"), 1)
	b.Add(&bundle.File{Path: ticketsPath, Content: []byte(keys), Mode: 0o600})
	b.State.TicketKeys = []string{ticketsPath}
	b.State.Dirs = append(b.State.Dirs, "tickets/")
	return b
}

// A rotation of the keys file is a Runtime API change (set ssl tls-key,
// counted as "tls-key"), after the file is written; other key changes
// reload, and a refused key falls back to a checked reload.
func TestEngineRotatesTicketKeysAtRuntime(t *testing.T) {
	env := newEngineEnv(t)
	rt := &ticketRuntime{fakeRuntime: env.rt, answer: "TLS ticket key updated!\n\n"}
	obs := &countingObserver{updates: map[string]int{}}
	env.e = NewEngine(EngineOptions{ConfigDir: env.dir, StageDir: env.e.o.StageDir, Binary: env.e.o.Binary,
		Reloader: env.rl, Runtime: rt, Log: env.e.o.Log, Observer: obs})
	a, b, c, d := ticketKey('a', 80), ticketKey('b', 80), ticketKey('c', 80), ticketKey('d', 80)
	env.install(env.withTicketKeys(env.bundle(env.base()), ticketFile(a, b, c)))

	next := env.withTicketKeys(env.bundle(env.base()), ticketFile(b, c, d))
	keysFile := filepath.Join(env.dir, ticketsPath)
	env.rt.seen = func(call string) {
		if data, err := os.ReadFile(keysFile); err != nil || string(data) != ticketFile(b, c, d) {
			t.Errorf("%q is sent before the new keys are written", strings.Fields(call)[0])
		}
	}
	checks := env.checks()
	out, err := env.apply(next)
	if err != nil || out.Action != ActionRuntime {
		t.Fatalf("apply: %v %v", out, err)
	}
	env.rt.seen = nil
	if got, want := env.rt.log(), []string{"set ssl tls-key " + keysFile + " " + d}; !slices.Equal(got, want) {
		t.Errorf("Runtime API commands: %d, want set ssl tls-key of the new key", len(got))
	}
	if strings.Contains(strings.Join(out.Reasons, " "), d) {
		t.Error("the outcome quotes the key")
	}
	if env.rl.count() != 0 || env.checks() != checks || obs.updates["tls-key"] != 1 {
		t.Errorf("reloads %d, checks %d, runtime updates %v", env.rl.count(), env.checks()-checks, obs.updates)
	}
	if fi, err := os.Stat(keysFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("keys file: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(keysFile)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("keys folder: %v %v", fi.Mode(), err)
	}

	// Keys replaced: a checked reload.
	replaced := env.withTicketKeys(env.bundle(env.base()), ticketFile(a, ticketKey('x', 80), ticketKey('y', 80)))
	if out, err := env.apply(replaced); err != nil || out.Action != ActionReload || env.rl.count() != 1 {
		t.Fatalf("replaced keys: %v %v, %d reloads", out, err, env.rl.count())
	}

	// HAProxy refuses the key: a reload of the same files instead, and
	// the error does not quote the key.
	rt.answer = "'set ssl tls-key' received a key of wrong size.\n"
	rotated := env.withTicketKeys(env.bundle(env.base()), ticketFile(ticketKey('x', 80), ticketKey('y', 80), ticketKey('z', 80)))
	out, err = env.apply(rotated)
	if err != nil || out.Action != ActionReload || env.rl.count() != 2 {
		t.Fatalf("refused key: %v %v, %d reloads", out, err, env.rl.count())
	}
	if r := strings.Join(out.Reasons, " "); !strings.Contains(r, "wrong size") || strings.Contains(r, ticketKey('z', 80)) {
		t.Errorf("reasons %q", r)
	}
}
