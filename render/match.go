package render

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// headerNameRE is the header and query parameter names hagate writes into
// haproxy.cfg: RFC 7230 tokens without the characters HAProxy's parser
// gives a meaning to ('#', '$', '\”, '`').
var headerNameRE = regexp.MustCompile(`^[A-Za-z0-9!%&*+.^_|~-]+$`)

// pathRE is the paths hagate accepts: absolute, printable, without
// whitespace, '#' or '?'.
var pathRE = regexp.MustCompile(`^/[A-Za-z0-9/._~!$&'()*+,;=:@%-]*$`)

func checkHeaderName(what, n string) error {
	if !headerNameRE.MatchString(n) || len(n) > 256 {
		return fmt.Errorf("%s name %q is not a token hagate can match (letters, digits and !%%&*+.^_|~-)", what, n)
	}
	return nil
}

// checkValue accepts printable values: no control characters (tab aside),
// nothing that could end a header line or a configuration line.
func checkValue(what, v string) error {
	for _, r := range v {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return fmt.Errorf("%s %q holds a control character", what, v)
		}
	}
	if v == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(v) > 4096 {
		return fmt.Errorf("%s is longer than 4096 bytes", what)
	}
	return nil
}

func checkPath(what, p string) error {
	if !isPathChars(p) || len(p) > 1024 {
		return fmt.Errorf("%s %q is not an absolute path of printable characters without whitespace, '#' or '?'", what, p)
	}
	return nil
}

// pcreUnsafeRE finds regular-expression constructs that Go's RE2 accepts
// and PCRE2 refuses or reads otherwise.
var pcreUnsafeRE = regexp.MustCompile(`\\x\{|\\[pPQEC]|\\[dDwWsS]-[^\]]|[^\\]-\\[dDwWsS]`)

func checkRegex(what, re string) error {
	if err := checkValue(what, re); err != nil {
		return err
	}
	if re == "{" || re == "}" {
		return fmt.Errorf("%s %q cannot be matched", what, re)
	}
	if _, err := regexp.Compile(re); err != nil {
		return fmt.Errorf("%s %q is not a valid regular expression: %v", what, re, err)
	}
	// HAProxy compiles with PCRE2: keep to what both RE2 and PCRE2 read
	// the same way.
	for _, r := range re {
		if r > 0x7e {
			return fmt.Errorf("%s %q holds a non-ASCII character", what, re)
		}
	}
	if pcreUnsafeRE.MatchString(re) {
		return fmt.Errorf("%s %q uses a construct HAProxy's PCRE2 reads differently (\\x{...}, \\p, \\Q, or a class shorthand as a range end)", what, re)
	}
	return nil
}

// normPrefix strips the trailing slash of a PathPrefix value, as the
// Gateway API ignores it; "/" becomes "".
func normPrefix(p string) string {
	return strings.TrimRight(p, "/")
}

