package report

// This file writes JSON text as YAML, byte for byte as
// sigs.k8s.io/yaml.JSONToYAML writes it, that is as go.yaml.in/yaml/v2's
// Marshal writes the value JSONToYAML decodes: the emitter below is a
// port of the parts of its emitterc.go (itself a port of libyaml; MIT and
// Apache-2.0 licensed) that such values use, and of its rules for choosing
// a scalar's style (encode.go, resolve.go).
// Ported rather than called because going through JSON text and a YAML
// parser took most of the time of `hagate render` on large inputs.
//
// yamlWriter.write declines (ok false) what the port does not cover: a
// key that is not made of ASCII letters, a number that is not an integer
// of at most 15 digits, a string that is not valid UTF-8. The caller then
// goes the old way.

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// v2BestIndent and v2BestWidth are yaml.v2's defaults.
	v2BestIndent = 2
	v2BestWidth  = 80
)

// scalarStyle is a yaml_scalar_style_t.
type scalarStyle int

const (
	plainStyle scalarStyle = iota
	singleQuotedStyle
	doubleQuotedStyle
	literalStyle
)

// emitter is the state of yaml_emitter_t that block mappings, block
// sequences, empty flow collections and scalars use.
type emitter struct {
	out        []byte
	column     int
	indent     int
	indents    []int
	whitespace bool
	indention  bool
	flowLevel  int
	// The contexts yaml_emitter_emit_node sets.
	mappingContext   bool
	simpleKeyContext bool
	// The analysis of the current scalar.
	scalar scalarAnalysis
	// w caches what the emitter learns about scalars.
	w *yamlWriter
}

// scalarAnalysis is yaml_emitter_t.scalar_data.
type scalarAnalysis struct {
	value               []byte
	multiline           bool
	flowPlainAllowed    bool
	blockPlainAllowed   bool
	singleQuotedAllowed bool
	blockAllowed        bool
}

// yamlWriter writes documents, keeping what it learnt about the scalars
// it wrote: the report repeats the same keys and values thousands of
// times. It is not safe for concurrent use.
type yamlWriter struct {
	keys, values map[string]*cachedScalar
	// parser is kept with its buffers from one document to the next.
	parser jsonParser
	// json and enc write entries as JSON text.
	json bytes.Buffer
	enc  *json.Encoder
	// out holds the documents written, one after the other.
	out []byte
}

// cachedScalar is how a scalar is written where it cannot be folded.
type cachedScalar struct {
	// ok: the scalar is written as text below wherever it fits on the
	// line; otherwise it is written by the emitter each time (a literal
	// block, a scalar with line breaks).
	ok bool
	// text is the scalar as written, without the space before it.
	text []byte
	// cols is how many columns text takes; spaces whether it holds a
	// space, where yaml.v2 may fold the line.
	cols   int
	spaces bool
	// style is the style the emitter chose.
	style scalarStyle
	// invalid: yaml.v2 would not write the string as a string (it is
	// not UTF-8); the document goes the old way.
	invalid bool
}

func newYAMLWriter() *yamlWriter {
	w := &yamlWriter{keys: map[string]*cachedScalar{}, values: map[string]*cachedScalar{}}
	w.enc = json.NewEncoder(&w.json)
	return w
}

// write appends to out the JSON text js as sigs.k8s.io/yaml.JSONToYAML
// writes it, without lastTransitionTime fields, or reports false when it
// is not sure to.
func (w *yamlWriter) write(js, out []byte) ([]byte, bool) {
	root, ok := w.parser.parse(js)
	if !ok {
		return nil, false
	}
	e := &emitter{out: out, indent: -1, whitespace: true, indention: true, w: w}
	if !e.node(&root, false, false) {
		return nil, false
	}
	// Document end (implicit): a line break unless at the start of a line.
	e.writeIndent()
	return e.out, true
}

// node is yaml_emitter_emit_node for one value and what follows from it.
func (e *emitter) node(n *jnode, mapping, simpleKey bool) bool {
	e.mappingContext = mapping
	e.simpleKeyContext = simpleKey
	switch n.kind {
	case '{':
		return e.mapping(n)
	case '[':
		return e.sequence(n)
	case '"':
		return e.cached(n.text, e.w.values)
	}
	// An integer (which yaml.v2 reads as an int and writes as is), true,
	// false or null: plain, nothing to escape, nowhere to fold.
	if !e.whitespace {
		e.put(' ')
	}
	e.out = append(e.out, n.text...)
	e.column += len(n.text)
	e.whitespace = false
	e.indention = false
	return true
}

