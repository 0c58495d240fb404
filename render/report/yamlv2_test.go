package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/render/status"
)

// checkWriteYAML fails t when w writes v otherwise than JSONToYAML does.
// It reports whether w wrote v. w keeps what it learns from one call to
// the next, as it does from one entry of the report to the next.
func checkWriteYAML(t *testing.T, w *yamlWriter, v any) bool {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	// Twice: the second time with what w learnt the first time.
	w.write(raw, nil)
	got, ok := w.write(raw, nil)
	want, err := slowYAML(raw)
	if err != nil {
		if ok {
			t.Fatalf("the writer wrote what JSONToYAML refuses (%v):\n%s", err, got)
		}
		return false
	}
	if ok && !bytes.Equal(got, want) {
		t.Fatalf("the writer wrote\n%s\nJSONToYAML writes\n%s\n(from %s)", got, want, raw)
	}
	return ok
}

// yamlValue builds a value that puts the strings in every place the
// report has strings: keys' values at several depths, sequence items,
// nested sequences, beside empty collections, numbers and booleans.
func yamlValue(a, b, c string, n int64, flag bool) map[string]any {
	return map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       a,
		"metadata":   map[string]any{"name": b, "namespace": c, "generation": n},
		"status": map[string]any{
			"conditions": []any{
				map[string]any{"type": "Accepted", "status": "True", "message": a, "reason": b, "observedGeneration": n, "lastTransitionTime": "2024-01-01T00:00:00Z"},
				map[string]any{"message": c + " " + a + " " + b},
			},
			"listeners": []any{map[string]any{
				"name":           c,
				"attachedRoutes": n,
				"supportedKinds": []any{map[string]any{"group": a, "kind": b}},
				"conditions":     []any{},
				"x":              []any{[]any{a, b, c}, []any{}, map[string]any{}, nil, flag},
			}},
			"addresses": []any{a, b, c, strings.Repeat(a+" ", 30)},
			"deep":      map[string]any{"deeper": map[string]any{"deepest": map[string]any{"value": strings.Repeat(b+" ", 12) + c}}},
			"empty":     map[string]any{"lastTransitionTime": "x"},
			"flag":      flag,
			"null":      nil,
		},
	}
}

var yamlStrings = []string{
	"", " ", "a", "True", "true", "yes", "Y", "n", "no", "off", "null", "~", "NULL",
	"1", "-1", "+1", "0x1F", "0o17", "017", "1_000", "1.5", ".5", ".inf", "-.Inf", ".NaN", "1e3", "0b101", "-0b1",
	"2024-01-02", "2024-1-2 3:04:05", "2024-13-45", "1:20", "190:20:30.15", "-1:2", "<<",
	"a: b", "a:b", "a #b", "a#b", "#a", "-", "- a", "-a", "--- a", "---", "...", "? a", "?a", ":a", ": a",
	"a'b", "'a", "\"a", "a\"b", "a\\b", "[a]", "{a}", "a,b", "&a", "*a", "!a", "|a", ">a", "%a", "@a", "`a",
	" a", "a ", "a  b", "a\nb", "a\n", "\na", "a\n\n", "\n", "\n\n", "a \nb", "a\n b", "a\r\nb", "a\tb", "\t",
	"caf\u00e9", "\u00a0", "\u0085", "\u2028x", "x\u2029", "\ufeffa", "\ufffe", "\U0001F600", "a\x7fb", "\x00", "\x1b[0m",
	"Route accepted by the listener l1 of the Gateway default/gw0: it matches every hostname and path it asks for.",
	strings.Repeat("word ", 40),
	strings.Repeat("a", 100) + " " + strings.Repeat("b", 100),
	strings.Repeat("x ", 60) + "\n" + strings.Repeat("y ", 60),
	"Rule 0: backendRef default/svc: Service default/svc does not exist; no endpoints.",
	"HAProxy refused it: [ALERT]    (1234) : config : parsing [/etc/hagate/haproxy.cfg:42] : 'bind :443' unknown keyword 'x'.",
	"a  " + strings.Repeat("z", 70) + "  b  c",
	strings.Repeat("q", 75) + "  " + strings.Repeat("r", 10),
	strings.Repeat("é ", 50),
}

func TestWriteYAML(t *testing.T) {
	w := newYAMLWriter()
	wrote := 0
	for i, a := range yamlStrings {
		b := yamlStrings[(i*7+3)%len(yamlStrings)]
		c := yamlStrings[(i*13+5)%len(yamlStrings)]
		for _, n := range []int64{0, 1, -7, 1 << 40} {
			if checkWriteYAML(t, w, yamlValue(a, b, c, n, i%2 == 0)) {
				wrote++
			}
		}
		if checkWriteYAML(t, w, map[string]any{"k": a, "l": []any{a}, "m": map[string]any{"n": []any{[]any{a}}}}) {
			wrote++
		}
	}
	// Keys yaml.v2 writes quoted, and keys it orders otherwise than
	// bytes (declined).
	for _, k := range []string{"y", "on", "Null", "true", "a1", "a_b", "é"} {
		checkWriteYAML(t, w, map[string]any{k: "v", "b": "w"})
	}
	// Numbers JSON writes otherwise, or that read back as floats.
	for _, n := range []float64{0.5, 1e15, 1e21, -1e300, 123456789012345} {
		checkWriteYAML(t, w, map[string]any{"n": n})
	}
	if wrote < len(yamlStrings)*4 {
		t.Errorf("the writer wrote only %d values", wrote)
	}
}

