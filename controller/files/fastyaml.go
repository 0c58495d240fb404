package files

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a fast path for the YAML most manifests are written in:
// block mappings and sequences, one-line scalars (plain, single- or
// double-quoted), one-line flow collections and literal block scalars
// ("|", "|-"). fastYAMLToJSON converts such a document to JSON with the
// same values yaml.YAMLToJSONStrict (go.yaml.in/yaml/v2, YAML 1.1) gives
// it, and its keys in the same order, ten to twenty times faster
// (BenchmarkFastYAML). It declines (ok false) anything else: tabs,
// anchors, tags, multi-line plain or quoted scalars, folded scalars,
// duplicate keys, a value YAML 1.1 reads as a float or a timestamp, any
// byte outside printable ASCII... The caller then converts the document
// with yaml.YAMLToJSONStrict, which also gives every error: the fast path
// never decides that a document is wrong.

// fastMaxDepth bounds the nesting the fast path follows.
const fastMaxDepth = 64

// fastLine is one line of a document.
type fastLine struct {
	// indent is the number of leading spaces.
	indent int
	// text is the line after its indentation, without the line break.
	text []byte
	// empty: the line holds only spaces.
	empty bool
	// blank: the line is empty or only a comment.
	blank bool
	// broken: the line ends with a line break.
	broken bool
}

// fastParser converts one document.
type fastParser struct {
	lines []fastLine
	// i is the current line.
	i int
	// out is the JSON written so far.
	out []byte
	// entries holds the entries of the mappings being written, innermost
	// last.
	entries []fastEntry
	depth   int
	// order and scratch are sortEntries' buffers.
	order   []fastEntry
	scratch []byte
	// apiVersion and kind are the values of the top-level keys of that
	// name; typeOK is false when one of them is not a string.
	apiVersion, kind string
	typeOK           bool
}

// fastEntry is one key and value of a mapping, as written in out.
type fastEntry struct {
	// start and end bound `"key":value` in out; the key is out[start+1 :
	// start+1+keyLen].
	start, end, keyLen int
}

// fastType is the apiVersion and kind of a document, as decoding its JSON
// into a metav1.TypeMeta gives them; known is false when the fast path
// cannot tell (one is not a string): the JSON is then decoded.
type fastType struct {
	apiVersion, kind string
	known            bool
}

// fastYAMLToJSON returns the JSON of doc and its apiVersion and kind, or
// ok false when doc is not in the subset this fast path reads.
func fastYAMLToJSON(doc []byte) (js []byte, t fastType, ok bool) {
	return new(fastParser).convert(doc)
}

// convert is fastYAMLToJSON with the parser's buffers, kept from one
// document to the next (the JSON is new each time).
func (p *fastParser) convert(doc []byte) (js []byte, t fastType, ok bool) {
	for _, c := range doc {
		if (c < ' ' || c > '~') && c != '\n' {
			return nil, t, false
		}
	}
	*p = fastParser{lines: p.lines[:0], entries: p.entries[:0], order: p.order, scratch: p.scratch,
		out: make([]byte, 0, len(doc)+len(doc)/4), typeOK: true}
	for len(doc) > 0 {
		line, rest, broken := bytes.Cut(doc, []byte{'\n'})
		doc = rest
		n := 0
		for n < len(line) && line[n] == ' ' {
			n++
		}
		l := fastLine{indent: n, text: line[n:], broken: broken}
		l.empty = len(l.text) == 0
		l.blank = l.empty || l.text[0] == '#'
		p.lines = append(p.lines, l)
	}
	// A "---" line (with a comment at most) starts a document that the
	// splitter gives with it when nothing came before it.
	if len(p.lines) > 0 && p.lines[0].indent == 0 && bytes.HasPrefix(p.lines[0].text, []byte("---")) {
		if rest := p.lines[0].text[3:]; len(rest) > 0 && !endOfLine(rest) {
			return nil, t, false
		}
		p.lines[0].blank = true
	}
	p.skipBlank()
	if p.i == len(p.lines) {
		return []byte("null"), fastType{known: true}, true
	}
	first := p.lines[p.i]
	if _, _, isKey := fastKey(first.text); !isKey {
		return nil, t, false // a sequence, a scalar or a flow collection: not an object
	}
	if !p.mapping(first.indent, 0) {
		return nil, t, false
	}
	p.skipBlank()
	if p.i != len(p.lines) {
		return nil, t, false
	}
	return p.out, fastType{apiVersion: p.apiVersion, kind: p.kind, known: p.typeOK}, true
}