// mapping writes a mapping. yaml.v2 orders keys by rune, letters before
// other characters and numbers by value: parseJSONTree accepts keys of
// ASCII letters only (the status types' field names), in byte order.
func (e *emitter) mapping(n *jnode) bool {
	if len(n.kids) == 0 {
		// yaml_emitter_emit_flow_mapping_key for an empty mapping.
		e.writeIndicator("{", true, true, false)
		e.increaseIndent(true, false)
		e.indent = e.popIndent()
		e.writeIndicator("}", false, false, false)
		return true
	}
	e.increaseIndent(false, false)
	for i := range n.kids {
		e.writeIndent()
		e.mappingContext = true
		e.simpleKeyContext = true
		if !e.cached(n.kids[i].key, e.w.keys) {
			return false
		}
		e.writeIndicator(":", false, false, false)
		if !e.node(&n.kids[i], true, false) {
			return false
		}
	}
	e.indent = e.popIndent()
	return true
}

// sequence writes a sequence.
func (e *emitter) sequence(n *jnode) bool {
	if len(n.kids) == 0 {
		e.writeIndicator("[", true, true, false)
		e.increaseIndent(true, false)
		e.indent = e.popIndent()
		e.writeIndicator("]", false, false, false)
		return true
	}
	e.increaseIndent(false, e.mappingContext && !e.indention)
	for i := range n.kids {
		e.writeIndent()
		e.writeIndicator("-", true, false, true)
		if !e.node(&n.kids[i], false, false) {
			return false
		}
	}
	e.indent = e.popIndent()
	return true
}

// cached writes the string s, a key (in cache w.keys, in the simple key
// context) or a value (w.values), from what the cache knows of it where
// it fits on the line, else through the emitter.
func (e *emitter) cached(b []byte, cache map[string]*cachedScalar) bool {
	c := cache[string(b)]
	if c == nil {
		c = e.learn(string(b))
		cache[string(b)] = c
	}
	if c.invalid {
		return false
	}
	if c.ok && (!c.spaces || e.column+1+c.cols <= v2BestWidth) {
		// Every writer starts with a space unless after one, and ends
		// out of whitespace and indentation.
		if !e.whitespace {
			e.put(' ')
		}
		e.out = append(e.out, c.text...)
		e.column += c.cols
		e.whitespace = false
		e.indention = false
		return true
	}
	return e.emitScalar(b, c.style)
}

// learn works out how yaml.v2 writes the string s in the current context
// (a key or a value): encoder.stringv's choice of style, the emitter's
// analysis, and the text where nothing is folded.
func (e *emitter) learn(s string) *cachedScalar {
	if !utf8.ValidString(s) {
		return &cachedScalar{invalid: true} // yaml.v2 would write it as !!binary
	}
	c := &cachedScalar{style: doubleQuotedStyle}
	switch {
	case strings.Contains(s, "\n"):
		c.style = literalStyle
	case resolvesToString(s) && !isBase60Float(s):
		c.style = plainStyle
	}
	scratch := &emitter{indent: 0, whitespace: true, indention: true, simpleKeyContext: e.simpleKeyContext}
	scratch.analyzeScalar([]byte(s))
	if e.simpleKeyContext && (scratch.scalar.multiline || len(s) > 128) {
		// yaml_emitter_check_simple_key: a key of one line and at most
		// 128 bytes. Others are written otherwise ("? key").
		return &cachedScalar{invalid: true}
	}
	style := scratch.selectStyle(c.style)
	if scratch.scalar.multiline || style == literalStyle {
		return c // written by the emitter each time
	}
	v := scratch.scalar.value
	switch style {
	case plainStyle:
		scratch.writePlain(v, false)
	case singleQuotedStyle:
		scratch.writeSingleQuoted(v, false)
	case doubleQuotedStyle:
		scratch.writeDoubleQuoted(v, false)
	}
	c.ok = true
	c.text = scratch.out
	c.cols = scratch.column
	c.spaces = strings.IndexByte(s, ' ') >= 0
	return c
}

