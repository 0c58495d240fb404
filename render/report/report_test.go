package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	yaml3 "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/render/status"
)

// forgedName is an object name that, written unescaped into the leading
// comment, ends the comment and forges a Gateway reported Programmed.
const forgedName = "x\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n" +
	"metadata:\n  name: forged\n  namespace: default\nstatus:\n  conditions:\n" +
	"  - type: Programmed\n    status: \"True\"\n#"

// object is one object of a fuzz snapshot, as the report should show it.
type object struct {
	kind, namespace, name string
	// ours: hagate computed a status for it, so it is a document; else a
	// line of the leading comment.
	ours bool
}

// reportInput builds a Snapshot holding one object of each kind the
// report knows, named after the fuzzed strings, and a status Set holding
// the objects whose bit in ours is set. Conditions carry msg.
func reportInput(ns, name1, name2, msg string, ours uint8) (*snapshot.Snapshot, *status.Set, []object) {
	snap := &snapshot.Snapshot{}
	st := status.NewSet()
	var objs []object
	bit := 0
	meta := func(kind, ns, name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, Generation: int64(bit + 1)}
	}
	// has records the object and says whether it gets a status. Two objects
	// of one kind with one key share the status entry, so both are ours
	// when either is.
	has := func(kind, ns, name string) bool {
		on := ours&(1<<bit) != 0
		bit++
		for i := range objs {
			o := &objs[i]
			if o.kind == kind && o.namespace == ns && o.name == name {
				on = on || o.ours
				o.ours = on
			}
		}
		objs = append(objs, object{kind: kind, namespace: ns, name: name, ours: on})
		return on
	}
	conds := []metav1.Condition{{
		Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted",
		Message: msg, ObservedGeneration: 1, LastTransitionTime: metav1.Unix(1, 0),
	}}
	routeStatus := &gwapiv1.RouteStatus{Parents: []gwapiv1.RouteParentStatus{{
		ParentRef:      gwapiv1.ParentReference{Name: gwapiv1.ObjectName(name1)},
		ControllerName: "hagate.io/gateway-controller",
		Conditions:     conds,
	}}}
	key := func(ns, name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }

	gc := &gwapiv1.GatewayClass{ObjectMeta: meta("GatewayClass", "", name1)}
	snap.GatewayClasses = append(snap.GatewayClasses, gc)
	if has("GatewayClass", "", name1) {
		st.GatewayClasses[name1] = &gwapiv1.GatewayClassStatus{Conditions: conds}
	}
	for _, n := range []string{name1, name2} {
		g := &gwapiv1.Gateway{ObjectMeta: meta("Gateway", ns, n)}
		snap.Gateways = append(snap.Gateways, g)
		if has("Gateway", ns, n) {
			st.Gateways[key(ns, n)] = &gwapiv1.GatewayStatus{Conditions: conds}
		}
	}
	hr := &gwapiv1.HTTPRoute{ObjectMeta: meta("HTTPRoute", ns, name1)}
	snap.HTTPRoutes = append(snap.HTTPRoutes, hr)
	if has("HTTPRoute", ns, name1) {
		st.HTTPRoutes[key(ns, name1)] = routeStatus
	}
	gr := &gwapiv1.GRPCRoute{ObjectMeta: meta("GRPCRoute", "default", name2)}
	snap.GRPCRoutes = append(snap.GRPCRoutes, gr)
	if has("GRPCRoute", "default", name2) {
		st.GRPCRoutes[key("default", name2)] = routeStatus
	}
	tr := &gwapiv1.TLSRoute{ObjectMeta: meta("TLSRoute", name1, name2)}
	snap.TLSRoutes = append(snap.TLSRoutes, tr)
	if has("TLSRoute", name1, name2) {
		st.TLSRoutes[key(name1, name2)] = routeStatus
	}
	cr := &gwapiv1.TCPRoute{ObjectMeta: meta("TCPRoute", ns, name1)}
	snap.TCPRoutes = append(snap.TCPRoutes, cr)
	if has("TCPRoute", ns, name1) {
		st.TCPRoutes[key(ns, name1)] = routeStatus
	}
	bp := &gwapiv1.BackendTLSPolicy{ObjectMeta: meta("BackendTLSPolicy", ns, name2)}
	snap.BackendTLSPolicies = append(snap.BackendTLSPolicies, bp)
	if has("BackendTLSPolicy", ns, name2) {
		st.BackendTLSPolicies[key(ns, name2)] = &gwapiv1.PolicyStatus{Ancestors: []gwapiv1.PolicyAncestorStatus{{
			AncestorRef:    gwapiv1.ParentReference{Name: gwapiv1.ObjectName(name2)},
			ControllerName: "hagate.io/gateway-controller",
			Conditions:     conds,
		}}}
	}
	return snap, st, objs
}

