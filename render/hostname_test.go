package render

import (
	"strings"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestHostnameHelpers(t *testing.T) {
	for _, tc := range []struct {
		outer, inner string
		want         bool
	}{
		{"", "foo.example.com", true},
		{"*.example.com", "foo.example.com", true},
		{"*.example.com", "a.b.example.com", true}, // wildcards span labels
		{"*.example.com", "example.com", false},
		{"*.example.com", "*.b.example.com", true},
		{"*.b.example.com", "*.example.com", false},
		{"foo.example.com", "*.example.com", false},
		{"*.ample.com", "foo.example.com", false}, // label boundaries
		{"foo.example.com", "", false},
	} {
		if got := covers(tc.outer, tc.inner); got != tc.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.outer, tc.inner, got, tc.want)
		}
	}
	for _, tc := range []struct {
		l, r, want string
		ok         bool
	}{
		{"*.example.com", "foo.example.com", "foo.example.com", true},
		{"foo.example.com", "*.example.com", "foo.example.com", true},
		{"*.example.com", "*.foo.example.com", "*.foo.example.com", true},
		{"foo.example.com", "bar.example.com", "", false},
		{"", "bar.example.com", "bar.example.com", true},
	} {
		got, ok := intersect(tc.l, tc.r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("intersect(%q, %q) = %q, %v; want %q, %v", tc.l, tc.r, got, ok, tc.want, tc.ok)
		}
	}
	order := []string{"foo.example.com", "*.foo.example.com", "*.example.com", ""}
	for i := 0; i+1 < len(order); i++ {
		if !moreSpecific(order[i], order[i+1]) || moreSpecific(order[i+1], order[i]) {
			t.Errorf("%q must come before %q", order[i], order[i+1])
		}
	}
	for h, want := range map[string]bool{
		"foo.example.com": true, "*.example.com": true, "Foo.example.com": false, "foo..com": false,
		"*": false, "a.*.com": false, "10.0.0.1": false, "foo bar": false, "x\ndeny": false,
	} {
		if got := validHostname(h); got != want {
			t.Errorf("validHostname(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestListenerIndexOwner(t *testing.T) {
	mk := func(h string) *listenerCtx { return &listenerCtx{hostname: h, name: h} }
	ls := []*listenerCtx{mk("foo.example.com"), mk("*.b.example.com"), mk("*.example.com"), mk("")}
	x := newListenerIndex(ls)
	for h, want := range map[string]string{
		"foo.example.com":   "foo.example.com",
		"a.b.example.com":   "*.b.example.com",
		"x.a.b.example.com": "*.b.example.com",
		"*.b.example.com":   "*.b.example.com",
		"*.c.example.com":   "*.example.com",
		"bar.example.com":   "*.example.com",
		"example.com":       "",
		"":                  "",
	} {
		if got := x.owner(h); got == nil || got.name != want {
			t.Errorf("owner(%q) = %v, want %q", h, got, want)
		}
	}
}

func TestValueChecksForPCREAndTLSOptions(t *testing.T) {
	for re, ok := range map[string]bool{
		`^/api/v[0-9]+$`: true, `^/\x{100}`: false, `^/[\d-z]`: false, `^/[a-\w]`: false, `\p{L}`: false, "^/é": false,
	} {
		if err := checkRegex("path", re); (err == nil) != ok {
			t.Errorf("checkRegex(%q) = %v, want ok=%v", re, err, ok)
		}
	}
	for v, ok := range map[string]bool{
		"ECDHE-RSA-AES128-GCM-SHA256:!aNULL": true, "!ALL": false, "-ALL": false, "HIGH:@SECLEVEL=5": false, "HIGH:@SECLEVEL=2": true,
	} {
		if err := checkCiphers(v); (err == nil) != ok {
			t.Errorf("checkCiphers(%q) = %v, want ok=%v", v, err, ok)
		}
	}
	if _, err := listenerTLSOptions(map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue{"hagate.io/ssl-max-ver": "TLSv1.0"}); err == nil {
		t.Error("ssl-max-ver TLSv1.0 alone (below the default minimum TLSv1.2) was accepted")
	}
	if got := fileName(strings.Repeat("a", 253)); len(got) > 255 {
		t.Errorf("file name of a long object name is %d bytes", len(got))
	}
}
