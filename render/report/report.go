// Package report writes the status report of `hagate render`: every Gateway
// API object of the input with the status hagate computed for it, as
// multi-document YAML, in a stable order and without timestamps.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/render/status"
)

// entry is one object of the report.
type entry struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Metadata   entryMeta `json:"metadata"`
	Status     any       `json:"status"`
	order      int       `json:"-"`
	key        string    `json:"-"`
}

type entryMeta struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
	Generation int64  `json:"generation,omitempty"`
}

// Status renders the report: every object hagate computed a status for,
// and a leading comment naming the Gateway API objects it left alone (a
// name that is not plain is Go-quoted there: see commentValue).
func Status(snap *snapshot.Snapshot, st *status.Set) ([]byte, error) {
	return StatusOn(snap, st, 0)
}

// StatusOn is Status written by at most workers goroutines (0: one per
// core Go may use): a background report takes one core, leaving the
// other to the next render.
func StatusOn(snap *snapshot.Snapshot, st *status.Set, workers int) ([]byte, error) {
	var es []entry
	var skipped []string
	skip := func(kind string, o metav1.Object) {
		name := commentValue(o.GetName())
		if o.GetNamespace() != "" {
			name = commentValue(o.GetNamespace()) + "/" + name
		}
		skipped = append(skipped, kind+" "+name)
	}
	add := func(order int, kind string, o metav1.Object, s any) {
		es = append(es, entry{
			APIVersion: gwapiv1.GroupVersion.String(),
			Kind:       kind,
			Metadata:   entryMeta{Name: o.GetName(), Namespace: o.GetNamespace(), Generation: o.GetGeneration()},
			Status:     s,
			order:      order,
			key:        o.GetNamespace() + "/" + o.GetName(),
		})
	}
	k := func(o metav1.Object) types.NamespacedName {
		return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
	}
	for _, o := range snap.GatewayClasses {
		if s, ok := st.GatewayClasses[o.Name]; ok {
			add(0, "GatewayClass", o, s)
		} else {
			skip("GatewayClass", o)
		}
	}
	for _, o := range snap.Gateways {
		if s, ok := st.Gateways[k(o)]; ok {
			add(1, "Gateway", o, s)
		} else {
			skip("Gateway", o)
		}
	}
	// ListenerSets after the Gateways (same order, sorted by kind).
	for _, o := range snap.ListenerSets {
		if s, ok := st.ListenerSets[k(o)]; ok {
			add(1, "ListenerSet", o, s)
		} else {
			skip("ListenerSet", o)
		}
	}
	routes := func(order int, kind string, objs []metav1.Object, m map[types.NamespacedName]*gwapiv1.RouteStatus) {
		for _, o := range objs {
			if s, ok := m[k(o)]; ok {
				add(order, kind, o, s)
			} else {
				skip(kind, o)
			}
		}
	}
	var objs []metav1.Object
	for _, o := range snap.HTTPRoutes {
		objs = append(objs, o)
	}
	routes(2, "HTTPRoute", objs, st.HTTPRoutes)
	objs = nil
	for _, o := range snap.GRPCRoutes {
		objs = append(objs, o)
	}
	routes(3, "GRPCRoute", objs, st.GRPCRoutes)
	objs = nil
	for _, o := range snap.TLSRoutes {
		objs = append(objs, o)
	}
	routes(4, "TLSRoute", objs, st.TLSRoutes)
	objs = nil
	for _, o := range snap.TCPRoutes {
		objs = append(objs, o)
	}
	routes(5, "TCPRoute", objs, st.TCPRoutes)
	for _, o := range snap.BackendTLSPolicies {
		if s, ok := st.BackendTLSPolicies[k(o)]; ok {
			add(6, "BackendTLSPolicy", o, s)
		} else {
			skip("BackendTLSPolicy", o)
		}
	}
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].order != es[j].order {
			return es[i].order < es[j].order
		}
		if es[i].Kind != es[j].Kind {
			return es[i].Kind < es[j].Kind
		}
		return es[i].key < es[j].key
	})
	var out bytes.Buffer
	if len(skipped) > 0 {
		sort.Strings(skipped)
		out.WriteString("# Objects hagate writes no status for (not handled by this controller, or\n# referring only to Gateways it does not handle):\n")
		for _, s := range skipped {
			fmt.Fprintf(&out, "#   %s\n", s)
		}
	}
	// Each entry is written on its own, in parallel, after the ones
	// before it in the same goroutine's buffer.
	docs := make([][]byte, len(es))
	errs := make([]error, len(es))
	parallel(len(es), workers, func() func(int) {
		w := newYAMLWriter()
		return func(i int) {
			// A new buffer when this one is nearly full: the documents
			// written before keep theirs.
			if cap(w.out)-len(w.out) < 16<<10 {
				w.out = make([]byte, 0, 1<<20)
			}
			start := len(w.out)
			errs[i] = w.entry(es[i])
			docs[i] = w.out[start:len(w.out):len(w.out)]
		}
	})
	size := out.Len()
	for i, y := range docs {
		if errs[i] != nil {
			return nil, fmt.Errorf("status report: %w", errs[i])
		}
		size += len(y) + len("---\n")
	}
	out.Grow(size)
	for i, y := range docs {
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(y)
	}
	return out.Bytes(), nil
}