// emitScalar is yaml_emitter_emit_scalar for an implicit scalar of the
// requested style.
func (e *emitter) emitScalar(value []byte, style scalarStyle) bool {
	e.analyzeScalar(value)
	style = e.selectStyle(style)
	e.increaseIndent(true, false)
	v := e.scalar.value
	switch style {
	case plainStyle:
		e.writePlain(v, !e.simpleKeyContext)
	case singleQuotedStyle:
		e.writeSingleQuoted(v, !e.simpleKeyContext)
	case doubleQuotedStyle:
		e.writeDoubleQuoted(v, !e.simpleKeyContext)
	case literalStyle:
		e.writeLiteral(v)
	}
	e.indent = e.popIndent()
	return true
}

// selectStyle is yaml_emitter_select_scalar_style.
func (e *emitter) selectStyle(style scalarStyle) scalarStyle {
	a := &e.scalar
	if e.simpleKeyContext && a.multiline {
		style = doubleQuotedStyle
	}
	if style == plainStyle {
		if e.flowLevel > 0 && !a.flowPlainAllowed || e.flowLevel == 0 && !a.blockPlainAllowed {
			style = singleQuotedStyle
		}
		if len(a.value) == 0 && (e.flowLevel > 0 || e.simpleKeyContext) {
			style = singleQuotedStyle
		}
	}
	if style == singleQuotedStyle && !a.singleQuotedAllowed {
		style = doubleQuotedStyle
	}
	if style == literalStyle && (!a.blockAllowed || e.flowLevel > 0 || e.simpleKeyContext) {
		style = doubleQuotedStyle
	}
	return style
}

func (e *emitter) increaseIndent(flow, indentless bool) {
	e.indents = append(e.indents, e.indent)
	if e.indent < 0 {
		if flow {
			e.indent = v2BestIndent
		} else {
			e.indent = 0
		}
	} else if !indentless {
		e.indent += v2BestIndent
	}
}

func (e *emitter) popIndent() int {
	i := e.indents[len(e.indents)-1]
	e.indents = e.indents[:len(e.indents)-1]
	return i
}

// put writes one byte.
func (e *emitter) put(c byte) {
	e.out = append(e.out, c)
	e.column++
}

// putBreak writes a line break.
func (e *emitter) putBreak() {
	e.out = append(e.out, '\n')
	e.column = 0
}

// write copies the character at s[*i].
func (e *emitter) write(s []byte, i *int) {
	w := width(s[*i])
	e.out = append(e.out, s[*i:*i+w]...)
	e.column++
	*i += w
}

func (e *emitter) writeAll(s string) {
	for i := 0; i < len(s); i++ {
		e.put(s[i])
	}
}

// writeBreak copies the line break at s[*i].
func (e *emitter) writeBreak(s []byte, i *int) {
	if s[*i] == '\n' {
		e.putBreak()
		*i++
	} else {
		e.write(s, i)
		e.column = 0
	}
}

func (e *emitter) writeIndent() {
	indent := max(e.indent, 0)
	if !e.indention || e.column > indent || (e.column == indent && !e.whitespace) {
		e.putBreak()
	}
	for e.column < indent {
		e.put(' ')
	}
	e.whitespace = true
	e.indention = true
}

func (e *emitter) writeIndicator(indicator string, needWhitespace, isWhitespace, isIndention bool) {
	if needWhitespace && !e.whitespace {
		e.put(' ')
	}
	e.writeAll(indicator)
	e.whitespace = isWhitespace
	e.indention = e.indention && isIndention
}

