// Package templates turns the IR into a Bundle: haproxy.cfg, crt-list files,
// map files and PEM files. It only formats: every decision was made by
// render. Values are quoted or escaped here for the exact context they are
// written in (configuration word, log-format string, map or crt-list line).
// It records which object wrote each line (Origins). The API carries no
// compatibility promise before v1.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render/ir"
)

//go:embed files/*.tmpl
var files embed.FS

// Options say where the files live and how HAProxy binds.
type Options struct {
	// ConfigRoot is the absolute path of the folder the Bundle is written
	// to at run time; paths inside haproxy.cfg start with it.
	ConfigRoot string
	// BindAddress is the address every frontend binds; empty means all
	// IPv4 and IPv6 addresses.
	BindAddress string
	// Threads and Maxconn, when set, are HAProxy's nbthread and maxconn
	// (its own defaults otherwise: a thread per CPU, maxconn from the
	// file descriptor limit).
	Threads, Maxconn int32
	// AccessLog is where HAProxy writes its access log
	// (ir.ParseAccessLog); empty means ir.AccessLogStdout.
	AccessLog ir.AccessLog
	// MetricsAddress, when set ("host:port", ":port"), is where HAProxy's
	// own Prometheus exporter answers /metrics (its frontends, backends
	// and servers), on a port of its own.
	MetricsAddress string
	// AccessLogFormat is the format of the access log lines (empty:
	// HAProxy's httplog and tcplog).
	AccessLogFormat ir.AccessLogFormat
}

// sniCond is the condition "the SNI is this route's": the ClientHello's on
// an SNI router, the handshake's on a TLS terminator. A wildcard matches
// any number of labels.
func sniCond(fe *ir.TCPFrontend, r *ir.SNIRoute) string {
	fetch := "req.ssl_sni"
	if fe.TLS != nil {
		fetch = "ssl_fc_sni"
	}
	if strings.HasPrefix(r.SNI, "*.") {
		return fmt.Sprintf("{ %s -m end -i %s }", fetch, r.SNI[1:])
	}
	return fmt.Sprintf("{ %s -m str -i %s }", fetch, r.SNI)
}

var tmpl = template.Must(template.New("").Funcs(sprig.TxtFuncMap()).Funcs(template.FuncMap{
	"arg":              Arg,
	"jsonHTTPLog":      func() string { return jsonHTTPLog },
	"jsonTCPLog":       func() string { return jsonTCPLog },
	"logRoute":         logRoute,
	"comment":          comment,
	"sanRegex":         sanRegex,
	"logFormat":        LogFormat,
	"matchLines":       matchLines,
	"ruleCond":         ruleCond,
	"redirectLines":    redirectLines,
	"rewritePaths":     rewritePaths,
	"depths":           depths,
	"pattern":          pattern,
	"requestRules":     requestRules,
	"responseRules":    responseRules,
	"backendRules":     backendRules,
	"totalWeight":      totalWeight,
	"weightedBackends": weightedBackends,
	"serverAddr":       serverAddr,
	"quoted":           quoted,
	"where":            where,
	"crtListPath":      crtListPath,
	"mapPath":          mapPath,
	"systemCA":         func() string { return ir.SystemCA },
	"mirrorScript":     func() string { return ir.MirrorScript },
	"mirrorFrontend":   func() string { return ir.MirrorFrontend },
	"sniCond":          sniCond,
	"tcpBackends": func(c *ir.Config) bool {
		for _, b := range c.Backends {
			if b.Mode == ir.ModeTCP {
				return true
			}
		}
		return false
	},
	// Replaced per render: see Render.
	"file":     func(string) string { return "" },
	"bindAddr": func([]string, int32) string { return "" },
	"from":     func(ir.Origin) string { return "" },
	"options":  func() Options { return Options{} },
	"endfrom":  func() string { return "" },
}).ParseFS(files, "files/*.tmpl"))

// Output is what Render makes.
type Output struct {
	// Bundle holds haproxy.cfg and the files it reads.
	Bundle *bundle.Bundle
	// Origins traces the Bundle's files and lines to their objects.
	Origins *Origins
}