// skipBlank moves past empty and comment lines.
func (p *fastParser) skipBlank() {
	for p.i < len(p.lines) && p.lines[p.i].blank {
		p.i++
	}
}

// seqItem reports whether text starts a block sequence item.
func seqItem(text []byte) bool {
	return len(text) > 0 && text[0] == '-' && (len(text) == 1 || text[1] == ' ')
}

// block reads the block node that starts on the current line, indented
// by indent: a mapping or a sequence.
func (p *fastParser) block(indent int) bool {
	text := p.lines[p.i].text
	if seqItem(text) {
		return p.sequence(indent)
	}
	if _, _, isKey := fastKey(text); isKey {
		return p.mapping(indent, 0)
	}
	return false // a scalar on a line of its own
}

// mapping reads a block mapping whose keys are in column indent. Its first
// key is on the current line at offset off of the line's text (after
// "- " for a mapping in a sequence item), the others start lines.
func (p *fastParser) mapping(indent, off int) bool {
	if p.depth++; p.depth > fastMaxDepth {
		return false
	}
	defer func() { p.depth-- }()
	p.out = append(p.out, '{')
	base := len(p.entries)
	for {
		text := p.lines[p.i].text[off:]
		key, n, isKey := fastKey(text)
		if !isKey {
			return false
		}
		if len(p.entries) > base {
			p.out = append(p.out, ',')
		}
		start := len(p.out)
		p.out = append(p.out, '"')
		p.out = append(p.out, key...)
		p.out = append(p.out, '"', ':')
		if !p.mappingValue(indent, text[n:]) {
			return false
		}
		if p.depth == 1 && (string(key) == "apiVersion" || string(key) == "kind") {
			p.typeField(string(key), p.out[start+len(key)+3:])
		}
		p.entries = append(p.entries, fastEntry{start: start, end: len(p.out), keyLen: len(key)})
		p.skipBlank()
		if p.i == len(p.lines) || p.lines[p.i].indent < indent {
			break
		}
		if p.lines[p.i].indent > indent {
			return false
		}
		off = 0
	}
	if !p.sortEntries(base) {
		return false
	}
	p.entries = p.entries[:base]
	p.out = append(p.out, '}')
	return true
}

// typeField records the value of the top-level key apiVersion or kind,
// given as JSON.
func (p *fastParser) typeField(key string, js []byte) {
	v, err := strconv.Unquote(string(js)) // a JSON string written by appendJSONString is a Go string
	if js[0] != '"' || err != nil {
		p.typeOK = false
		return
	}
	if key == "kind" {
		p.kind = v
	} else {
		p.apiVersion = v
	}
}

// sortEntries puts the entries of the mapping whose first entry is
// entries[base] in key order, as encoding/json writes a map, and reports
// false when a key is repeated (an error in strict YAML).
func (p *fastParser) sortEntries(base int) bool {
	es := p.entries[base:]
	key := func(e fastEntry) []byte { return p.out[e.start+1 : e.start+1+e.keyLen] }
	sorted := true
	for i := 1; i < len(es); i++ {
		switch c := bytes.Compare(key(es[i-1]), key(es[i])); {
		case c == 0:
			return false
		case c > 0:
			sorted = false
		}
	}
	if sorted {
		return true
	}
	// Insertion sort: mappings are small.
	order := append(p.order[:0], es...)
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && bytes.Compare(key(order[j-1]), key(order[j])) > 0; j-- {
			order[j-1], order[j] = order[j], order[j-1]
		}
	}
	for i := 1; i < len(order); i++ {
		if bytes.Equal(key(order[i-1]), key(order[i])) {
			return false
		}
	}
	start, end := es[0].start, es[len(es)-1].end
	buf := p.scratch[:0]
	for i, e := range order {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, p.out[e.start:e.end]...)
	}
	copy(p.out[start:end], buf)
	p.order, p.scratch = order, buf
	return true
}

