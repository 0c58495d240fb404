package render

// Name checks without regular expressions: every route of every render
// goes through them (Kubernetes' validation package uses regexps, ten
// times slower). names_test.go checks they agree with it.

// isDNS1123Label reports whether s is a DNS-1123 label: at most 63
// lower-case letters, digits and '-', starting and ending alphanumeric.
func isDNS1123Label(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// isDNS1123Subdomain reports whether s is a DNS-1123 subdomain: at most
// 253 characters, dot-separated labels of lower-case letters, digits and
// '-', each starting and ending alphanumeric (labels may be longer than
// 63: Kubernetes does not limit them here).
func isDNS1123Subdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		// A label s[start:i].
		if i == start || s[start] == '-' || s[i-1] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// isPathChars reports whether p is "/" followed by the characters a path
// may hold unescaped (RFC 3986 pchar and '/').
func isPathChars(p string) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
		default:
			switch c {
			case '/', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '%', '-':
			default:
				return false
			}
		}
	}
	return true
}
