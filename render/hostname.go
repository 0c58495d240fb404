package render

import (
	"net"
	"strings"
)

// validHostname reports whether h is a lower-case DNS name, optionally
// with a leading "*." wildcard label, as Gateway API hostnames are. It is
// the check that lets a hostname reach haproxy.cfg, crt-lists and maps.
func validHostname(h string) bool {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || strings.Contains(name, "*") || net.ParseIP(name) != nil {
		return false
	}
	if !isDNS1123Subdomain(name) {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) > 63 {
			return false
		}
	}
	return true
}

// isWildcard reports whether h is a "*.suffix" hostname.
func isWildcard(h string) bool { return strings.HasPrefix(h, "*.") }

// hostMatches reports whether pattern (exact, "*.suffix" or "" for any)
// matches the exact host h. A wildcard matches one or more labels.
func hostMatches(pattern, h string) bool {
	switch {
	case pattern == "":
		return true
	case isWildcard(pattern):
		return strings.HasSuffix(h, pattern[1:]) && len(h) > len(pattern)-1
	default:
		return pattern == h
	}
}

// covers reports whether every host matched by inner is also matched by
// outer. Both are exact, "*.suffix" or "" (any).
func covers(outer, inner string) bool {
	switch {
	case outer == "":
		return true
	case inner == "":
		return false
	case isWildcard(inner):
		if !isWildcard(outer) {
			return false
		}
		return inner == outer || strings.HasSuffix(inner[1:], outer[1:])
	default:
		return hostMatches(outer, inner)
	}
}

// intersect returns the hostnames a route hostname and a listener hostname
// have in common, as the more specific of the two, and whether they have
// any. Empty strings mean "any".
func intersect(listener, route string) (string, bool) {
	switch {
	case covers(listener, route):
		return route, true
	case covers(route, listener):
		return listener, true
	default:
		return "", false
	}
}

// hostRank orders hostnames from most to least specific: exact names,
// then wildcards with more labels, then the catch-all.
func hostRank(h string) (class int, labels int) {
	switch {
	case h == "":
		return 2, 0
	case isWildcard(h):
		return 1, -strings.Count(h, ".")
	default:
		return 0, 0
	}
}

// moreSpecific reports whether hostname a must be matched before b.
func moreSpecific(a, b string) bool {
	ca, la := hostRank(a)
	cb, lb := hostRank(b)
	if ca != cb {
		return ca < cb
	}
	if la != lb {
		return la < lb
	}
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a < b
}