// jsonString is s as it reads back from the report's documents: JSON
// replaces invalid UTF-8 on the way.
func jsonString(t *testing.T, s string) string {
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// mapping returns the value nodes of a YAML mapping by key, failing on
// anything but a mapping or on a repeated key.
func mapping(t *testing.T, n *yaml3.Node, where string) map[string]*yaml3.Node {
	t.Helper()
	if n.Kind != yaml3.MappingNode {
		t.Fatalf("%s: a YAML node of kind %v, want a mapping", where, n.Kind)
	}
	m := map[string]*yaml3.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if _, dup := m[k]; dup {
			t.Fatalf("%s: key %q twice", where, k)
		}
		m[k] = n.Content[i+1]
	}
	return m
}

// keys returns the keys of m, sorted.
func keys(m map[string]*yaml3.Node) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// scalar returns the text of a scalar node: the raw value, so that YAML
// 1.1/1.2 differences in typing plain scalars do not matter.
func scalar(t *testing.T, n *yaml3.Node, where string) string {
	t.Helper()
	if n == nil || n.Kind != yaml3.ScalarNode {
		t.Fatalf("%s: not a scalar", where)
	}
	return n.Value
}

// parseCommentObject reads back one "kind namespace/name" line of the
// leading comment: each part plain or Go-quoted.
func parseCommentObject(line string) (object, error) {
	kind, rest, ok := strings.Cut(line, " ")
	if !ok {
		return object{}, fmt.Errorf("no space after the kind")
	}
	part := func(s string) (string, string, error) {
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return "", "", err
			}
			v, err := strconv.Unquote(q)
			if err != nil {
				return "", "", err
			}
			if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") == "" {
				return "", "", fmt.Errorf("plain value %q quoted", v)
			}
			return v, s[len(q):], nil
		}
		i := strings.IndexAny(s, `/"`)
		if i < 0 {
			i = len(s)
		}
		if i == 0 {
			return "", "", fmt.Errorf("empty plain value")
		}
		return s[:i], s[i:], nil
	}
	first, rest, err := part(rest)
	if err != nil {
		return object{}, err
	}
	if rest == "" {
		return object{kind: kind, name: first}, nil
	}
	if !strings.HasPrefix(rest, "/") {
		return object{}, fmt.Errorf("%q after the first part", rest)
	}
	second, rest, err := part(rest[1:])
	if err != nil {
		return object{}, err
	}
	if rest != "" {
		return object{}, fmt.Errorf("%q after the name", rest)
	}
	return object{kind: kind, namespace: first, name: second}, nil
}

const commentHead = "# Objects hagate writes no status for (not handled by this controller, or\n" +
	"# referring only to Gateways it does not handle):\n"