// Render turns a configuration into a Bundle.
func Render(cfg *ir.Config, opts Options) (*Output, error) {
	if !path.IsAbs(opts.ConfigRoot) {
		return nil, fmt.Errorf("render templates: config root %q is not an absolute path", opts.ConfigRoot)
	}
	if strings.ContainsAny(opts.ConfigRoot, " \t\r\n#'\"\\$") {
		return nil, fmt.Errorf("render templates: config root %q holds characters HAProxy would read as syntax", opts.ConfigRoot)
	}
	bind, err := bindFunc(opts.BindAddress)
	if err != nil {
		return nil, err
	}
	if err := opts.AccessLog.Valid(); err != nil {
		return nil, fmt.Errorf("render templates: %w", err)
	}
	if opts.MetricsAddress != "" {
		if _, port, err := net.SplitHostPort(opts.MetricsAddress); err != nil || port == "" || strings.ContainsAny(opts.MetricsAddress, " \t\r\n#'\"\\$") {
			return nil, fmt.Errorf("render templates: metrics address %q is not host:port", opts.MetricsAddress)
		}
	}
	file := func(p string) string { return path.Join(opts.ConfigRoot, p) }
	t, err := tmpl.Clone()
	if err != nil {
		return nil, fmt.Errorf("render templates: %w", err)
	}
	var buf bytes.Buffer
	rec := &recorder{buf: &buf}
	t.Funcs(template.FuncMap{"file": file, "bindAddr": bind, "from": rec.from, "endfrom": rec.endfrom, "options": func() Options { return opts }})
	if err := t.ExecuteTemplate(&buf, "haproxy.cfg.tmpl", cfg); err != nil {
		return nil, fmt.Errorf("render haproxy.cfg: %w", err)
	}
	origins := newOrigins()
	origins.lines[bundle.ConfigFile] = rec.spans()
	b := bundle.New()
	b.Add(&bundle.File{Path: bundle.ConfigFile, Content: buf.Bytes(), Mode: 0o644})
	st := &bundle.State{Dirs: []string{ir.DirCerts, ir.DirCAs, ir.DirCrtLists, ir.DirMaps}}
	b.State = st
	addCrtList := func(name string, tb *ir.TLSBind) {
		p := crtListPath(name)
		b.Add(&bundle.File{Path: p, Content: crtList(name, tb, file, func(line int, o ir.Origin) { origins.line(p, line, o) }), Mode: 0o644})
		st.CrtLists = append(st.CrtLists, crtListState(p, tb))
	}
	for _, fe := range cfg.TCPFrontends {
		if fe.TLS != nil {
			addCrtList(fe.Name, fe.TLS)
		}
		if fe.Socket == "" {
			st.Binds = append(st.Binds, bindAddrs(bind, fe.Addresses, fe.Port)...)
		}
	}
	for _, fe := range cfg.Frontends {
		if fe.TLS != nil {
			addCrtList(fe.Name, fe.TLS)
			if !fe.TLS.StrictSNI {
				// The catch-all's default certificate line ("!*") is a
				// context HAProxy 2.6's Runtime API does not update.
				for _, f := range []string{fe.TLS.ClientCA, fe.TLS.ClientCRL} {
					if f != "" {
						st.DefaultContextFiles = append(st.DefaultContextFiles, f)
					}
				}
			}
		}
		if fe.Socket == "" {
			st.Binds = append(st.Binds, bindAddrs(bind, fe.Addresses, fe.Port)...)
		}
		addMap(b, fe.Name, "hosts", "exact request hosts", fe.HostExact)
		addMap(b, fe.Name, "suffixes", "request host suffixes, most specific first", fe.HostSuffix)
		addMap(b, fe.Name, "sni-hosts", "exact SNI names to listeners", fe.SNIExact)
		addMap(b, fe.Name, "sni-suffixes", "SNI suffixes to listeners, most specific first", fe.SNISuffix)
		addMap(b, fe.Name, "paths", "exact paths of virtual hosts to rules (a rule that only sends to one backend: the backend)", fe.PathExact)
		addMap(b, fe.Name, "prefixes", "path prefixes of virtual hosts to rules (a rule that only sends to one backend: the backend)", fe.PathPrefix)
	}
	for _, c := range cfg.Certificates {
		b.Add(&bundle.File{Path: c.Path, Content: c.PEM, Mode: 0o600})
		origins.file(c.Path, c.Origin)
		st.Certificates = append(st.Certificates, c.Path)
	}
	for _, c := range cfg.CAFiles {
		b.Add(&bundle.File{Path: c.Path, Content: c.PEM, Mode: 0o644})
		origins.file(c.Path, c.Origin)
		st.CAFiles = append(st.CAFiles, c.Path)
	}
	for _, c := range cfg.CRLFiles {
		b.Add(&bundle.File{Path: c.Path, Content: c.PEM, Mode: 0o644})
		origins.file(c.Path, c.Origin)
		st.CRLFiles = append(st.CRLFiles, c.Path)
	}
	// The keys file's folder is the Bundle's even without keys: a key
	// file an earlier configuration left is removed.
	st.Dirs = append(st.Dirs, ir.DirTickets)
	if k := cfg.TLSTicketKeys; k != nil {
		b.Add(&bundle.File{Path: k.Path, Content: ticketKeysFile(k.Keys), Mode: 0o600})
		st.TicketKeys = append(st.TicketKeys, k.Path)
	}
	addMirroring(b, cfg)
	st.Backends = backendsState(cfg.Backends, file)
	finishState(st)
	return &Output{Bundle: b, Origins: origins}, nil
}