// analyzeScalar is yaml_emitter_analyze_scalar.
func (e *emitter) analyzeScalar(value []byte) {
	var (
		blockIndicators, flowIndicators, lineBreaks, specialCharacters bool

		leadingSpace, leadingBreak, trailingSpace, trailingBreak bool
		breakSpace, spaceBreak                                   bool

		precededByWhitespace, followedByWhitespace, previousSpace, previousBreak bool
	)
	a := &e.scalar
	a.value = value
	if len(value) == 0 {
		*a = scalarAnalysis{value: value, blockPlainAllowed: true, singleQuotedAllowed: true}
		return
	}
	if len(value) >= 3 && ((value[0] == '-' && value[1] == '-' && value[2] == '-') || (value[0] == '.' && value[1] == '.' && value[2] == '.')) {
		blockIndicators = true
		flowIndicators = true
	}
	precededByWhitespace = true
	for i, w := 0, 0; i < len(value); i += w {
		w = width(value[i])
		followedByWhitespace = i+w >= len(value) || isBlank(value, i+w)
		if i == 0 {
			switch value[i] {
			case '#', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
				flowIndicators = true
				blockIndicators = true
			case '?', ':':
				flowIndicators = true
				if followedByWhitespace {
					blockIndicators = true
				}
			case '-':
				if followedByWhitespace {
					flowIndicators = true
					blockIndicators = true
				}
			}
		} else {
			switch value[i] {
			case ',', '?', '[', ']', '{', '}':
				flowIndicators = true
			case ':':
				flowIndicators = true
				if followedByWhitespace {
					blockIndicators = true
				}
			case '#':
				if precededByWhitespace {
					flowIndicators = true
					blockIndicators = true
				}
			}
		}
		// The emitter is set to unicode: only unprintable characters are
		// special.
		if !isPrintable(value, i) {
			specialCharacters = true
		}
		if isSpace(value, i) {
			if i == 0 {
				leadingSpace = true
			}
			if i+width(value[i]) == len(value) {
				trailingSpace = true
			}
			if previousBreak {
				breakSpace = true
			}
			previousSpace = true
			previousBreak = false
		} else if isBreak(value, i) {
			lineBreaks = true
			if i == 0 {
				leadingBreak = true
			}
			if i+width(value[i]) == len(value) {
				trailingBreak = true
			}
			if previousSpace {
				spaceBreak = true
			}
			previousSpace = false
			previousBreak = true
		} else {
			previousSpace = false
			previousBreak = false
		}
		precededByWhitespace = isBlankz(value, i)
	}
	a.multiline = lineBreaks
	a.flowPlainAllowed = true
	a.blockPlainAllowed = true
	a.singleQuotedAllowed = true
	a.blockAllowed = true
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		a.flowPlainAllowed = false
		a.blockPlainAllowed = false
	}
	if trailingSpace {
		a.blockAllowed = false
	}
	if breakSpace {
		a.flowPlainAllowed = false
		a.blockPlainAllowed = false
		a.singleQuotedAllowed = false
	}
	if spaceBreak || specialCharacters {
		a.flowPlainAllowed = false
		a.blockPlainAllowed = false
		a.singleQuotedAllowed = false
		a.blockAllowed = false
	}
	if lineBreaks {
		a.flowPlainAllowed = false
		a.blockPlainAllowed = false
	}
	if flowIndicators {
		a.flowPlainAllowed = false
	}
	if blockIndicators {
		a.blockPlainAllowed = false
	}
}

// writePlain is yaml_emitter_write_plain_scalar.
func (e *emitter) writePlain(value []byte, allowBreaks bool) {
	if !e.whitespace {
		e.put(' ')
	}
	spaces := false
	breaks := false
	for i := 0; i < len(value); {
		if isSpace(value, i) {
			if allowBreaks && !spaces && e.column > v2BestWidth && !isSpace(value, i+1) {
				e.writeIndent()
				i += width(value[i])
			} else {
				e.write(value, &i)
			}
			spaces = true
		} else if isBreak(value, i) {
			if !breaks && value[i] == '\n' {
				e.putBreak()
			}
			e.writeBreak(value, &i)
			e.indention = true
			breaks = true
		} else {
			if breaks {
				e.writeIndent()
			}
			e.write(value, &i)
			e.indention = false
			spaces = false
			breaks = false
		}
	}
	e.whitespace = false
	e.indention = false
}

// writeSingleQuoted is yaml_emitter_write_single_quoted_scalar.
func (e *emitter) writeSingleQuoted(value []byte, allowBreaks bool) {
	e.writeIndicator("'", true, false, false)
	spaces := false
	breaks := false
	for i := 0; i < len(value); {
		if isSpace(value, i) {
			if allowBreaks && !spaces && e.column > v2BestWidth && i > 0 && i < len(value)-1 && !isSpace(value, i+1) {
				e.writeIndent()
				i += width(value[i])
			} else {
				e.write(value, &i)
			}
			spaces = true
		} else if isBreak(value, i) {
			if !breaks && value[i] == '\n' {
				e.putBreak()
			}
			e.writeBreak(value, &i)
			e.indention = true
			breaks = true
		} else {
			if breaks {
				e.writeIndent()
			}
			if value[i] == '\'' {
				e.put('\'')
			}
			e.write(value, &i)
			e.indention = false
			spaces = false
			breaks = false
		}
	}
	e.writeIndicator("'", false, false, false)
	e.whitespace = false
	e.indention = false
}

