package agent

import (
	"strings"
	"testing"
)

func TestMirrorCounters(t *testing.T) {
	out := "Pid: 41\nMaxInFlight: 256\nTimeoutMs: 5000\nCopies: 12\nAnswered: 9\nFailed: 1\nDropped: 2\nTooLarge: 0\nInFlight: 2\n" +
		"Mirror: default_a_80_mirror copies=10 answered=9 failed=1 dropped=0 too_large=0 inflight=0\n" +
		"Mirror: default_b_80_mirror copies=2 answered=0 failed=0 dropped=2 too_large=0 inflight=2\n"
	r, err := parseMirrors(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.pid != 41 || r.counts[mirrorKey{"default_a_80_mirror", "answered"}] != 9 || r.counts[mirrorKey{"default_b_80_mirror", "dropped"}] != 2 {
		t.Fatalf("parsed %+v", r)
	}
	if _, ok := r.counts[mirrorKey{"default_a_80_mirror", "copies"}]; ok {
		t.Error("copies is not a result")
	}
	var w mirrorCounters
	if g := w.grew(r); g[mirrorKey{"default_a_80_mirror", "answered"}] != 9 || len(g) != 3 {
		t.Errorf("first reading grew %v", g)
	}
	r2, _ := parseMirrors(strings.NewReader(strings.Replace(out, "answered=9", "answered=15", 1)))
	if g := w.grew(r2); len(g) != 1 || g[mirrorKey{"default_a_80_mirror", "answered"}] != 6 {
		t.Errorf("second reading grew %v", g)
	}
	// A new worker counts from zero.
	r3, _ := parseMirrors(strings.NewReader(strings.Replace(strings.Replace(out, "Pid: 41", "Pid: 42", 1), "answered=9", "answered=3", 1)))
	if g := w.grew(r3); g[mirrorKey{"default_a_80_mirror", "answered"}] != 3 {
		t.Errorf("new worker grew %v", g)
	}
	if _, err := parseMirrors(strings.NewReader("Unknown command: 'show hagate-mirror'\n")); err == nil {
		t.Error("an HAProxy without mirroring gives a reading")
	}
}
