package pipeline

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The "# expect:" lines of golden inputs: the syntax is documented at the
// top of golden_test.go.

// expectPrefix starts an assertion line in a golden input.
const expectPrefix = "# expect:"

// expectation is one "# expect:" line of a golden input.
type expectation struct {
	// line is the line number in in.yaml.
	line int
	// text is what follows "# expect:".
	text string
	// check verifies it against a case's output files; nil error when it
	// holds.
	check func(out map[string][]byte) error
}

// parseExpectations reads the "# expect:" lines of a golden input. A line
// that starts with "# expect" but does not parse is an error, so that a
// typo never turns an assertion into a comment.
func parseExpectations(in []byte) ([]expectation, error) {
	var out []expectation
	sc := bufio.NewScanner(bytes.NewReader(in))
	sc.Buffer(make([]byte, 1024*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, expectPrefix); ok {
			text := strings.TrimSpace(rest)
			check, err := parseExpectation(text)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: %w", n, line, err)
			}
			out = append(out, expectation{line: n, text: text, check: check})
			continue
		}
		if body := strings.TrimSpace(strings.TrimPrefix(line, "#")); strings.HasPrefix(strings.ToLower(body), "expect") && !strings.HasPrefix(body, "Expected") {
			return nil, fmt.Errorf("line %d: %q looks like an assertion but does not start with %q", n, line, expectPrefix)
		}
	}
	return out, sc.Err()
}

// tokenize splits an assertion into words and Go-quoted strings (returned
// unquoted, marked by quoted[i]).
func tokenize(s string) (words []string, quoted []bool, err error) {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return words, quoted, nil
		}
		if s[0] == '"' || s[0] == '`' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, nil, fmt.Errorf("bad quoted string at %q", s)
			}
			u, _ := strconv.Unquote(q)
			words, quoted = append(words, u), append(quoted, true)
			s = s[len(q):]
			continue
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		words, quoted = append(words, s[:i]), append(quoted, false)
		s = s[i:]
	}
}

// tokens walks the words of one assertion.
type tokens struct {
	words  []string
	quoted []bool
	i      int
}

func (t *tokens) done() bool { return t.i >= len(t.words) }

// peek returns the next bare word ("" at the end or before a quoted one).
func (t *tokens) peek() string {
	if t.done() || t.quoted[t.i] {
		return ""
	}
	return t.words[t.i]
}

// word takes the next bare word.
func (t *tokens) word(what string) (string, error) {
	if t.done() || t.quoted[t.i] {
		return "", fmt.Errorf("want %s", what)
	}
	t.i++
	return t.words[t.i-1], nil
}

// quote takes the next quoted string.
func (t *tokens) quote(what string) (string, error) {
	if t.done() || !t.quoted[t.i] {
		return "", fmt.Errorf("want %s as a quoted string", what)
	}
	t.i++
	return t.words[t.i-1], nil
}

// accept takes the next word when it is w.
func (t *tokens) accept(w string) bool {
	if t.peek() == w {
		t.i++
		return true
	}
	return false
}

func (t *tokens) end() error {
	if !t.done() {
		return fmt.Errorf("unexpected %q", t.words[t.i])
	}
	return nil
}

func parseExpectation(text string) (func(map[string][]byte) error, error) {
	words, quoted, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	t := &tokens{words: words, quoted: quoted}
	switch {
	case t.accept("condition"):
		return parseCondition(t, false)
	case t.accept("no"):
		switch {
		case t.accept("condition"):
			return parseCondition(t, true)
		case t.accept("status"):
			return parseNoStatus(t)
		}
		return nil, fmt.Errorf(`want "no condition" or "no status"`)
	case t.accept("attachedRoutes"):
		return parseListenerField(t, "attachedRoutes")
	case t.accept("supportedKinds"):
		return parseListenerField(t, "supportedKinds")
	}
	return parseFile(t)
}