// compileMatch checks one HTTPRouteMatch.
func compileMatch(m gwapiv1.HTTPRouteMatch) (ir.Match, error) {
	var im ir.Match
	if m.Path != nil {
		typ := gwapiv1.PathMatchPathPrefix
		if m.Path.Type != nil {
			typ = *m.Path.Type
		}
		val := "/"
		if m.Path.Value != nil {
			val = *m.Path.Value
		}
		switch typ {
		case gwapiv1.PathMatchExact:
			if err := checkPath("path", val); err != nil {
				return im, err
			}
			im.PathExact = val
		case gwapiv1.PathMatchPathPrefix:
			if err := checkPath("path", val); err != nil {
				return im, err
			}
			im.PathPrefix = normPrefix(val)
		case gwapiv1.PathMatchRegularExpression:
			if err := checkRegex("path regular expression", val); err != nil {
				return im, err
			}
			im.PathRegex = val
		default:
			return im, fmt.Errorf("path match type %q is not supported (Exact, PathPrefix, RegularExpression are)", typ)
		}
	}
	if m.Method != nil {
		switch *m.Method {
		case "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH":
			im.Method = string(*m.Method)
		default:
			return im, fmt.Errorf("method %q is not an HTTP method", *m.Method)
		}
	}
	seen := map[string]bool{}
	for _, h := range m.Headers {
		if err := checkHeaderName("header", string(h.Name)); err != nil {
			return im, err
		}
		// The Gateway API says only the first match on a name counts.
		if seen[strings.ToLower(string(h.Name))] {
			continue
		}
		seen[strings.ToLower(string(h.Name))] = true
		sm, err := stringMatch("header "+string(h.Name), string(h.Name), h.Type, h.Value)
		if err != nil {
			return im, err
		}
		im.Headers = append(im.Headers, sm)
	}
	seen = map[string]bool{}
	for _, q := range m.QueryParams {
		if err := checkHeaderName("query parameter", string(q.Name)); err != nil {
			return im, err
		}
		if seen[string(q.Name)] {
			continue
		}
		seen[string(q.Name)] = true
		sm, err := stringMatch("query parameter "+string(q.Name), string(q.Name), q.Type, q.Value)
		if err != nil {
			return im, err
		}
		im.QueryParams = append(im.QueryParams, sm)
	}
	return im, nil
}

// stringMatch checks an Exact or RegularExpression condition. Header and
// query match types share their values.
func stringMatch[T ~string](what, name string, typ *T, value string) (ir.StringMatch, error) {
	sm := ir.StringMatch{Name: name, Value: value}
	t := "Exact"
	if typ != nil {
		t = string(*typ)
	}
	switch t {
	case "Exact":
		if value == "{" || value == "}" || value == "" {
			return sm, fmt.Errorf("%s value %q cannot be matched", what, value)
		}
		return sm, checkValue(what+" value", value)
	case "RegularExpression":
		sm.Regex = true
		return sm, checkRegex(what+" regular expression", value)
	}
	return sm, fmt.Errorf("%s match type %q is not supported", what, t)
}

// compileHeaderFilter checks a header modifier.
func compileHeaderFilter(f *gwapiv1.HTTPHeaderFilter) (*ir.HeaderModifier, error) {
	if f == nil {
		return nil, fmt.Errorf("header modifier filter has no configuration")
	}
	hm := &ir.HeaderModifier{}
	for _, h := range f.Set {
		if err := checkHeaderName("header", string(h.Name)); err != nil {
			return nil, err
		}
		if err := checkValue("header "+string(h.Name)+" value", h.Value); err != nil {
			return nil, err
		}
		hm.Set = append(hm.Set, ir.Header{Name: string(h.Name), Value: h.Value})
	}
	for _, h := range f.Add {
		if err := checkHeaderName("header", string(h.Name)); err != nil {
			return nil, err
		}
		if err := checkValue("header "+string(h.Name)+" value", h.Value); err != nil {
			return nil, err
		}
		hm.Add = append(hm.Add, ir.Header{Name: string(h.Name), Value: h.Value})
	}
	for _, n := range f.Remove {
		if err := checkHeaderName("header", n); err != nil {
			return nil, err
		}
		hm.Remove = append(hm.Remove, n)
	}
	return hm, nil
}

// checkRedirect checks a RequestRedirect filter.
func checkRedirect(f *gwapiv1.HTTPRequestRedirectFilter) error {
	if f == nil {
		return fmt.Errorf("RequestRedirect filter has no configuration")
	}
	if f.Scheme != nil && *f.Scheme != "http" && *f.Scheme != "https" {
		return fmt.Errorf("redirect scheme %q is not supported (http, https)", *f.Scheme)
	}
	if f.Hostname != nil && (!validHostname(string(*f.Hostname)) || isWildcard(string(*f.Hostname))) {
		return fmt.Errorf("redirect hostname %q is not a valid DNS name", *f.Hostname)
	}
	if f.Port != nil && (*f.Port < 1 || *f.Port > 65535) {
		return fmt.Errorf("redirect port %d is not a TCP port", *f.Port)
	}
	if f.StatusCode != nil {
		switch *f.StatusCode {
		case 301, 302, 303, 307, 308:
		default:
			return fmt.Errorf("redirect status code %d is not supported (301, 302, 303, 307, 308)", *f.StatusCode)
		}
	}
	return checkPathModifier(f.Path, "redirect")
}

