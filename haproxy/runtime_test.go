package haproxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haproxytech/client-native/v6/runtime"
	"github.com/haproxytech/client-native/v6/runtime/options"

	"hagate.io/hagate/internal/testutil/haproxytest"
)

// TestMapEntriesOnRealHAProxy adds, changes and deletes entries of a
// running map one by one, keys with a semicolon and a backslash included.
func TestMapEntriesOnRealHAProxy(t *testing.T) {
	rt, mapFile, get := mapHAProxy(t, "a.example.com one\nb.example.com two\n")
	ops := []Op{
		{Kind: OpMapAdd, File: mapFile, Content: []byte("c.example.com three\nd;x.example.com four\ne\\x.example.com five\n")},
		{Kind: OpMapSet, File: mapFile, Key: "a.example.com", Value: "uno"},
		{Kind: OpMapDel, File: mapFile, Key: "b.example.com"},
	}
	e := &Engine{o: EngineOptions{Runtime: rt}}
	if n, err := e.runtime(&Plan{Ops: ops}); err != nil {
		t.Fatalf("after %d ops: %v", n, err)
	}
	for host, want := range map[string]string{"a.example.com": "uno", "b.example.com": "none", "c.example.com": "three"} {
		if got := get(host); got != want {
			t.Errorf("%s -> %q, want %q", host, got, want)
		}
	}
	if out, err := rt.ExecuteRaw("show map " + mapFile); err != nil || !strings.Contains(out, `e\x.example.com five`) || !strings.Contains(out, "d;x.example.com four") {
		t.Fatalf("map after the additions (%v):\n%s", err, out)
	}
	// Keys HAProxy's command line would split: deleted and set exactly.
	for _, o := range []Op{
		{Kind: OpMapSet, File: mapFile, Key: "d;x.example.com", Value: "cuatro"},
		{Kind: OpMapDel, File: mapFile, Key: `e\x.example.com`},
	} {
		if _, err := e.runtime(&Plan{Ops: []Op{o}}); err != nil {
			t.Fatalf("%s: %v", o, err)
		}
	}
	out, err := rt.ExecuteRaw("show map " + mapFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "d;x.example.com cuatro") || strings.Contains(out, `e\x.example.com`) || strings.Contains(out, "b.example.com") {
		t.Errorf("map after the changes:\n%s", out)
	}
	// A failing command is an error, not silence.
	if _, err := e.runtime(&Plan{Ops: []Op{{Kind: OpMapDel, File: mapFile + ".nope", Key: "a"}}}); err == nil {
		t.Error("deleting from a map HAProxy does not know worked")
	}
}

// mapHAProxy starts HAProxy answering each request with its host looked
// up in a map ("none" when absent); it returns the Runtime API, the map's
// path and a function sending a request for a host.
func mapHAProxy(t *testing.T, entries string) (runtime.Runtime, string, func(string) string) {
	t.Helper()
	dir := t.TempDir()
	port := haproxytest.FreePort(t)
	mapFile := filepath.Join(dir, "hosts.map")
	sock := filepath.Join(dir, "haproxy.sock")
	if err := os.WriteFile(mapFile, []byte(entries), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global
    stats socket %s mode 600 level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend f
    bind 127.0.0.1:%d
    http-request return status 200 content-type text/plain lf-string "%%[req.hdr(host),lower,map_str(%s,none)]"
`, sock, port, mapFile)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	haproxytest.Start(t, cfgPath, fmt.Sprintf("127.0.0.1:%d", port))
	// The frontend may answer before the stats socket is bound.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stats socket %s after 10s", sock)
		}
	}
	rt, err := runtime.New(context.Background(), options.Socket(sock))
	if err != nil {
		t.Fatal(err)
	}
	get := func(host string) string {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	return rt, mapFile, get
}

// TestReplaceMapOnRealHAProxy swaps a map's entries through the Runtime
// API, in order, and checks the lookups change.
func TestReplaceMapOnRealHAProxy(t *testing.T) {
	rt, mapFile, get := mapHAProxy(t, "a.example.com one\n")
	if got := get("a.example.com"); got != "one" {
		t.Fatalf("before: %q", got)
	}
	if err := replaceMap(rt, mapFile, []byte("b.example.com two\nc.example.com three\n")); err != nil {
		t.Fatalf("replaceMap: %v", err)
	}
	for host, want := range map[string]string{"a.example.com": "none", "b.example.com": "two", "c.example.com": "three"} {
		if got := get(host); got != want {
			t.Errorf("%s -> %q, want %q", host, got, want)
		}
	}

	// A map larger than the CLI buffer (16 kB), comments included, as
	// render writes them: every entry arrives.
	var big strings.Builder
	big.WriteString("# a comment line\n")
	for i := range 3000 {
		fmt.Fprintf(&big, "h%d.example.com value-%d\n", i, i)
	}
	if big.Len() < 64<<10 {
		t.Fatalf("the payload is only %d bytes", big.Len())
	}
	if err := replaceMap(rt, mapFile, []byte(big.String())); err != nil {
		t.Fatalf("replaceMap (large): %v", err)
	}
	for host, want := range map[string]string{"h0.example.com": "value-0", "h1500.example.com": "value-1500", "h2999.example.com": "value-2999", "b.example.com": "none"} {
		if got := get(host); got != want {
			t.Errorf("large map: %s -> %q, want %q", host, got, want)
		}
	}
}