// parseFile: <file> contains "<text>" [<N> times] | <file> lacks "<text>"
// | <file> exists | <file> absent.
func parseFile(t *tokens) (func(map[string][]byte) error, error) {
	file, err := t.word("an output file, condition, no, attachedRoutes or supportedKinds")
	if err != nil {
		return nil, err
	}
	verb, err := t.word("contains, lacks, exists or absent")
	if err != nil {
		return nil, err
	}
	switch verb {
	case "exists", "absent":
		if err := t.end(); err != nil {
			return nil, err
		}
		return func(out map[string][]byte) error {
			_, ok := out[file]
			if ok != (verb == "exists") {
				return fmt.Errorf("%s is %s", file, map[bool]string{true: "there", false: "not there"}[ok])
			}
			return nil
		}, nil
	case "contains", "lacks":
	default:
		return nil, fmt.Errorf("unknown verb %q: want contains, lacks, exists or absent", verb)
	}
	text, err := t.quote("the text")
	if err != nil {
		return nil, err
	}
	if text == "" {
		return nil, fmt.Errorf("empty text")
	}
	times := -1
	if verb == "contains" && !t.done() {
		n, err := t.word("<N> times")
		if err != nil {
			return nil, err
		}
		if times, err = strconv.Atoi(n); err != nil || times < 0 || !t.accept("times") {
			return nil, fmt.Errorf("want <N> times after the text")
		}
	}
	if err := t.end(); err != nil {
		return nil, err
	}
	return func(out map[string][]byte) error {
		content, ok := out[file]
		if !ok {
			return fmt.Errorf("no output file %s", file)
		}
		n := strings.Count(string(content), text)
		switch {
		case verb == "lacks" && n > 0:
			return fmt.Errorf("%s contains it (%d times): %s", file, n, linesWith(content, text))
		case verb == "contains" && times < 0 && n == 0:
			return fmt.Errorf("%s does not contain it", file)
		case verb == "contains" && times >= 0 && n != times:
			return fmt.Errorf("%s contains it %d times: %s", file, n, linesWith(content, text))
		}
		return nil
	}, nil
}

// linesWith quotes the lines of content holding text (at most 5).
func linesWith(content []byte, text string) string {
	var lines []string
	for _, l := range strings.Split(string(content), "\n") {
		if strings.Contains(l, text) {
			lines = append(lines, strconv.Quote(strings.TrimSpace(l)))
		}
	}
	if len(lines) > 5 {
		lines = append(lines[:5], "...")
	}
	return strings.Join(lines, ", ")
}

// objectRef names an object of status.yaml.
type objectRef struct {
	kind, namespace, name string
}

func (o objectRef) String() string {
	if o.namespace == "" {
		return o.kind + " " + o.name
	}
	return o.kind + " " + o.namespace + "/" + o.name
}

// scope narrows an object to one listener, parent or ancestor entry.
type scope struct {
	// what is "", "listener", "parent" or "ancestor".
	what string
	// name is the listener name, or the parent's or ancestor's name.
	name string
	// namespace is the parent's or ancestor's namespace ("" for the
	// object's own).
	namespace string
	// section and port narrow a parent.
	section string
	port    int
}

func (s scope) String() string {
	switch s.what {
	case "":
		return ""
	case "listener":
		return " listener " + s.name
	}
	r := " " + s.what + " "
	if s.namespace != "" {
		r += s.namespace + "/"
	}
	r += s.name
	if s.section != "" {
		r += " section " + s.section
	}
	if s.port != 0 {
		r += " port " + strconv.Itoa(s.port)
	}
	return r
}

// parseObject: <Kind> <namespace>/<name> | <Kind> <name> (cluster-scoped).
func parseObject(t *tokens) (objectRef, error) {
	kind, err := t.word("a kind")
	if err != nil {
		return objectRef{}, err
	}
	ref, err := t.word("namespace/name")
	if err != nil {
		return objectRef{}, err
	}
	o := objectRef{kind: kind, name: ref}
	if ns, name, ok := strings.Cut(ref, "/"); ok {
		o.namespace, o.name = ns, name
	}
	return o, nil
}