// entry appends to w.out one document of the report: e as JSON turned
// into YAML by sigs.k8s.io/yaml.JSONToYAML, without its lastTransitionTime
// fields. The writer writes the same bytes directly; JSONToYAML is called
// only for what it declines.
func (w *yamlWriter) entry(e entry) error {
	w.json.Reset()
	if err := w.enc.Encode(e); err != nil { // json.Marshal, and a line break
		return err
	}
	if y, ok := w.write(w.json.Bytes(), w.out); ok {
		w.out = y
		return nil
	}
	y, err := slowYAML(w.json.Bytes())
	w.out = append(w.out, y...)
	return err
}

// slowYAML is what entry does for JSON text raw, through JSONToYAML.
func slowYAML(raw []byte) ([]byte, error) {
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, err
	}
	dropTimes(generic)
	j, err := json.Marshal(generic)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(yamlSafe(j))
}

// parallel calls f(0) ... f(n-1) on at most max goroutines (0: as many
// as cores Go may use); each goroutine gets its f from worker.
func parallel(n, max int, worker func() func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if max > 0 {
		workers = min(workers, max)
	}
	if workers <= 1 {
		f := worker()
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		f := worker()
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// commentValue returns s as it may appear in a `#` comment line of the
// report: as is when it is a plain name (letters, digits, '.', '-', '_',
// ':'), otherwise Go-quoted with every non-ASCII or control character
// escaped, so that no value can end the comment line, start a document or
// read as another name. Names come straight from the input in file mode,
// with no API server to validate them.
func commentValue(s string) string {
	if s == "" {
		return `""`
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == ':') {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}

// yamlSafe returns JSON text j with every character outside printable
// ASCII written as a YAML escape (\uXXXX, or \UXXXXXXXX beyond the Basic
// Multilingual Plane). yaml.JSONToYAML reads JSON as YAML, which refuses a
// raw DEL in a string and folds a raw U+0085 (a YAML line break) to a
// space; escaped, every string reads back as it is. Outside strings,
// encoding/json writes printable ASCII only, and it writes valid UTF-8.
func yamlSafe(j []byte) []byte {
	safe := true
	for _, b := range j {
		if b < ' ' || b > '~' {
			safe = false
			break
		}
	}
	if safe {
		return j
	}
	out := make([]byte, 0, len(j)+32)
	for _, r := range string(j) {
		switch {
		case ' ' <= r && r <= '~':
			out = append(out, byte(r))
		case r <= 0xFFFF:
			out = fmt.Appendf(out, `\u%04X`, r)
		default:
			out = fmt.Appendf(out, `\U%08X`, r)
		}
	}
	return out
}

// dropTimes removes lastTransitionTime fields: the report is stable.
func dropTimes(v any) {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "lastTransitionTime")
		for _, c := range x {
			dropTimes(c)
		}
	case []any:
		for _, c := range x {
			dropTimes(c)
		}
	}
}