// writeDoubleQuoted is yaml_emitter_write_double_quoted_scalar.
func (e *emitter) writeDoubleQuoted(value []byte, allowBreaks bool) {
	spaces := false
	e.writeIndicator(`"`, true, false, false)
	for i := 0; i < len(value); {
		if !isPrintable(value, i) || isBOM(value, i) || isBreak(value, i) || value[i] == '"' || value[i] == '\\' {
			octet := value[i]
			var w int
			var v rune
			switch {
			case octet&0x80 == 0x00:
				w, v = 1, rune(octet&0x7F)
			case octet&0xE0 == 0xC0:
				w, v = 2, rune(octet&0x1F)
			case octet&0xF0 == 0xE0:
				w, v = 3, rune(octet&0x0F)
			case octet&0xF8 == 0xF0:
				w, v = 4, rune(octet&0x07)
			}
			for k := 1; k < w; k++ {
				octet = value[i+k]
				v = (v << 6) + (rune(octet) & 0x3F)
			}
			i += w
			e.put('\\')
			switch v {
			case 0x00:
				e.put('0')
			case 0x07:
				e.put('a')
			case 0x08:
				e.put('b')
			case 0x09:
				e.put('t')
			case 0x0A:
				e.put('n')
			case 0x0b:
				e.put('v')
			case 0x0c:
				e.put('f')
			case 0x0d:
				e.put('r')
			case 0x1b:
				e.put('e')
			case 0x22:
				e.put('"')
			case 0x5c:
				e.put('\\')
			case 0x85:
				e.put('N')
			case 0xA0:
				e.put('_')
			case 0x2028:
				e.put('L')
			case 0x2029:
				e.put('P')
			default:
				if v <= 0xFF {
					e.put('x')
					w = 2
				} else if v <= 0xFFFF {
					e.put('u')
					w = 4
				} else {
					e.put('U')
					w = 8
				}
				for k := (w - 1) * 4; k >= 0; k -= 4 {
					digit := byte((v >> uint(k)) & 0x0F)
					if digit < 10 {
						e.put(digit + '0')
					} else {
						e.put(digit + 'A' - 10)
					}
				}
			}
			spaces = false
		} else if isSpace(value, i) {
			if allowBreaks && !spaces && e.column > v2BestWidth && i > 0 && i < len(value)-1 {
				e.writeIndent()
				if isSpace(value, i+1) {
					e.put('\\')
				}
				i += width(value[i])
			} else {
				e.write(value, &i)
			}
			spaces = true
		} else {
			e.write(value, &i)
			spaces = false
		}
	}
	e.writeIndicator(`"`, false, false, false)
	e.whitespace = false
	e.indention = false
}

// writeBlockScalarHints is yaml_emitter_write_block_scalar_hints.
func (e *emitter) writeBlockScalarHints(value []byte) {
	if isSpace(value, 0) || isBreak(value, 0) {
		e.writeIndicator(string(rune('0'+v2BestIndent)), false, false, false)
	}
	var chomp string
	if len(value) == 0 {
		chomp = "-"
	} else {
		i := len(value) - 1
		for value[i]&0xC0 == 0x80 {
			i--
		}
		if !isBreak(value, i) {
			chomp = "-"
		} else if i == 0 {
			chomp = "+"
		} else {
			i--
			for value[i]&0xC0 == 0x80 {
				i--
			}
			if isBreak(value, i) {
				chomp = "+"
			}
		}
	}
	if chomp != "" {
		e.writeIndicator(chomp, false, false, false)
	}
}

// writeLiteral is yaml_emitter_write_literal_scalar.
func (e *emitter) writeLiteral(value []byte) {
	e.writeIndicator("|", true, false, false)
	e.writeBlockScalarHints(value)
	e.putBreak()
	e.indention = true
	e.whitespace = true
	breaks := true
	for i := 0; i < len(value); {
		if isBreak(value, i) {
			e.writeBreak(value, &i)
			e.indention = true
			breaks = true
		} else {
			if breaks {
				e.writeIndent()
			}
			e.write(value, &i)
			e.indention = false
			breaks = false
		}
	}
}