// parseScope: [listener <name> | parent [<ns>/]<name> [section <s>]
// [port <n>] | ancestor [<ns>/]<name>].
func parseScope(t *tokens) (scope, error) {
	var s scope
	for _, w := range []string{"listener", "parent", "ancestor"} {
		if t.accept(w) {
			s.what = w
		}
	}
	if s.what == "" {
		return s, nil
	}
	ref, err := t.word("the " + s.what + "'s name")
	if err != nil {
		return s, err
	}
	s.name = ref
	if s.what != "listener" {
		if ns, name, ok := strings.Cut(ref, "/"); ok {
			s.namespace, s.name = ns, name
		}
	}
	if s.what == "parent" {
		if t.accept("section") {
			if s.section, err = t.word("a section name"); err != nil {
				return s, err
			}
		}
		if t.accept("port") {
			p, err := t.word("a port")
			if err != nil {
				return s, err
			}
			if s.port, err = strconv.Atoi(p); err != nil {
				return s, fmt.Errorf("port %q", p)
			}
		}
	}
	return s, nil
}

// parseCondition: condition <object> [<scope>] <Type>=<Status> [<Reason>]
// [message contains "<text>"], or with no: no condition <object>
// [<scope>] <Type>.
func parseCondition(t *tokens, absent bool) (func(map[string][]byte) error, error) {
	obj, err := parseObject(t)
	if err != nil {
		return nil, err
	}
	sc, err := parseScope(t)
	if err != nil {
		return nil, err
	}
	var typ, status, reason, message string
	if absent {
		if typ, err = t.word("a condition type"); err != nil {
			return nil, err
		}
	} else {
		ts, err := t.word("<Type>=<Status>")
		if err != nil {
			return nil, err
		}
		var ok bool
		if typ, status, ok = strings.Cut(ts, "="); !ok || typ == "" || (status != "True" && status != "False" && status != "Unknown") {
			return nil, fmt.Errorf("want <Type>=<True|False|Unknown>, got %q", ts)
		}
		if w := t.peek(); w != "" && w != "message" {
			reason, _ = t.word("a reason")
		}
		if t.accept("message") {
			if !t.accept("contains") {
				return nil, fmt.Errorf(`want message contains "<text>"`)
			}
			if message, err = t.quote("the message text"); err != nil {
				return nil, err
			}
		}
	}
	if err := t.end(); err != nil {
		return nil, err
	}
	return func(out map[string][]byte) error {
		conds, err := findConditions(out, obj, sc)
		if err != nil {
			return err
		}
		var c *statusCondition
		for i := range conds {
			if conds[i].Type == typ {
				c = &conds[i]
			}
		}
		switch {
		case absent && c != nil:
			return fmt.Errorf("%s%s has %s", obj, sc, c)
		case absent:
			return nil
		case c == nil:
			return fmt.Errorf("%s%s has no condition %s; it has %s", obj, sc, typ, conditionList(conds))
		case c.Status != status || (reason != "" && c.Reason != reason) || !strings.Contains(c.Message, message):
			return fmt.Errorf("%s%s has %s", obj, sc, c)
		}
		return nil
	}, nil
}

// parseNoStatus: no status <object> [parent|ancestor <name> ...]: hagate
// writes no status for the object, or no entry for that parent.
func parseNoStatus(t *tokens) (func(map[string][]byte) error, error) {
	obj, err := parseObject(t)
	if err != nil {
		return nil, err
	}
	sc, err := parseScope(t)
	if err != nil {
		return nil, err
	}
	if sc.what == "listener" {
		return nil, fmt.Errorf("no status takes a parent or an ancestor, not a listener")
	}
	if err := t.end(); err != nil {
		return nil, err
	}
	return func(out map[string][]byte) error {
		docs, err := statusDocs(out)
		if err != nil {
			return err
		}
		d := findDoc(docs, obj)
		switch {
		case d == nil:
			return nil
		case sc.what == "":
			return fmt.Errorf("status.yaml has a status for %s", obj)
		}
		if _, err := findEntry(d, obj, sc); err == nil {
			return fmt.Errorf("status.yaml has an entry for%s in the status of %s", sc, obj)
		}
		return nil
	}, nil
}