// mappingValue reads the value of a key of a mapping at indent: rest is
// what follows the colon on the key's line.
func (p *fastParser) mappingValue(indent int, rest []byte) bool {
	rest = trimLeftSpaces(rest)
	if len(rest) == 0 || rest[0] == '#' {
		// The value is on the next lines: a nested block, a sequence at
		// the key's indentation, or nothing (null).
		p.i++
		p.skipBlank()
		if p.i < len(p.lines) {
			next := p.lines[p.i]
			if next.indent > indent {
				return p.block(next.indent)
			}
			if next.indent == indent && seqItem(next.text) {
				return p.sequence(indent)
			}
		}
		p.out = append(p.out, "null"...)
		return true
	}
	if rest[0] == '|' {
		return p.literal(indent, rest[1:])
	}
	if !p.inlineValue(rest) {
		return false
	}
	p.i++
	return true
}

// sequence reads a block sequence whose "-" are in column indent.
func (p *fastParser) sequence(indent int) bool {
	if p.depth++; p.depth > fastMaxDepth {
		return false
	}
	defer func() { p.depth-- }()
	p.out = append(p.out, '[')
	for first := true; ; first = false {
		text := p.lines[p.i].text
		if !first {
			p.out = append(p.out, ',')
		}
		k := 1
		for k < len(text) && text[k] == ' ' {
			k++
		}
		content := text[k:]
		switch {
		case len(content) == 0 || content[0] == '#' || seqItem(content):
			return false // the item on the next lines, or a sequence in a sequence
		case isKeyLine(content):
			if !p.mapping(indent+k, k) {
				return false
			}
		default:
			if !p.inlineValue(content) {
				return false
			}
			p.i++
		}
		p.skipBlank()
		if p.i == len(p.lines) || p.lines[p.i].indent < indent {
			break
		}
		if p.lines[p.i].indent > indent {
			return false
		}
		if !seqItem(p.lines[p.i].text) {
			break // the next key of the mapping holding this sequence
		}
	}
	p.out = append(p.out, ']')
	return true
}

// isKeyLine reports whether text starts with a mapping key.
func isKeyLine(text []byte) bool {
	_, _, ok := fastKey(text)
	return ok
}

// inlineValue writes the value that fills the rest of a line: a flow
// collection, a quoted or a plain scalar, with an optional comment.
func (p *fastParser) inlineValue(text []byte) bool {
	switch c := text[0]; {
	case c == '[' || c == '{':
		n, ok := p.flow(text, 0)
		return ok && endOfLine(text[n:])
	case c == '"' || c == '\'':
		s, n, ok := quoted(text)
		if !ok || !endOfLine(text[n:]) {
			return false
		}
		p.out = appendJSONString(p.out, s)
		return true
	}
	// A plain scalar: up to a comment, without trailing spaces.
	v := text
	if i := bytes.Index(v, []byte(" #")); i >= 0 {
		v = v[:i]
	}
	v = trimRightSpaces(v)
	if !plainStart(v) || bytes.Contains(v, []byte(": ")) || v[len(v)-1] == ':' {
		return false
	}
	return p.scalar(v)
}

// scalar writes the plain scalar v as YAML 1.1 reads it.
func (p *fastParser) scalar(v []byte) bool {
	switch t := resolvePlain(v); t {
	case plainString:
		p.out = appendJSONString(p.out, v)
	case plainInt:
		p.out = append(p.out, v...)
	case plainTrue:
		p.out = append(p.out, "true"...)
	case plainFalse:
		p.out = append(p.out, "false"...)
	case plainNull:
		p.out = append(p.out, "null"...)
	default:
		return false
	}
	return true
}

// plainStart reports whether v, not empty, may start a plain scalar in
// block context that the fast path reads: no indicator first.
func plainStart(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ':
		return false
	case '-':
		// "-1", "-x"; "- x" is a sequence item and "---" a document marker.
		return len(v) > 1 && v[1] != ' ' && v[1] != '-'
	case '.':
		return !bytes.HasPrefix(v, []byte("..."))
	}
	return true
}

// endOfLine reports whether rest, what follows a value on its line, is
// only spaces and a comment.
func endOfLine(rest []byte) bool {
	if len(rest) == 0 {
		return true
	}
	if rest[0] != ' ' {
		return false
	}
	rest = trimLeftSpaces(rest)
	return len(rest) == 0 || rest[0] == '#'
}

