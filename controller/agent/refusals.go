package agent

import (
	"bytes"
	"crypto/sha256"
	"strings"

	"hagate.io/hagate/controller/pipeline"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render/ir"
)

// refusal is an object whose configuration HAProxy refused: render leaves
// it out (with a condition quoting HAProxy) for as long as it would
// produce the same refused text.
type refusal struct {
	origin ir.Origin
	// reason is HAProxy's message.
	reason string
	// path is the Bundle file HAProxy pointed at; line, when set, is the
	// text of the refused line, otherwise sum is the refused file's.
	path string
	line string
	sum  [32]byte
}

// refusals are the objects left out of the configuration.
type refusals []refusal

// byOrigin is what render.Options.Refused takes.
func (rs refusals) byOrigin() map[ir.Origin]string {
	if len(rs) == 0 {
		return nil
	}
	m := make(map[ir.Origin]string, len(rs))
	for _, r := range rs {
		if _, ok := m[r.origin]; !ok {
			m[r.origin] = r.reason
		}
	}
	return m
}

// has reports whether o is refused already.
func (rs refusals) has(o ir.Origin) bool {
	for _, r := range rs {
		if r.origin == o {
			return true
		}
	}
	return false
}

// still keeps the refusals whose refused file or line b (rendered with
// nothing left out) still holds: a changed object is tried again.
func (rs refusals) still(b *bundle.Bundle) refusals {
	var out refusals
	for _, r := range rs {
		f := b.Get(r.path)
		if f == nil {
			continue
		}
		if r.line == "" {
			if sha256.Sum256(f.Content) == r.sum {
				out = append(out, r)
			}
			continue
		}
		for _, l := range bytes.Split(f.Content, []byte("\n")) {
			if string(bytes.TrimSpace(l)) == r.line {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// trace finds the object responsible for each of HAProxy's complaints
// about out's Bundle. untraced are the complaints no single object is
// responsible for (or that point nowhere): those are never blamed on an
// object.
func trace(ce *haproxy.CheckError, out *pipeline.Output) (found refusals, untraced []haproxy.Problem) {
	for _, p := range ce.Problems {
		o := out.Origins.At(p.Path, p.Line)
		f := out.Bundle.Get(p.Path)
		if o.IsZero() || f == nil {
			untraced = append(untraced, p)
			continue
		}
		r := refusal{origin: o, reason: p.Message, path: p.Path}
		if p.Line > 0 {
			lines := strings.Split(string(f.Content), "\n")
			if p.Line > len(lines) {
				untraced = append(untraced, p)
				continue
			}
			r.line = strings.TrimSpace(lines[p.Line-1])
		} else {
			r.sum = sha256.Sum256(f.Content)
		}
		found = append(found, r)
	}
	return found, untraced
}
