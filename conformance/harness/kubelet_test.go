package harness

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestStampedLogFilter(t *testing.T) {
	var log bytes.Buffer
	w := newStampWriter(&log)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0
	w.now = func() time.Time { return now }
	_, _ = w.Write([]byte("one\ntw"))
	now = t0.Add(2 * time.Second)
	_, _ = w.Write([]byte("o\nthree\n"))
	if got, want := log.String(), "2026-01-02T03:04:05Z one\n2026-01-02T03:04:07Z two\n2026-01-02T03:04:07Z three\n"; got != want {
		t.Fatalf("stamped log:\n%s\nwant:\n%s", got, want)
	}
	for _, c := range []struct {
		query map[string][]string
		want  string
	}{
		{nil, "one\ntwo\nthree\n"},
		{map[string][]string{"sinceTime": {"2026-01-02T03:04:06Z"}}, "two\nthree\n"},
		{map[string][]string{"tailLines": {"1"}, "timestamps": {"true"}}, "2026-01-02T03:04:07Z three\n"},
		{map[string][]string{"limitBytes": {"6"}}, "one\ntw"},
	} {
		o, err := parseLogOptions(c.query)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if err := filterLog(&out, strings.NewReader(log.String()), o); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("%v: %q, want %q", c.query, out.String(), c.want)
		}
	}
	if _, err := parseLogOptions(map[string][]string{"sinceTime": {"yesterday"}}); err == nil {
		t.Error("a bad sinceTime is accepted")
	}
}