// parseListenerField: attachedRoutes <object> listener <name> = <N>, or
// supportedKinds <object> listener <name> = [<Kind>, ...].
func parseListenerField(t *tokens, field string) (func(map[string][]byte) error, error) {
	obj, err := parseObject(t)
	if err != nil {
		return nil, err
	}
	sc, err := parseScope(t)
	if err != nil {
		return nil, err
	}
	if sc.what != "listener" {
		return nil, fmt.Errorf("%s takes a listener", field)
	}
	if !t.accept("=") {
		return nil, fmt.Errorf("want = after the listener")
	}
	var want string
	for !t.done() {
		w, err := t.word("a value")
		if err != nil {
			return nil, err
		}
		want += w
	}
	if field == "attachedRoutes" {
		if _, err := strconv.Atoi(want); err != nil {
			return nil, fmt.Errorf("attachedRoutes wants a number, got %q", want)
		}
	} else if !strings.HasPrefix(want, "[") || !strings.HasSuffix(want, "]") {
		return nil, fmt.Errorf("supportedKinds wants [Kind, ...], got %q", want)
	}
	return func(out map[string][]byte) error {
		docs, err := statusDocs(out)
		if err != nil {
			return err
		}
		d := findDoc(docs, obj)
		if d == nil {
			return fmt.Errorf("status.yaml has no status for %s", obj)
		}
		for _, l := range d.Status.Listeners {
			if l.Name != sc.name {
				continue
			}
			var got string
			if field == "attachedRoutes" {
				got = strconv.Itoa(int(l.AttachedRoutes))
			} else {
				var kinds []string
				for _, k := range l.SupportedKinds {
					kinds = append(kinds, k.Kind)
				}
				got = "[" + strings.Join(kinds, ",") + "]"
			}
			if got != want {
				return fmt.Errorf("%s%s has %s %s", obj, sc, field, got)
			}
			return nil
		}
		return fmt.Errorf("%s has no listener %s in its status", obj, sc.name)
	}, nil
}