// checkPathModifier checks the path modifier of a redirect or a rewrite
// (what); nil is none.
func checkPathModifier(p *gwapiv1.HTTPPathModifier, what string) error {
	if p == nil {
		return nil
	}
	switch p.Type {
	case gwapiv1.FullPathHTTPPathModifier:
		if p.ReplaceFullPath == nil {
			return fmt.Errorf("%s path of type ReplaceFullPath has no replaceFullPath", what)
		}
		return checkRedirectPath(*p.ReplaceFullPath, what)
	case gwapiv1.PrefixMatchHTTPPathModifier:
		if p.ReplacePrefixMatch == nil || *p.ReplacePrefixMatch == "" {
			return nil // "/": the prefix is removed
		}
		return checkRedirectPath(*p.ReplacePrefixMatch, what)
	default:
		return fmt.Errorf("%s path type %q is not supported", what, p.Type)
	}
}

// checkRewrite checks a URLRewrite filter: a hostname for the Host header
// and a path modifier, written into HAProxy arguments as redirects are.
func checkRewrite(f *gwapiv1.HTTPURLRewriteFilter) error {
	if f == nil {
		return fmt.Errorf("URLRewrite filter has no configuration")
	}
	if f.Hostname != nil && (!validHostname(string(*f.Hostname)) || isWildcard(string(*f.Hostname))) {
		return fmt.Errorf("rewrite hostname %q is not a valid DNS name", *f.Hostname)
	}
	return checkPathModifier(f.Path, "rewrite")
}

// checkPrefixReplace checks that a ReplacePrefixMatch path modifier
// (of a redirect or a rewrite: what) has PathPrefix matches only, whose
// values can be written into a regular expression.
func checkPrefixReplace(p *gwapiv1.HTTPPathModifier, allPrefix bool, prefixes []string, what string) error {
	if p.Type != gwapiv1.PrefixMatchHTTPPathModifier {
		return nil
	}
	if !allPrefix {
		return fmt.Errorf("a ReplacePrefixMatch %s needs every match of its rule to be a PathPrefix match", what)
	}
	for _, v := range prefixes {
		if v != "" && !safePrefixRE.MatchString(v) {
			return fmt.Errorf("path prefix %q of a ReplacePrefixMatch %s must be letters, digits and /._~-", v, what)
		}
	}
	return nil
}

// redirectPathRE keeps redirect paths to characters that mean nothing to
// HAProxy's argument parser and regsub (they end up inside %[...]).
var redirectPathRE = regexp.MustCompile(`^/[A-Za-z0-9/._~:@=&+-]*$`)

func checkRedirectPath(p, what string) error {
	if !redirectPathRE.MatchString(p) || len(p) > 1024 {
		return fmt.Errorf("%s path %q must be an absolute path of letters, digits and /._~:@=&+-", what, p)
	}
	return nil
}

// safePrefixRE is the PathPrefix values a ReplacePrefixMatch redirect can
// replace: they are written into a regular expression.
var safePrefixRE = regexp.MustCompile(`^/[A-Za-z0-9/._~-]*$`)

// canonicalIP parses an endpoint address.
func canonicalIP(s string) (string, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", false
	}
	return a.Unmap().String(), true
}

// serverName names a server after its endpoint, so that a server keeps
// its name (and its slot) for as long as the endpoint exists.
func serverName(addr string, port int32) string {
	return fmt.Sprintf("%s:%d", addr, port)
}
