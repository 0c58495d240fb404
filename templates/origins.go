package templates

import (
	"bytes"
	"sort"

	"hagate.io/hagate/render/ir"
)

// Origins traces the files and lines of a Bundle to the Gateway API
// objects they come from (ir.Origin), so that a file or line HAProxy
// refuses can be reported on the object responsible. A line no single
// object is responsible for (a bind line shared by a port's listeners,
// the defaults) has no origin.
type Origins struct {
	files map[string]ir.Origin
	lines map[string][]span
}

// span is lines first..last (1-based, inclusive) of a file.
type span struct {
	first, last int
	origin      ir.Origin
}

func newOrigins() *Origins {
	return &Origins{files: map[string]ir.Origin{}, lines: map[string][]span{}}
}

// At returns the origin of a line of a file (line 0: the file as a
// whole), or the zero Origin when no single object is responsible.
func (o *Origins) At(path string, line int) ir.Origin {
	if o == nil {
		return ir.Origin{}
	}
	if x, ok := o.files[path]; ok {
		return x
	}
	if line <= 0 {
		return ir.Origin{}
	}
	spans := o.lines[path]
	i := sort.Search(len(spans), func(i int) bool { return spans[i].last >= line })
	if i < len(spans) && spans[i].first <= line {
		return spans[i].origin
	}
	return ir.Origin{}
}

func (o *Origins) file(path string, origin ir.Origin) {
	if !origin.IsZero() {
		o.files[path] = origin
	}
}

func (o *Origins) line(path string, line int, origin ir.Origin) {
	if !origin.IsZero() {
		o.lines[path] = append(o.lines[path], span{line, line, origin})
	}
}

// recorder notes, while a template writes into buf, where the lines of
// each origin begin: the template calls from (a mark) before an object's
// lines and endfrom after them. A mark covers the lines that start at or
// after it and before the next mark.
type recorder struct {
	buf   *bytes.Buffer
	marks []mark
}

type mark struct {
	offset int
	origin ir.Origin
}

func (r *recorder) from(o ir.Origin) string {
	r.marks = append(r.marks, mark{r.buf.Len(), o})
	return ""
}

func (r *recorder) endfrom() string { return r.from(ir.Origin{}) }

// spans turns the marks into line spans of the written text.
func (r *recorder) spans() []span {
	data := r.buf.Bytes()
	// starts[i] is the offset where line i+1 starts.
	starts := []int{0}
	for i, c := range data {
		if c == '\n' && i+1 < len(data) {
			starts = append(starts, i+1)
		}
	}
	firstLineFrom := func(off int) int { // first line starting at or after off, 1-based
		return sort.SearchInts(starts, off) + 1
	}
	var out []span
	for i, m := range r.marks {
		if m.origin.IsZero() {
			continue
		}
		end := len(data)
		if i+1 < len(r.marks) {
			end = r.marks[i+1].offset
		}
		first, next := firstLineFrom(m.offset), firstLineFrom(end)
		if next > first {
			out = append(out, span{first, next - 1, m.origin})
		}
	}
	return out
}
