package harness

import "testing"

func TestRewritePaths(t *testing.T) {
	m := map[string]string{
		"/var/lib/hagate": "/tmp/hgc1/pod/volumes/state",
		"/etc/haproxy":    "/tmp/hgc1/pod/volumes/config",
		"/tmp":            "/tmp/hgc1/pod/volumes/tmp",
	}
	for in, want := range map[string]string{
		"--state-dir=/var/lib/hagate/state": "--state-dir=/tmp/hgc1/pod/volumes/state/state",
		"--config-dir=/etc/haproxy":         "--config-dir=/tmp/hgc1/pod/volumes/config",
		"/tmp/x":                            "/tmp/hgc1/pod/volumes/tmp/x",
		"while [ ! -S /etc/haproxy/s ]":     "while [ ! -S /tmp/hgc1/pod/volumes/config/s ]",
		"/etc/haproxyx":                     "/etc/haproxyx",
		"--x=/var/lib/hagate,/tmp":          "--x=/tmp/hgc1/pod/volumes/state,/tmp/hgc1/pod/volumes/tmp",
	} {
		if got := rewritePaths(in, m); got != want {
			t.Errorf("rewritePaths(%q) = %q, want %q", in, got, want)
		}
	}
}