func addMap(b *bundle.Bundle, frontend, kind, what string, entries []ir.MapEntry) {
	if len(entries) == 0 {
		return
	}
	p := mapPath(frontend, kind)
	n := len(what) + 3
	for _, e := range entries {
		n += len(e.Key) + len(e.Value) + 2
	}
	var buf bytes.Buffer
	buf.Grow(n)
	buf.WriteString("# ")
	buf.WriteString(what)
	buf.WriteByte('\n')
	for _, e := range entries {
		buf.WriteString(e.Key)
		buf.WriteByte(' ')
		buf.WriteString(e.Value)
		buf.WriteByte('\n')
	}
	b.Add(&bundle.File{Path: p, Content: buf.Bytes(), Mode: 0o644})
	b.State.Maps = append(b.State.Maps, mapState(p, kind, entries))
}

// crtList writes a crt-list file; traced is told the line number of each
// certificate line and its origin.
func crtList(name string, tb *ir.TLSBind, file func(string) string, traced func(int, ir.Origin)) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Certificates of frontend %s, chosen by SNI: exact names before wildcards.\n", name)
	line := 1
	if tb.StrictSNI {
		buf.WriteString("# No catch-all listener: a ClientHello matching no line is refused (strict-sni).\n")
		line++
	}
	for _, e := range tb.CrtList {
		line += 2 // the comment, then the line
		traced(line, e.Origin)
		fmt.Fprintf(&buf, "# %s\n%s", comment(e.Comment), file(e.Cert))
		if len(e.Options) > 0 {
			fmt.Fprintf(&buf, " [%s]", strings.Join(e.Options, " "))
		}
		for _, f := range e.SNIFilters {
			fmt.Fprintf(&buf, " %s", f)
		}
		buf.WriteString("\n")
	}
	return buf.Bytes()
}

func bindFunc(addr string) (func([]string, int32) string, error) {
	def := func(p int32) string { return fmt.Sprintf(":::%d v4v6", p) }
	if addr != "" {
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("render templates: bind address %q is not an IP address", addr)
		}
		def = func(p int32) string { return hostPort(a, p) }
	}
	// A frontend with addresses of its own (a Gateway's spec.addresses,
	// canonical IPs from render) binds them all, comma-separated.
	return func(addrs []string, p int32) string {
		if len(addrs) == 0 {
			return def(p)
		}
		var out []string
		for _, s := range addrs {
			a, err := netip.ParseAddr(s)
			if err != nil {
				continue // render hands canonical addresses only
			}
			out = append(out, hostPort(a, p))
		}
		return strings.Join(out, ",")
	}, nil
}

