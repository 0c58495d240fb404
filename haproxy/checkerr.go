package haproxy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"hagate.io/hagate/haproxy/bundle"
)

// CheckError is HAProxy refusing a configuration (`haproxy -c`): what it
// said, and each complaint located in the Bundle where HAProxy points,
// so that the caller can trace it to the object responsible.
type CheckError struct {
	// Output is what haproxy -c printed, paths relative to the
	// configuration root.
	Output string
	// Problems are HAProxy's alerts, in order.
	Problems []Problem
	err      error
}

// Problem is one alert of HAProxy's about a configuration.
type Problem struct {
	// Path is the Bundle path the alert is most precisely about: a
	// certificate or CA file it could not load, else the crt-list or
	// haproxy.cfg line it could not parse; "" when it names no file of
	// the Bundle.
	Path string
	// Line is the 1-based line of Path; 0 for a whole file.
	Line int
	// Message is HAProxy's message, paths relative to the root.
	Message string
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("the new configuration is refused by haproxy -c (nothing changed): %v\n%s", e.err, e.Output)
}

func (e *CheckError) Unwrap() error { return e.err }

var (
	alertPrefix  = regexp.MustCompile(`^\[ALERT\]\s+\(\d+\)\s*:\s*(config\s*:\s*)?`)
	fileLineRef  = regexp.MustCompile(`\[([^\[\]\s]+):(\d+)\]`)
	crtListLine  = regexp.MustCompile(`error processing line (\d+) in file '([^']+)'`)
	summaryLines = []string{"Error(s) found in configuration file", "Fatal errors found in configuration"}
)

// parseCheck reads haproxy -c output for the Bundle b staged in root:
// every alert, with the Bundle file and line it is about.
func parseCheck(out, root string, b *bundle.Bundle, err error) *CheckError {
	files := newBundleFiles(b)
	root = strings.TrimSuffix(root, "/") + "/"
	rel := strings.ReplaceAll(out, root, "")
	ce := &CheckError{Output: strings.TrimSpace(rel), err: err}
	for _, line := range strings.Split(rel, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[ALERT]") || summary(line) {
			continue
		}
		msg := alertPrefix.ReplaceAllString(line, "")
		ce.Problems = append(ce.Problems, files.locate(msg))
	}
	return ce
}

func summary(line string) bool {
	for _, s := range summaryLines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// bundleFiles are the kinds of a Bundle's files, as its State says; a
// Bundle without a State (read from disk) has every file but haproxy.cfg
// taken for what an alert names it as.
type bundleFiles struct {
	b     *bundle.Bundle
	kinds map[string]fileKind
}

func newBundleFiles(b *bundle.Bundle) bundleFiles {
	f := bundleFiles{b: b}
	if b != nil && b.State != nil {
		f.kinds = kinds(b.State)
	}
	return f
}

// is reports whether path is a file of the Bundle of one of the kinds.
func (f bundleFiles) is(path string, kinds ...fileKind) bool {
	if f.b == nil || path == bundle.ConfigFile || f.b.Get(path) == nil {
		return false
	}
	if f.kinds == nil {
		return true
	}
	return slices.Contains(kinds, f.kinds[path])
}

// locate finds what an alert is about, most precise first: a certificate
// or CA file named anywhere in it, then a crt-list line, then the last
// [file:line] it names. Paths are already relative: a path that is still
// absolute is not the Bundle's.
func (f bundleFiles) locate(msg string) Problem {
	p := Problem{Message: msg}
	for _, tok := range strings.FieldsFunc(msg, func(r rune) bool {
		return r == ' ' || r == '\'' || r == '"' || r == '<' || r == '>' || r == '(' || r == ')' || r == ','
	}) {
		tok = strings.TrimRight(tok, ".:")
		if f.is(tok, kindCert, kindCAFile) {
			p.Path = tok
			return p
		}
	}
	if m := crtListLine.FindStringSubmatch(msg); m != nil && f.is(m[2], kindCrtList) {
		p.Path = m[2]
		p.Line, _ = strconv.Atoi(m[1])
		return p
	}
	// The last reference is the innermost: a crt-list line inside the
	// haproxy.cfg line that loads it.
	refs := fileLineRef.FindAllStringSubmatch(msg, -1)
	for i := len(refs) - 1; i >= 0; i-- {
		if path := refs[i][1]; !strings.HasPrefix(path, "/") {
			p.Path = path
			p.Line, _ = strconv.Atoi(refs[i][2])
			return p
		}
	}
	return p
}