// The parts of status.yaml assertions read.
type (
	statusDoc struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Status struct {
			Conditions []statusCondition `json:"conditions"`
			Listeners  []struct {
				Name           string `json:"name"`
				AttachedRoutes int32  `json:"attachedRoutes"`
				SupportedKinds []struct {
					Kind string `json:"kind"`
				} `json:"supportedKinds"`
				Conditions []statusCondition `json:"conditions"`
			} `json:"listeners"`
			Parents   []statusEntry `json:"parents"`
			Ancestors []statusEntry `json:"ancestors"`
		} `json:"status"`
	}
	statusEntry struct {
		ParentRef   *statusRef        `json:"parentRef"`
		AncestorRef *statusRef        `json:"ancestorRef"`
		Conditions  []statusCondition `json:"conditions"`
	}
	statusRef struct {
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		SectionName string `json:"sectionName"`
		Port        int    `json:"port"`
	}
	statusCondition struct {
		Type    string `json:"type"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
)

func (c *statusCondition) String() string {
	return fmt.Sprintf("%s=%s %s %q", c.Type, c.Status, c.Reason, c.Message)
}

func conditionList(cs []statusCondition) string {
	if len(cs) == 0 {
		return "none"
	}
	var s []string
	for i := range cs {
		s = append(s, cs[i].String())
	}
	return strings.Join(s, "; ")
}

func statusDocs(out map[string][]byte) ([]*statusDoc, error) {
	data, ok := out[StatusFile]
	if !ok {
		return nil, fmt.Errorf("no %s", StatusFile)
	}
	var docs []*statusDoc
	for _, part := range strings.Split("\n"+string(data), "\n---\n") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		d := &statusDoc{}
		if err := yaml.Unmarshal([]byte(part), d); err != nil {
			return nil, fmt.Errorf("%s: %w", StatusFile, err)
		}
		docs = append(docs, d)
	}
	return docs, nil
}

func findDoc(docs []*statusDoc, o objectRef) *statusDoc {
	for _, d := range docs {
		if d.Kind == o.kind && d.Metadata.Namespace == o.namespace && d.Metadata.Name == o.name {
			return d
		}
	}
	return nil
}

// findEntry returns the parent or ancestor entry sc names: same name,
// namespace (the object's when not written), section and port.
func findEntry(d *statusDoc, o objectRef, sc scope) (*statusEntry, error) {
	entries := d.Status.Parents
	if sc.what == "ancestor" {
		entries = d.Status.Ancestors
	}
	norm := func(ns string) string {
		if ns == "" {
			return o.namespace
		}
		return ns
	}
	var seen []string
	for i := range entries {
		r := entries[i].ParentRef
		if sc.what == "ancestor" {
			r = entries[i].AncestorRef
		}
		if r == nil {
			continue
		}
		seen = append(seen, scope{what: sc.what, namespace: norm(r.Namespace), name: r.Name, section: r.SectionName, port: r.Port}.String())
		if r.Name == sc.name && norm(r.Namespace) == norm(sc.namespace) && r.SectionName == sc.section && r.Port == sc.port {
			return &entries[i], nil
		}
	}
	return nil, fmt.Errorf("%s has no entry for%s; it has%s", o, sc, strings.Join(seen, ","))
}

// findConditions returns the conditions of an object, or of one of its
// listeners, parents or ancestors.
func findConditions(out map[string][]byte, o objectRef, sc scope) ([]statusCondition, error) {
	docs, err := statusDocs(out)
	if err != nil {
		return nil, err
	}
	d := findDoc(docs, o)
	if d == nil {
		return nil, fmt.Errorf("status.yaml has no status for %s", o)
	}
	switch sc.what {
	case "":
		return d.Status.Conditions, nil
	case "listener":
		for _, l := range d.Status.Listeners {
			if l.Name == sc.name {
				return l.Conditions, nil
			}
		}
		return nil, fmt.Errorf("%s has no listener %s in its status", o, sc.name)
	}
	e, err := findEntry(d, o, sc)
	if err != nil {
		return nil, err
	}
	return e.Conditions, nil
}

// checkExpectations verifies a case's assertions against its output files.
func checkExpectations(t *testing.T, in string, data []byte, out map[string][]byte) int {
	t.Helper()
	exps, err := parseExpectations(data)
	if err != nil {
		t.Fatalf("%s: %v", in, err)
	}
	if len(exps) == 0 {
		t.Errorf("%s: no %q line: say what the case expects in assertions (see golden_test.go)", in, expectPrefix)
	}
	for _, e := range exps {
		if err := e.check(out); err != nil {
			t.Errorf("%s:%d: expect: %s\n\t%v", in, e.line, e.text, err)
		}
	}
	return len(exps)
}

// TestExpectationSyntax: the assertion parser accepts each form and
// refuses what it does not know, and each check fails when it should.
func TestExpectationSyntax(t *testing.T) {
	status := `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
status:
  conditions:
  - message: The Gateway is valid.
    reason: Accepted
    status: "True"
    type: Accepted
  listeners:
  - attachedRoutes: 2
    conditions:
    - message: The Secret default/x does not exist.
      reason: InvalidCertificateRef
      status: "False"
      type: ResolvedRefs
    name: https
    supportedKinds:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
    - group: gateway.networking.k8s.io
      kind: GRPCRoute
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
  namespace: default
status:
  parents:
  - conditions:
    - message: ok
      reason: Accepted
      status: "True"
      type: Accepted
    parentRef:
      name: gw
      sectionName: https
`
	out := map[string][]byte{"haproxy.cfg": []byte("frontend a\n    bind :80\n    bind :81\n"), StatusFile: []byte(status)}
	for _, tc := range []struct {
		line string
		ok   bool // the check holds
	}{
		{`haproxy.cfg contains "bind :80"`, true},
		{`haproxy.cfg contains "bind :8" 2 times`, true},
		{`haproxy.cfg contains "bind :8" 1 times`, false},
		{`haproxy.cfg contains "bind :443"`, false},
		{`haproxy.cfg lacks "bind :443"`, true},
		{`haproxy.cfg lacks "bind :80"`, false},
		{`haproxy.cfg contains "a\n    bind"`, true},
		{`crt-lists/x.crt-list contains "x"`, false},
		{`crt-lists/x.crt-list absent`, true},
		{`haproxy.cfg exists`, true},
		{`condition Gateway default/gw Accepted=True`, true},
		{`condition Gateway default/gw Accepted=True Accepted message contains "valid"`, true},
		{`condition Gateway default/gw Accepted=False`, false},
		{`condition Gateway default/gw Programmed=True`, false},
		{`condition Gateway default/other Accepted=True`, false},
		{`condition Gateway default/gw listener https ResolvedRefs=False InvalidCertificateRef`, true},
		{`condition Gateway default/gw listener https ResolvedRefs=False InvalidCertificateRef message contains "does not exist"`, true},
		{`condition Gateway default/gw listener https ResolvedRefs=False RefNotPermitted`, false},
		{`condition Gateway default/gw listener https ResolvedRefs=False message contains "expired"`, false},
		{`condition Gateway default/gw listener http ResolvedRefs=False`, false},
		{`condition HTTPRoute default/r parent gw section https Accepted=True`, true},
		{`condition HTTPRoute default/r parent default/gw section https Accepted=True`, true},
		{`condition HTTPRoute default/r parent gw Accepted=True`, false},
		{`no condition Gateway default/gw Programmed`, true},
		{`no condition Gateway default/gw Accepted`, false},
		{`no status HTTPRoute default/other`, true},
		{`no status HTTPRoute default/r`, false},
		{`no status HTTPRoute default/r parent theirs`, true},
		{`no status HTTPRoute default/r parent gw section https`, false},
		{`attachedRoutes Gateway default/gw listener https = 2`, true},
		{`attachedRoutes Gateway default/gw listener https = 1`, false},
		{`supportedKinds Gateway default/gw listener https = [HTTPRoute, GRPCRoute]`, true},
		{`supportedKinds Gateway default/gw listener https = []`, false},
	} {
		check, err := parseExpectation(tc.line)
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if err := check(out); (err == nil) != tc.ok {
			t.Errorf("%s: holds %v, want %v (%v)", tc.line, err == nil, tc.ok, err)
		}
	}
	// The examples of golden_test.go and README.md parse.
	for _, good := range []string{
		`haproxy.cfg contains "strict-sni"`,
		`crt-lists/https-443.crt-list contains "foo.example.com"`,
		`haproxy.cfg contains "\n    server " 2 times`,
		`haproxy.cfg lacks "verifyhost"`,
		`pem-files.txt absent`,
		`condition Gateway default/gw listener https ResolvedRefs=False InvalidCertificateRef`,
		`condition HTTPRoute default/r parent gw Accepted=True`,
		`condition HTTPRoute default/r parent gw section http port 8080 Accepted=False NoMatchingParent`,
		`condition BackendTLSPolicy default/p ancestor gw Accepted=True message contains "applies"`,
		`condition BackendTLSPolicy default/p ancestor gw Accepted=False NoValidCACertificate`,
		`no condition Gateway default/gw InsecureFrontendValidationMode`,
		`no status HTTPRoute default/theirs`,
		`attachedRoutes Gateway default/gw listener http = 1`,
		`supportedKinds Gateway default/gw listener tls = [TLSRoute]`,
	} {
		if _, err := parseExpectation(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{
		`haproxy.cfg has "x"`,
		`haproxy.cfg contains x`,
		`haproxy.cfg contains ""`,
		`haproxy.cfg contains "x" twice`,
		`haproxy.cfg lacks "x" 2 times`,
		`condition Gateway default/gw Accepted`,
		`condition Gateway default/gw Accepted=Yes`,
		`condition Gateway default/gw Accepted=True Accepted extra`,
		`condition Gateway default/gw Accepted=True message "x"`,
		`no condition Gateway default/gw`,
		`no status Gateway default/gw listener https`,
		`attachedRoutes Gateway default/gw = 1`,
		`attachedRoutes Gateway default/gw listener https = x`,
		`haproxy.cfg contains "unterminated`,
	} {
		if _, err := parseExpectation(bad); err == nil {
			t.Errorf("%s: parsed, want an error", bad)
		}
	}
	if _, err := parseExpectations([]byte("# expects: haproxy.cfg contains \"x\"\n")); err == nil {
		t.Error(`"# expects:" was taken for a comment, want an error`)
	}
	exps, err := parseExpectations([]byte("# Expected: prose.\n# expect: haproxy.cfg contains \"x\"\nkind: Gateway\n  # expect: haproxy.cfg lacks \"y\"\n"))
	if err != nil || len(exps) != 2 || exps[0].line != 2 || exps[1].line != 4 {
		t.Errorf("parseExpectations = %v, %v; want 2 assertions, lines 2 and 4", exps, err)
	}
}