func hostPort(a netip.Addr, p int32) string {
	if a.Is6() && !a.Is4In6() {
		return fmt.Sprintf("[%s]:%d", a, p)
	}
	return fmt.Sprintf("%s:%d", a.Unmap(), p)
}

// sanRegex matches the hex of a DER certificate holding one of the
// subject alternative names, at a byte boundary (an even offset).
func sanRegex(sans []ir.SANCheck) string {
	var alts []string
	for _, s := range sans {
		alts = append(alts, s.DERHex)
	}
	return Arg("^(?:[0-9A-F]{2})*(?:" + strings.Join(alts, "|") + ")")
}

// comment makes s safe inside a "#" comment line: control characters
// (a newline would end the comment) become spaces. render builds comments
// from checked names; this is the last guard.
func comment(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Arg writes s as one configuration word: as is when it holds only
// characters without meaning to HAProxy's parser, in single quotes
// otherwise, in double quotes with escapes when it holds a single quote.
// render never lets control characters through; they would be refused
// here too, as \xNN.
func Arg(s string) string {
	if s == "" {
		return "''"
	}
	plain := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@*+=,^~|%&", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	if !strings.ContainsAny(s, "'") && !hasControl(s) {
		return "'" + s + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '$':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// quoted writes s as a double-quoted configuration word, escaped.
func quoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '$':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// LogFormat writes a literal value as a log-format argument (header
// values): '%' is doubled so that nothing is evaluated, then the word is
// quoted as Arg does.
func LogFormat(s string) string {
	return Arg(strings.ReplaceAll(s, "%", "%%"))
}

// ruleCond is the condition "this rule was selected".
func ruleCond(r *ir.Rule) string {
	return fmt.Sprintf("{ var(txn.rule) -m str %s }", Arg(r.Name))
}

// matchConds are the conditions of a match, after its virtual host's.
// Each is at most six words.
func matchConds(m *ir.Match) []string {
	var out []string
	switch {
	case m.PathExact != "":
		out = append(out, fmt.Sprintf("{ path -m str %s }", Arg(m.PathExact)))
	case m.PathRegex != "":
		out = append(out, fmt.Sprintf("{ path -m reg %s }", pattern(m.PathRegex)))
	case m.PathPrefix != "":
		// A trailing slash on both sides makes "begins with" match whole
		// path elements: "/a" matches "/a" and "/a/b", not "/ab".
		out = append(out, fmt.Sprintf("{ path,concat(/) -m beg %s }", Arg(m.PathPrefix+"/")))
	}
	if m.Method != "" {
		out = append(out, fmt.Sprintf("{ method %s }", m.Method))
	}
	for _, h := range m.Headers {
		op := "-m str"
		if h.Regex {
			op = "-m reg"
		}
		out = append(out, fmt.Sprintf("{ req.fhdr(%s) %s %s }", h.Name, op, pattern(h.Value)))
	}
	for _, q := range m.QueryParams {
		op := "-m str"
		if q.Regex {
			op = "-m reg"
		}
		out = append(out, fmt.Sprintf("{ urlp(%s),url_dec(1) %s %s }", q.Name, op, pattern(q.Value)))
	}
	return out
}

// condsPerLine bounds the conditions of one match line: HAProxy 2.6
// reads at most 64 words on a line ("too many words"), and a line holds
// about 15 words besides its conditions of at most six words each.
const condsPerLine = 7

// matchLines are the http-request lines of match number i of a frontend:
// one line, or, for a match with more conditions than a line can hold
// (16 headers and 16 query parameters are valid), a chain of lines, each
// testing a part of the conditions and the previous line's result
// (txn.match holds "<i>.<part>", unique to this match).
func matchLines(i int, m *ir.Match) []string {
	head := fmt.Sprintf("!{ var(txn.rule) -m found } { var(txn.vhost) -m str %s }", m.VHost)
	conds := matchConds(m)
	var lines []string
	for part := 0; len(conds) > condsPerLine; part++ {
		lines = append(lines, fmt.Sprintf("http-request set-var(txn.match) str(%d.%d) if %s %s", i, part, head, strings.Join(conds[:condsPerLine], " ")))
		conds = conds[condsPerLine:]
		head = fmt.Sprintf("{ var(txn.match) -m str %d.%d }", i, part)
	}
	last := fmt.Sprintf("http-request set-var(txn.rule) str(%s) if %s", m.Rule, head)
	if len(conds) > 0 {
		last += " " + strings.Join(conds, " ")
	}
	return append(lines, last)
}

// pattern writes an ACL pattern: "--" first when it starts with '-', so
// that it is not read as a flag.
func pattern(v string) string {
	if strings.HasPrefix(v, "-") {
		return "-- " + Arg(v)
	}
	return Arg(v)
}

// redirectLine is one redirect directive of a rule.
type redirectLine struct {
	// Location is the log-format of the Location header, quoted.
	Location string
	// Cond is an extra condition (the path prefix replaced), or "".
	Cond string
}

// redirectLines writes a redirect: one line, or one line per path prefix
// when the matched prefix is replaced (longest prefix first).
func redirectLines(r *ir.Redirect) []redirectLine {
	var base strings.Builder
	base.WriteString(r.Scheme + "://")
	if r.Hostname != "" {
		base.WriteString(r.Hostname)
	} else {
		base.WriteString("%[var(txn.host)]")
	}
	if r.Port != 0 {
		fmt.Fprintf(&base, ":%d", r.Port)
	}
	switch {
	case r.FullPath != "":
		return []redirectLine{{Location: Arg(base.String() + r.FullPath + "%[pathq,regsub(^[^?]*,)]")}}
	case r.PrefixReplace:
		var out []redirectLine
		for _, pr := range prefixReplacements(r.PathModifier, "pathq") {
			out = append(out, redirectLine{Location: Arg(base.String() + pr.Expr), Cond: pr.Cond})
		}
		return out
	default:
		return []redirectLine{{Location: Arg(base.String() + "%[pathq]")}}
	}
}

// prefixReplacement is a path with its matched prefix replaced, as a
// log-format expression, and the condition (" { ... }", empty for
// always) under which that prefix is the one matched.
type prefixReplacement struct {
	Expr string
	Cond string
}

// prefixReplacements are the replacements of a ReplacePrefixMatch path
// modifier, one per prefix (longest first), applied to fetch ("path", or
// "pathq" to keep the query string).
func prefixReplacements(pm ir.PathModifier, fetch string) []prefixReplacement {
	var out []prefixReplacement
	for _, p := range pm.Prefixes {
		switch {
		case p == "":
			// Prefix "/": the replacement goes before the whole path.
			out = append(out, prefixReplacement{Expr: pm.PrefixTo + "%[" + fetch + "]"})
		case pm.PrefixTo == "":
			out = append(out, prefixReplacement{
				Expr: fmt.Sprintf("%%[%s,regsub(^%s/?,/)]", fetch, regexQuote(p)),
				Cond: fmt.Sprintf(" { path,concat(/) -m beg %s }", Arg(p+"/")),
			})
		default:
			out = append(out, prefixReplacement{
				Expr: fmt.Sprintf("%%[%s,regsub(^%s,%s)]", fetch, regexQuote(p), pm.PrefixTo),
				Cond: fmt.Sprintf(" { path,concat(/) -m beg %s }", Arg(p+"/")),
			})
		}
	}
	return out
}

// rewritePaths are the rewrite's path replacements (see
// prefixReplacements), as set-var-fmt arguments.
func rewritePaths(pm ir.PathModifier) []prefixReplacement {
	out := prefixReplacements(pm, "path")
	for i := range out {
		out[i].Expr = Arg(out[i].Expr)
	}
	return out
}

// depths counts down from n to 1.
func depths(n int) []int {
	var out []int
	for d := n; d >= 1; d-- {
		out = append(out, d)
	}
	return out
}

// regexQuote makes a path prefix (letters, digits and "/._~-", as render
// checks) a regular expression: '.' becomes "[.]", which needs no
// backslash, so that no argument parser can strip one.
func regexQuote(s string) string {
	return strings.ReplaceAll(s, ".", "[.]")
}

func totalWeight(bs []ir.WeightedBackend) int32 {
	var t int32
	for _, b := range bs {
		t += b.Weight
	}
	return t
}

// weightedChoice is one share of a rule's requests: its use_backend line
// and its backendRef's header filters.
type weightedChoice struct {
	// Name is the backend.
	Name string
	// Below is the bound the rule's random draw must stay under; 0 for the
	// last share, which takes whatever is left (use_backend lines are
	// tried in order).
	Below int32
	// Share is the condition (" { ... }", empty when the rule has one
	// share) that holds for this share's requests only.
	Share string
	// RequestHeaders and ResponseHeaders are the backendRef's filters.
	RequestHeaders, ResponseHeaders *ir.HeaderModifier
}

func weightedBackends(bs []ir.WeightedBackend) []weightedChoice {
	var out []weightedChoice
	var sum int32
	for i, b := range bs {
		from := sum
		sum += b.Weight
		c := weightedChoice{Name: b.Backend, RequestHeaders: b.RequestHeaders, ResponseHeaders: b.ResponseHeaders}
		if i < len(bs)-1 {
			c.Below = sum
			c.Share = fmt.Sprintf(" { var(txn.weight) -m int lt %d }", sum)
		}
		if i > 0 {
			c.Share = fmt.Sprintf(" { var(txn.weight) -m int ge %d }", from) + c.Share
		}
		out = append(out, c)
	}
	return out
}

// requestRules are the rules that write http-request lines of their
// own: a redirect, a rewrite, CORS, request headers (the rule's or a
// share's), the 500 of a rule without backends, the draw between
// several backends, or mirrors. The others (most rules, whose backend is found by
// map) write none, and the template does not visit them.
func requestRules(rules []*ir.Rule) []*ir.Rule {
	return filterRules(rules, func(r *ir.Rule) bool {
		return r.Redirect != nil || r.Rewrite != nil || r.CORS != nil || r.RequestHeaders != nil ||
			backendRequestHeaders(r.Backends) || len(r.Backends) != 1 || len(r.Mirrors) > 0
	})
}

// responseRules are the rules that write http-response lines: CORS or
// response headers (the rule's or a share's).
func responseRules(rules []*ir.Rule) []*ir.Rule {
	return filterRules(rules, func(r *ir.Rule) bool {
		return r.ResponseHeaders != nil || r.CORS != nil || backendResponseHeaders(r.Backends)
	})
}

// backendRules are the rules that choose their backends with use_backend
// lines of their own: not redirected, and not found by map.
func backendRules(rules []*ir.Rule) []*ir.Rule {
	return filterRules(rules, func(r *ir.Rule) bool { return r.Redirect == nil && !r.BackendByMap })
}

func filterRules(rules []*ir.Rule, keep func(*ir.Rule) bool) []*ir.Rule {
	var out []*ir.Rule
	for _, r := range rules {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// backendRequestHeaders and backendResponseHeaders report whether a share
// of the rule has header filters of its own.
func backendRequestHeaders(bs []ir.WeightedBackend) bool {
	return slices.ContainsFunc(bs, func(b ir.WeightedBackend) bool { return b.RequestHeaders != nil })
}

func backendResponseHeaders(bs []ir.WeightedBackend) bool {
	return slices.ContainsFunc(bs, func(b ir.WeightedBackend) bool { return b.ResponseHeaders != nil })
}

func serverAddr(s ir.Server) string {
	if strings.Contains(s.Address, ":") {
		return fmt.Sprintf("[%s]:%d", s.Address, s.Port)
	}
	return fmt.Sprintf("%s:%d", s.Address, s.Port)
}

// where names a rule or match by its route: "HTTPRoute ns/name rule 0
// (name) match 1".
func where(o ir.Origin, p ir.Place) string {
	s := fmt.Sprintf("%s %s/%s rule %d", o.Kind, o.Namespace, o.Name, p.Rule)
	if p.RuleName != "" {
		s += " (" + p.RuleName + ")"
	}
	if p.Match >= 0 {
		s += fmt.Sprintf(" match %d", p.Match)
	}
	return s
}
