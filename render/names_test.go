package render

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The checks agree with Kubernetes' validation and the path expression.
func FuzzNameChecks(f *testing.F) {
	for _, s := range []string{"", "a", "a-b", "-a", "a-", "a.b", "a..b", ".a", "a.", "A", "a_b", "1.2.3", "/", "/a b", "/a%2e", "/ü", "xn--bcher-kva.example",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isDNS1123Label(s), len(validation.IsDNS1123Label(s)) == 0; got != want {
			t.Errorf("isDNS1123Label(%q) = %v, Kubernetes says %v", s, got, want)
		}
		if got, want := isDNS1123Subdomain(s), len(validation.IsDNS1123Subdomain(s)) == 0; got != want {
			t.Errorf("isDNS1123Subdomain(%q) = %v, Kubernetes says %v", s, got, want)
		}
		if got, want := isPathChars(s), pathRE.MatchString(s); got != want {
			t.Errorf("isPathChars(%q) = %v, the expression says %v", s, got, want)
		}
	})
}