// literal reads a literal block scalar ("|" or "|-") that is the value of
// a key of the mapping at indent; header is what follows the "|".
func (p *fastParser) literal(indent int, header []byte) bool {
	strip := false
	if len(header) > 0 && header[0] == '-' {
		strip, header = true, header[1:]
	}
	if !endOfLine(header) {
		return false // an indentation indicator, "+", or ">"
	}
	p.i++
	if p.i == len(p.lines) || p.lines[p.i].empty {
		return false // empty, or leading empty lines
	}
	ci := p.lines[p.i].indent
	if ci <= indent {
		return false // an empty scalar
	}
	var s []byte
	last := -1 // the last line with content
	for ; p.i < len(p.lines); p.i++ {
		l := p.lines[p.i]
		if l.empty {
			if l.indent > ci {
				return false
			}
			s = append(s, '\n')
			continue
		}
		if l.indent < ci {
			break
		}
		if !l.broken {
			return false // no line break after the last line
		}
		s = append(s, bytes.Repeat([]byte{' '}, l.indent-ci)...)
		s = append(s, l.text...)
		s = append(s, '\n')
		last = len(s)
	}
	s = s[:last] // clip: one line break after the last content
	if strip {
		s = s[:last-1]
	}
	p.out = appendJSONString(p.out, s)
	return true
}

// flow writes the flow collection that starts at text[i] ('[' or '{')
// and returns the offset just past its end. The collection must end on the
// line; its plain scalars are made of letters, digits and "._/-".
func (p *fastParser) flow(text []byte, i int) (int, bool) {
	if p.depth++; p.depth > fastMaxDepth {
		return 0, false
	}
	defer func() { p.depth-- }()
	open := text[i]
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	p.out = append(p.out, open)
	base := len(p.entries)
	i = skipSpaces(text, i+1)
	if i < len(text) && text[i] == closing {
		p.out = append(p.out, closing)
		return i + 1, true
	}
	for n := 0; ; n++ {
		if n > 0 {
			p.out = append(p.out, ',')
		}
		start := len(p.out)
		keyLen := 0
		if open == '{' {
			key, j, ok := flowKey(text, i)
			if !ok {
				return 0, false
			}
			p.out = appendJSONString(p.out, key)
			p.out = append(p.out, ':')
			keyLen = len(key)
			i = skipSpaces(text, j)
		}
		j, ok := p.flowValue(text, i)
		if !ok {
			return 0, false
		}
		if open == '{' {
			p.entries = append(p.entries, fastEntry{start: start, end: len(p.out), keyLen: keyLen})
		}
		i = skipSpaces(text, j)
		if i == len(text) {
			return 0, false // continues on the next line
		}
		if text[i] == closing {
			i++
			break
		}
		if text[i] != ',' {
			return 0, false
		}
		i = skipSpaces(text, i+1)
		if i == len(text) || text[i] == closing {
			return 0, false // a trailing comma
		}
	}
	if open == '{' {
		if !p.sortEntries(base) {
			return 0, false
		}
		p.entries = p.entries[:base]
	}
	p.out = append(p.out, closing)
	return i, true
}

// flowValue writes the value of a flow collection at text[i] and returns
// the offset just past it.
func (p *fastParser) flowValue(text []byte, i int) (int, bool) {
	if i == len(text) {
		return 0, false
	}
	switch text[i] {
	case '[', '{':
		return p.flow(text, i)
	case '"', '\'':
		s, n, ok := quoted(text[i:])
		if !ok {
			return 0, false
		}
		p.out = appendJSONString(p.out, s)
		return i + n, true
	}
	j := i
	for j < len(text) && flowPlainByte(text[j]) {
		j++
	}
	if j == i || !plainStart(text[i:j]) {
		return 0, false
	}
	// Only spaces, then a separator, may follow.
	if k := skipSpaces(text, j); k < len(text) && text[k] != ',' && text[k] != ']' && text[k] != '}' {
		return 0, false
	}
	return j, p.scalar(text[i:j])
}