// The character classes of yamlprivateh.go. Like them, they look at the
// bytes after s[i] only where s[i] starts a character that has them.

func isPrintable(b []byte, i int) bool {
	return b[i] == 0x0A ||
		b[i] >= 0x20 && b[i] <= 0x7E ||
		b[i] == 0xC2 && b[i+1] >= 0xA0 ||
		b[i] > 0xC2 && b[i] < 0xED ||
		b[i] == 0xED && b[i+1] < 0xA0 ||
		b[i] == 0xEE ||
		b[i] == 0xEF && !(b[i+1] == 0xBB && b[i+2] == 0xBF) && !(b[i+1] == 0xBF && (b[i+2] == 0xBE || b[i+2] == 0xBF))
}

// isBOM looks at the start of b whatever i is, as yaml.v2's is_bom does.
func isBOM(b []byte, _ int) bool {
	return b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF
}

func isSpace(b []byte, i int) bool { return b[i] == ' ' }

func isBlank(b []byte, i int) bool { return b[i] == ' ' || b[i] == '\t' }

func isBreak(b []byte, i int) bool {
	return b[i] == '\r' || b[i] == '\n' ||
		b[i] == 0xC2 && b[i+1] == 0x85 ||
		b[i] == 0xE2 && b[i+1] == 0x80 && b[i+2] == 0xA8 ||
		b[i] == 0xE2 && b[i+1] == 0x80 && b[i+2] == 0xA9
}

func isBlankz(b []byte, i int) bool {
	return isBlank(b, i) || isBreak(b, i) || b[i] == 0
}

func width(b byte) int {
	switch {
	case b&0x80 == 0x00:
		return 1
	case b&0xE0 == 0xC0:
		return 2
	case b&0xF0 == 0xE0:
		return 3
	case b&0xF8 == 0xF0:
		return 4
	}
	return 0
}

// The plain scalars yaml.v2 resolves by name (resolve.go); none is a
// string.
var v2Names = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Fields("y Y yes Yes YES true True TRUE on On ON n N no No NO false False FALSE off Off OFF " +
		"~ null Null NULL .nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF <<") {
		m[s] = true
	}
	m[""] = true
	return m
}()

// v2Float is yamlStyleFloat of yaml.v2's resolve.go.
var v2Float = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolvesToString reports whether yaml.v2's resolve("", s) is a string:
// whether s written plain reads back as the string s.
func resolvesToString(s string) bool {
	hint := byte('N')
	if s != "" {
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
			hint = 0
		}
	}
	if hint == 0 {
		return true
	}
	if v2Names[s] {
		return false
	}
	switch hint {
	case 'M':
		return true
	case '.':
		_, err := strconv.ParseFloat(s, 64)
		return err != nil
	}
	// 'D' or 'S': an int, a float or a timestamp.
	if v2Timestamp(s) {
		return false
	}
	plain := strings.ReplaceAll(s, "_", "")
	if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return false
	}
	if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return false
	}
	if v2Float.MatchString(plain) {
		if _, err := strconv.ParseFloat(plain, 64); err == nil {
			return false
		}
	}
	if strings.HasPrefix(plain, "0b") {
		if _, err := strconv.ParseInt(plain[2:], 2, 64); err == nil {
			return false
		}
		if _, err := strconv.ParseUint(plain[2:], 2, 64); err == nil {
			return false
		}
	} else if strings.HasPrefix(plain, "-0b") {
		if _, err := strconv.ParseInt("-"+plain[3:], 2, 64); err == nil {
			return false
		}
	}
	return true
}

// v2TimestampFormats are yaml.v2's allowedTimestampFormats.
var v2TimestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

// v2Timestamp is yaml.v2's parseTimestamp: whether s reads as a
// timestamp.
func v2Timestamp(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			break
		}
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return false
	}
	for _, format := range v2TimestampFormats {
		if _, err := time.Parse(format, s); err == nil {
			return true
		}
	}
	return false
}

// v2Base60Float is yaml.v2's base60float.
var v2Base60Float = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

// isBase60Float is yaml.v2's isBase60Float.
func isBase60Float(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !(c == '+' || c == '-' || c >= '0' && c <= '9') || strings.IndexByte(s, ':') < 0 {
		return false
	}
	return v2Base60Float.MatchString(s)
}
