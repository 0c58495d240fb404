package render

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestFileName: the PEM file name of a Secret (or policy, or Gateway port)
// is its name when short, and no two valid names share a file name, so no
// listener is ever served another Secret's certificate.
func TestFileName(t *testing.T) {
	long := strings.Repeat("a", 180) + "." + strings.Repeat("b", 72) // 253, the longest name
	sum := sha256.Sum256([]byte(long))
	// A valid 197-character name spelling what the long name shortened to
	// before: name[:180] + "-" + 16 hex digits.
	lookalike := fmt.Sprintf("%s-%x", long[:180], sum[:8])
	if errs := validation.IsDNS1123Subdomain(lookalike); len(errs) > 0 {
		t.Fatalf("test name %q is not a valid Kubernetes name: %v", lookalike, errs)
	}
	if a, b := fileName(long), fileName(lookalike); a == b {
		t.Errorf("fileName(%q) = fileName(%q) = %q", long, lookalike, a)
	}

	// Every shortened name is unlike any literal one: it cannot be a
	// valid name plus ".pem".
	for _, n := range []string{long, strings.Repeat("x", 201), lookalike + strings.Repeat("c", 10)} {
		f := fileName(n)
		if len(validation.IsDNS1123Subdomain(strings.TrimSuffix(f, ".pem"))) == 0 {
			t.Errorf("fileName(%q) = %q: a literal name could map to it too", n, f)
		}
		if len(f) > 205 {
			t.Errorf("fileName(%q) = %q: %d characters, want at most 205", n, f, len(f))
		}
	}

	// Long names sharing their first 180 characters differ.
	prefix := strings.Repeat("p", 180)
	seen := map[string]string{}
	for _, n := range []string{
		prefix + strings.Repeat("b", 30),
		prefix + strings.Repeat("c", 30),
		prefix + strings.Repeat("b", 31),
		prefix + "-" + strings.Repeat("0", 72),
		prefix + "." + strings.Repeat("0", 72),
	} {
		f := fileName(n)
		if !strings.HasPrefix(f, prefix) || !strings.HasSuffix(f, ".pem") {
			t.Errorf("fileName(%q) = %q: want the first 180 characters and .pem", n, f)
		}
		if other, ok := seen[f]; ok {
			t.Errorf("fileName(%q) = fileName(%q) = %q", n, other, f)
		}
		seen[f] = n
	}

	// Ordinary names are unchanged: the file name is the name.
	for _, n := range []string{"web-tls", "a", "tls.example.com", strings.Repeat("z", 200), "gw-443"} {
		if got, want := fileName(n), n+".pem"; got != want {
			t.Errorf("fileName(%q) = %q, want %q", n, got, want)
		}
	}
}