// flowKey reads the key of a flow mapping entry at text[i], through its
// colon, and returns it and the offset past the colon.
func flowKey(text []byte, i int) ([]byte, int, bool) {
	if i == len(text) {
		return nil, 0, false
	}
	var key []byte
	if c := text[i]; c == '"' || c == '\'' {
		s, n, ok := quoted(text[i:])
		if !ok || !plainKeyText(s) {
			return nil, 0, false
		}
		key, i = s, skipSpaces(text, i+n)
		// JSON style: the colon may follow the quote directly.
		if i == len(text) || text[i] != ':' {
			return nil, 0, false
		}
		return key, i + 1, true
	}
	j := i
	for j < len(text) && keyByte(text[j]) {
		j++
	}
	key = text[i:j]
	if !validPlainKey(key) || j+1 >= len(text) || text[j] != ':' || text[j+1] != ' ' {
		return nil, 0, false
	}
	return key, j + 1, true
}

// fastKey reads the mapping key that starts text and returns it and the
// length of the key with its colon; ok is false when text does not start
// with a key the fast path reads.
func fastKey(text []byte) (key []byte, n int, ok bool) {
	if len(text) == 0 {
		return nil, 0, false
	}
	if c := text[0]; c == '"' || c == '\'' {
		s, n, ok := quoted(text)
		if !ok || !plainKeyText(s) {
			return nil, 0, false
		}
		j := skipSpaces(text, n)
		if j == len(text) || text[j] != ':' || (j+1 < len(text) && text[j+1] != ' ') {
			return nil, 0, false
		}
		return s, j + 1, true
	}
	j := 0
	for j < len(text) && keyByte(text[j]) {
		j++
	}
	key = text[:j]
	if !validPlainKey(key) || j == len(text) || text[j] != ':' || (j+1 < len(text) && text[j+1] != ' ') {
		return nil, 0, false
	}
	return key, j + 1, true
}

// keyByte reports whether c may be part of a plain key the fast path
// reads: the characters of Kubernetes names, labels and data keys.
func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-'
}

// flowPlainByte reports whether c may be part of a plain scalar in a flow
// collection the fast path reads.
func flowPlainByte(c byte) bool { return keyByte(c) }

// validPlainKey reports whether key, made of keyBytes, is a plain key that
// YAML 1.1 reads as that string.
func validPlainKey(key []byte) bool {
	return len(key) > 0 && len(key) <= 1000 && key[0] != '-' && plainStart(key) && resolvePlain(key) == plainString
}

