package report

import (
	"bytes"
	"slices"
	"strconv"
	"unicode/utf8"
)

// jnode is a JSON value as the report writes it: what encoding/json would
// decode into an any, with the keys of objects sorted and their
// lastTransitionTime fields left out.
type jnode struct {
	// kind is '{' (an object), '[' (an array), '"' (a string), or 'v' for
	// the other values, written as text says: an integer, true, false or
	// null.
	kind byte
	text []byte
	// key is the key of an object's value.
	key []byte
	// kids are the values of an object, by key, or the items of an array.
	kids []jnode
}

// parse parses JSON text written by encoding/json. It reports false for
// what the report's writer does not handle the way JSONToYAML does: an
// object key that is not made of ASCII letters, a number that is not an
// integer of at most 15 digits (which a float64 holds exactly), an
// escaped surrogate. The nodes refer to js and to the parser's arena: they
// are valid until the next parse.
func (p *jsonParser) parse(js []byte) (jnode, bool) {
	p.s, p.i = js, 0
	p.stack = p.stack[:0]
	p.arena = p.arena[:0]
	n, ok := p.value()
	if !ok {
		return jnode{}, false
	}
	p.space()
	return n, p.i == len(p.s)
}

// jsonParser parses JSON text into jnodes.
type jsonParser struct {
	s []byte
	i int
	// stack holds the values of the objects and arrays being read.
	stack []jnode
	// arena holds the kids of every node. When it grows, the kids taken
	// before stay in the old array, which nothing writes again.
	arena []jnode
}

func (p *jsonParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonParser) value() (jnode, bool) {
	p.space()
	if p.i == len(p.s) {
		return jnode{}, false
	}
	switch c := p.s[p.i]; {
	case c == '{' || c == '[':
		return p.collection(c)
	case c == '"':
		s, ok := p.str()
		return jnode{kind: '"', text: s}, ok
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	return jnode{}, false
}

func (p *jsonParser) literal(word string) (jnode, bool) {
	end := p.i + len(word)
	if end > len(p.s) || string(p.s[p.i:end]) != word {
		return jnode{}, false
	}
	n := jnode{kind: 'v', text: p.s[p.i:end]}
	p.i = end
	return n, true
}

// number accepts integers as encoding/json writes them, of at most 15
// digits: decoded into a float64 and written again, they are the same.
func (p *jsonParser) number() (jnode, bool) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
	}
	n := p.i - digits
	if n == 0 || n > 15 || (n > 1 && p.s[digits] == '0') || (n == 1 && p.s[digits] == '0' && digits > start) {
		return jnode{}, false // no digits, too many, a leading zero, -0
	}
	if p.i < len(p.s) && (p.s[p.i] == '.' || p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		return jnode{}, false
	}
	return jnode{kind: 'v', text: p.s[start:p.i]}, true
}

// str reads a string: a part of s, or a new buffer where it has escapes.
func (p *jsonParser) str() ([]byte, bool) {
	p.i++ // the quote
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != '"' && p.s[p.i] != '\\' {
		p.i++
	}
	if p.i < len(p.s) && p.s[p.i] == '"' {
		p.i++
		return p.s[start : p.i-1], true
	}
	buf := append([]byte(nil), p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return buf, true
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return nil, false
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			if p.i+4 > len(p.s) {
				return nil, false
			}
			v, err := strconv.ParseUint(string(p.s[p.i:p.i+4]), 16, 32)
			if err != nil || 0xD800 <= v && v <= 0xDFFF {
				return nil, false // encoding/json writes no surrogates
			}
			buf = utf8.AppendRune(buf, rune(v))
			p.i += 4
		default:
			return nil, false
		}
	}
	return nil, false
}

// collection reads an object or an array.
func (p *jsonParser) collection(open byte) (jnode, bool) {
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	p.i++
	n := jnode{kind: open}
	base := len(p.stack)
	p.space()
	if p.i < len(p.s) && p.s[p.i] == closing {
		p.i++
		return n, true
	}
	for {
		var key []byte
		if open == '{' {
			p.space()
			if p.i == len(p.s) || p.s[p.i] != '"' {
				return jnode{}, false
			}
			k, ok := p.str()
			if !ok || !letters(k) {
				return jnode{}, false
			}
			p.space()
			if p.i == len(p.s) || p.s[p.i] != ':' {
				return jnode{}, false
			}
			p.i++
			key = k
		}
		v, ok := p.value()
		if !ok {
			return jnode{}, false
		}
		if string(key) != "lastTransitionTime" { // the report is stable
			v.key = key
			p.stack = append(p.stack, v)
		}
		p.space()
		if p.i == len(p.s) {
			return jnode{}, false
		}
		if p.s[p.i] == closing {
			p.i++
			break
		}
		if p.s[p.i] != ',' {
			return jnode{}, false
		}
		p.i++
	}
	start := len(p.arena)
	p.arena = append(p.arena, p.stack[base:]...)
	n.kids = p.arena[start:len(p.arena):len(p.arena)]
	p.stack = p.stack[:base]
	if open == '{' {
		slices.SortFunc(n.kids, func(a, b jnode) int { return bytes.Compare(a.key, b.key) })
		for i := 1; i < len(n.kids); i++ {
			if bytes.Equal(n.kids[i].key, n.kids[i-1].key) {
				return jnode{}, false // a repeated key: encoding/json keeps the last
			}
		}
	}
	return n, true
}

// letters reports whether k is made of ASCII letters only.
func letters(k []byte) bool {
	for _, c := range k {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return len(k) > 0
}