// TestWriteYAMLStatuses: the statuses the report holds are written
// directly, never by the slow way.
func TestWriteYAMLStatuses(t *testing.T) {
	w := newYAMLWriter()
	conds := []metav1.Condition{{
		Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", ObservedGeneration: 3,
		Message: "The route is accepted by every listener it names, on every hostname it asks for: " + strings.Repeat("h.example.com ", 8),
	}}
	section := gwapiv1.SectionName("l1")
	port := gwapiv1.PortNumber(443)
	for _, s := range []any{
		&gwapiv1.RouteStatus{Parents: []gwapiv1.RouteParentStatus{{
			ParentRef:      gwapiv1.ParentReference{Name: "gw", SectionName: &section, Port: &port},
			ControllerName: "hagate.io/gateway-controller",
			Conditions:     conds,
		}}},
		&gwapiv1.GatewayStatus{Conditions: conds, Listeners: []gwapiv1.ListenerStatus{{
			Name: "l1", AttachedRoutes: 10, Conditions: conds,
			SupportedKinds: []gwapiv1.RouteGroupKind{{Kind: "HTTPRoute"}},
		}}},
		&gwapiv1.GatewayClassStatus{Conditions: conds},
		&gwapiv1.PolicyStatus{},
		&gwapiv1.RouteStatus{},
	} {
		e := entry{APIVersion: "gateway.networking.k8s.io/v1", Kind: "X", Metadata: entryMeta{Name: "x", Namespace: "default", Generation: 3}, Status: s}
		if !checkWriteYAML(t, w, e) {
			t.Errorf("the writer declined %#v", s)
		}
	}
}

// FuzzWriteYAML: whatever the strings, the writer writes what JSONToYAML
// writes, or declines.
//
//	go test ./render/report -run '^$' -fuzz FuzzWriteYAML -fuzztime 60s
func FuzzWriteYAML(f *testing.F) {
	for i, s := range yamlStrings {
		f.Add(s, yamlStrings[(i*7+3)%len(yamlStrings)], yamlStrings[(i*13+5)%len(yamlStrings)], int64(i), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, a, b, c string, n int64, flag bool) {
		checkWriteYAML(t, newYAMLWriter(), yamlValue(a, b, c, n, flag))
	})
}

// BenchmarkStatus writes the report of 20 Gateways of 50 listeners and
// 10,000 HTTPRoutes, as for render's benchmark snapshot.
//
//	go test ./render/report -run '^$' -bench Status
func BenchmarkStatus(b *testing.B) {
	snap := &snapshot.Snapshot{}
	st := status.NewSet()
	cond := func(typ, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: 1, LastTransitionTime: metav1.Now()}
	}
	for g := range 20 {
		gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gw%d", g), Namespace: "default", Generation: 1}}
		snap.Gateways = append(snap.Gateways, gw)
		gs := &gwapiv1.GatewayStatus{Conditions: []metav1.Condition{cond("Accepted", "Accepted", "The Gateway is valid."), cond("Programmed", "Programmed", "The Gateway is part of the HAProxy configuration.")}}
		for l := range 50 {
			gs.Listeners = append(gs.Listeners, gwapiv1.ListenerStatus{
				Name: gwapiv1.SectionName(fmt.Sprintf("l%d", g*50+l)), AttachedRoutes: 10,
				SupportedKinds: []gwapiv1.RouteGroupKind{{Kind: "HTTPRoute"}, {Kind: "GRPCRoute"}},
				Conditions: []metav1.Condition{cond("Accepted", "Accepted", "The listener is valid."), cond("ResolvedRefs", "ResolvedRefs", "All references are resolved."),
					cond("Programmed", "Programmed", "The listener is part of the HAProxy configuration.")},
			})
		}
		st.Gateways[types.NamespacedName{Namespace: "default", Name: gw.Name}] = gs
	}
	for r := range 10000 {
		hr := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("route%d", r), Namespace: "default", Generation: 1}}
		snap.HTTPRoutes = append(snap.HTTPRoutes, hr)
		section := gwapiv1.SectionName(fmt.Sprintf("l%d", r%1000))
		st.HTTPRoutes[types.NamespacedName{Namespace: "default", Name: hr.Name}] = &gwapiv1.RouteStatus{Parents: []gwapiv1.RouteParentStatus{{
			ParentRef:      gwapiv1.ParentReference{Name: gwapiv1.ObjectName(fmt.Sprintf("gw%d", r%1000/50)), SectionName: &section},
			ControllerName: "hagate.io/gateway-controller",
			Conditions:     []metav1.Condition{cond("Accepted", "Accepted", "The route is accepted."), cond("ResolvedRefs", "ResolvedRefs", "All references are resolved.")},
		}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := Status(snap, st)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}