// plainKeyText reports whether a quoted key needs no escaping in JSON, so
// that keys sort as encoding/json sorts them.
func plainKeyText(s []byte) bool {
	if len(s) > 1000 {
		return false
	}
	for _, c := range s {
		if c < ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// quoted reads the one-line quoted scalar that starts text and returns
// its value and length.
func quoted(text []byte) (s []byte, n int, ok bool) {
	q := text[0]
	var out []byte
	for i := 1; i < len(text); i++ {
		c := text[i]
		switch {
		case q == '\'' && c == '\'':
			if i+1 < len(text) && text[i+1] == '\'' {
				out = append(out, '\'')
				i++
				continue
			}
			return out, i + 1, true
		case q == '"' && c == '"':
			return out, i + 1, true
		case q == '"' && c == '\\':
			if i+1 == len(text) {
				return nil, 0, false // an escaped line break
			}
			i++
			switch e := text[i]; e {
			case '0':
				out = append(out, 0)
			case 'a':
				out = append(out, '\a')
			case 'b':
				out = append(out, '\b')
			case 't':
				out = append(out, '\t')
			case 'n':
				out = append(out, '\n')
			case 'v':
				out = append(out, '\v')
			case 'f':
				out = append(out, '\f')
			case 'r':
				out = append(out, '\r')
			case 'e':
				out = append(out, 0x1b)
			case ' ', '"', '\'', '\\':
				out = append(out, e)
			case 'u':
				if i+4 >= len(text) {
					return nil, 0, false
				}
				v, err := strconv.ParseUint(string(text[i+1:i+5]), 16, 32)
				if err != nil || v >= 0xD800 && v <= 0xDFFF {
					return nil, 0, false
				}
				out = utf8.AppendRune(out, rune(v))
				i += 4
			default:
				return nil, 0, false // \x, \U, \N, ... or an error
			}
		default:
			out = append(out, c)
		}
	}
	return nil, 0, false // continues on the next line
}

// appendJSONString appends s as a JSON string.
func appendJSONString(out, s []byte) []byte {
	out = append(out, '"')
	for len(s) > 0 {
		// Copy the run of bytes that need no escape at once.
		i := 0
		for i < len(s) && s[i] >= ' ' && s[i] != '"' && s[i] != '\\' {
			i++
		}
		out = append(out, s[:i]...)
		if i == len(s) {
			break
		}
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		default:
			out = append(out, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		}
		s = s[i+1:]
	}
	return append(out, '"')
}

func skipSpaces(text []byte, i int) int {
	for i < len(text) && text[i] == ' ' {
		i++
	}
	return i
}

func trimLeftSpaces(b []byte) []byte  { return b[skipSpaces(b, 0):] }
func trimRightSpaces(b []byte) []byte { return bytes.TrimRight(b, " ") }

// plainType is what YAML 1.1, as go.yaml.in/yaml/v2 resolves it, makes of
// a plain scalar.
type plainType int

const (
	// plainOther: a float, a timestamp, an integer not in canonical
	// decimal form, a merge key...: the fast path declines it.
	plainOther plainType = iota
	plainString
	// plainInt is an integer in canonical decimal form, which JSON
	// writes the same.
	plainInt
	plainTrue
	plainFalse
	plainNull
)

// yaml11Values are the plain scalars go.yaml.in/yaml/v2 resolves by name
// (its resolve.go).
var yaml11Values = func() map[string]plainType {
	m := map[string]plainType{}
	for _, s := range []string{"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"} {
		m[s] = plainTrue
	}
	for _, s := range []string{"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"} {
		m[s] = plainFalse
	}
	for _, s := range []string{"", "~", "null", "Null", "NULL"} {
		m[s] = plainNull
	}
	for _, s := range []string{".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<"} {
		m[s] = plainOther
	}
	return m
}()

// yamlStyleFloat is go.yaml.in/yaml/v2's.
var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolvePlain follows go.yaml.in/yaml/v2's resolve for an untagged plain
// scalar, answering plainOther wherever the value would not be a string,
// a boolean, null or a canonical decimal integer.
func resolvePlain(b []byte) plainType {
	if len(b) == 0 {
		return plainNull
	}
	switch c := b[0]; {
	case c == '+' || c == '-' || '0' <= c && c <= '9' || c == '.' || strings.IndexByte("yYnNtTfFoO~<", c) >= 0:
	default:
		return plainString // the common case, without a copy of b
	}
	s := string(b)
	if s == "<<" {
		return plainOther
	}
	var hint byte
	switch c := s[0]; {
	case c == '+' || c == '-':
		hint = 'S'
	case '0' <= c && c <= '9':
		hint = 'D'
	case strings.IndexByte("yYnNtTfFoO~", c) >= 0:
		hint = 'M'
	case c == '.':
		hint = '.'
	default:
		return plainString
	}
	if t, ok := yaml11Values[s]; ok {
		return t
	}
	switch hint {
	case 'M':
		return plainString
	case '.':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return plainOther
		}
		return plainString
	}
	if canonicalInt(s) {
		return plainInt
	}
	// Anything that may be a timestamp, an integer or a float.
	if len(s) >= 5 && s[4] == '-' && isDigits(s[:4]) {
		return plainOther
	}
	plain := strings.ReplaceAll(s, "_", "")
	if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return plainOther
	}
	if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return plainOther
	}
	if yamlStyleFloat.MatchString(plain) {
		return plainOther
	}
	if strings.HasPrefix(plain, "0b") || strings.HasPrefix(plain, "-0b") {
		return plainOther
	}
	return plainString
}

// canonicalInt reports whether s is an integer as encoding/json writes
// one: "0", or digits not starting with 0 after an optional "-", within
// 18 digits (an int64 for sure).
func canonicalInt(s string) bool {
	d := strings.TrimPrefix(s, "-")
	if d == "0" {
		return s == "0"
	}
	return len(d) > 0 && len(d) <= 18 && d[0] != '0' && isDigits(d)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}