// checkReport asserts that out reads back, as multi-document YAML and as
// the line-based splitter Kubernetes tools use, to exactly objs: one
// document per object hagate handles, the others each on one line of the
// leading comment, and nothing else.
func checkReport(t *testing.T, out []byte, objs []object, msg string) {
	t.Helper()
	var wantDocs, wantSkipped []string
	for _, o := range objs {
		if o.ours {
			wantDocs = append(wantDocs, fmt.Sprintf("%s %q %q", o.kind, jsonString(t, o.namespace), jsonString(t, o.name)))
		} else {
			wantSkipped = append(wantSkipped, fmt.Sprintf("%s %q %q", o.kind, o.namespace, o.name))
		}
	}
	slices.Sort(wantDocs)
	slices.Sort(wantSkipped)
	defer func() {
		if t.Failed() {
			t.Logf("report:\n%s", out)
		}
	}()

	// The comment: the header, then one line per object left alone, and
	// no other comment line anywhere.
	text := string(out)
	var gotSkipped []string
	if len(wantSkipped) > 0 {
		if !strings.HasPrefix(text, commentHead) {
			t.Fatalf("report does not start with the comment header")
		}
		for _, line := range strings.SplitAfter(text[len(commentHead):], "\n") {
			if !strings.HasPrefix(line, "#") {
				break
			}
			body, ok := strings.CutPrefix(line, "#   ")
			if !ok || !strings.HasSuffix(body, "\n") {
				t.Fatalf("comment line %q: want \"#   kind namespace/name\"", line)
			}
			o, err := parseCommentObject(strings.TrimSuffix(body, "\n"))
			if err != nil {
				t.Fatalf("comment line %q: %v", line, err)
			}
			gotSkipped = append(gotSkipped, fmt.Sprintf("%s %q %q", o.kind, o.namespace, o.name))
		}
	}
	slices.Sort(gotSkipped)
	if !slices.Equal(gotSkipped, wantSkipped) {
		t.Fatalf("comment names\n%q\nwant\n%q", gotSkipped, wantSkipped)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	comments, separators := 0, 0
	for _, l := range lines {
		if strings.HasPrefix(l, "#") {
			comments++
		}
		if strings.HasPrefix(l, "---") {
			separators++
		}
	}
	if len(wantSkipped) > 0 && comments != 2+len(wantSkipped) {
		t.Fatalf("%d comment lines, want %d", comments, 2+len(wantSkipped))
	}
	if len(wantSkipped) == 0 && comments != 0 {
		t.Fatalf("%d comment lines, want none", comments)
	}
	// The line-based splitter of Kubernetes tools (a line starting with
	// "---" ends a document) must see the same documents as a parser.
	if want := max(len(wantDocs)-1, 0); separators != want {
		t.Fatalf("%d lines start with ---, want %d", separators, want)
	}

	// The documents, read by a YAML parser.
	var gotDocs []string
	dec := yaml3.NewDecoder(bytes.NewReader(out))
	for i := 0; ; i++ {
		var doc yaml3.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("document %d does not parse: %v", i, err)
		}
		if doc.Kind != yaml3.DocumentNode || len(doc.Content) != 1 {
			t.Fatalf("document %d: not a single node", i)
		}
		where := fmt.Sprintf("document %d", i)
		top := mapping(t, doc.Content[0], where)
		if ks := keys(top); !slices.Equal(ks, []string{"apiVersion", "kind", "metadata", "status"}) {
			t.Fatalf("%s: keys %q", where, ks)
		}
		if v := scalar(t, top["apiVersion"], where+" apiVersion"); v != gwapiv1.GroupVersion.String() {
			t.Fatalf("%s: apiVersion %q", where, v)
		}
		md := mapping(t, top["metadata"], where+" metadata")
		for _, k := range keys(md) {
			if k != "name" && k != "namespace" && k != "generation" {
				t.Fatalf("%s: metadata key %q", where, k)
			}
		}
		ns := ""
		if n, ok := md["namespace"]; ok {
			ns = scalar(t, n, where+" namespace")
		}
		name := scalar(t, md["name"], where+" name")
		gotDocs = append(gotDocs, fmt.Sprintf("%s %q %q", scalar(t, top["kind"], where+" kind"), ns, name))
		// Every condition message reads back as written.
		var conds []*yaml3.Node
		var walk func(n *yaml3.Node)
		walk = func(n *yaml3.Node) {
			if n.Kind == yaml3.MappingNode {
				for j := 0; j+1 < len(n.Content); j += 2 {
					if n.Content[j].Value == "conditions" {
						conds = append(conds, n.Content[j+1].Content...)
					}
				}
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(top["status"])
		if len(conds) != 1 {
			t.Fatalf("%s: %d conditions, want 1", where, len(conds))
		}
		c := mapping(t, conds[0], where+" condition")
		if _, ok := c["lastTransitionTime"]; ok {
			t.Fatalf("%s: lastTransitionTime in the report", where)
		}
		if got, want := scalar(t, c["message"], where+" message"), jsonString(t, msg); got != want {
			t.Fatalf("%s: message %q, want %q", where, got, want)
		}
	}
	slices.Sort(gotDocs)
	if !slices.Equal(gotDocs, wantDocs) {
		t.Fatalf("documents\n%q\nwant\n%q", gotDocs, wantDocs)
	}
}

// TestStatusCommentForgery: a name holding a newline cannot end the
// comment and forge a document; ordinary names stay readable.
func TestStatusCommentForgery(t *testing.T) {
	snap, st, objs := reportInput("default", forgedName, "web", "ok", 0b0000100)
	out, err := Status(snap, st)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, out, objs, "ok")
	for _, want := range []string{
		"#   GRPCRoute default/web\n",
		"#   GatewayClass " + strconv.Quote(forgedName) + "\n",
		"#   Gateway default/" + strconv.Quote(forgedName) + "\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// FuzzStatusReport: whatever the names, namespaces and messages, the
// report parses back to exactly the objects rendered, and every object
// left alone is on one comment line of its own.
//
//	go test ./render/report -run '^$' -fuzz FuzzStatusReport -fuzztime 60s
func FuzzStatusReport(f *testing.F) {
	f.Add("default", "web", "api", "Route accepted.", uint8(0b1010101))
	f.Add("default", forgedName, "web", "ok", uint8(0))
	f.Add("default", forgedName, "web", "ok", uint8(0b0000100))
	f.Add(forgedName, "web", forgedName, "x\n---\nkind: Gateway\n", uint8(0b1111111))
	f.Add("a/b", "c", "\"d\"", "# not a comment", uint8(0b0101010))
	f.Add("", "", "\r\u2028\u0085#", "\n--- \n...\n", uint8(0b0011001))
	f.Add("ns", "x\r---", "y\x00\x1b", "---", uint8(0b1000000))
	f.Add("ns", "\xff\xfe", "\u00e9", "\t", uint8(0b0000011))
	// A raw DEL, once refused by the YAML writer: no report at all.
	f.Add("ns", "a\x7f", "\U0001F600", "\x7f", uint8(0b1111111))
	f.Fuzz(func(t *testing.T, ns, name1, name2, msg string, ours uint8) {
		snap, st, objs := reportInput(ns, name1, name2, msg, ours)
		out, err := Status(snap, st)
		if err != nil {
			t.Fatalf("status report: %v", err)
		}
		checkReport(t, out, objs, msg)
	})
}
