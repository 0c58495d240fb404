package files

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// checkFastYAML fails t when fastYAMLToJSON reads doc but differs from
// yaml.YAMLToJSONStrict: an error there, or other values. It reports
// whether the fast path read doc.
func checkFastYAML(t *testing.T, doc []byte) bool {
	t.Helper()
	fast, typ, ok := fastYAMLToJSON(doc)
	if !ok {
		return false
	}
	if !json.Valid(fast) {
		t.Fatalf("fast path wrote invalid JSON %s for\n%s", fast, doc)
	}
	slow, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		t.Fatalf("fast path read a document YAMLToJSONStrict refuses (%v), as %s:\n%s", err, fast, doc)
	}
	var f, s any
	for _, x := range []struct {
		js []byte
		v  *any
	}{{fast, &f}, {slow, &s}} {
		d := json.NewDecoder(bytes.NewReader(x.js))
		d.UseNumber()
		if err := d.Decode(x.v); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(f, s) {
		t.Fatalf("fast path gives\n%s\nYAMLToJSONStrict gives\n%s\nfor\n%s", fast, slow, doc)
	}
	// The same apiVersion and kind as decoding into a TypeMeta, when the
	// fast path tells them.
	var h metav1.TypeMeta
	herr := sigsjson.UnmarshalCaseSensitivePreserveInts(slow, &h)
	if typ.known && (herr != nil || h.APIVersion != typ.apiVersion || h.Kind != typ.kind) {
		t.Fatalf("fast path gives apiVersion %q kind %q, decoding gives %q %q (%v), for\n%s", typ.apiVersion, typ.kind, h.APIVersion, h.Kind, herr, doc)
	}
	// The same key order as encoding/json, so that strict decoding lists
	// unknown fields in the same order.
	if string(fast) != string(slow) && !sameOrder(t, fast, slow) {
		t.Fatalf("fast path orders keys otherwise:\n%s\nYAMLToJSONStrict:\n%s", fast, slow)
	}
	return true
}

// sameOrder reports whether two JSON texts of equal value list the keys of
// every object in the same order: their strings, keys and values, come in
// the same order.
func sameOrder(t *testing.T, a, b []byte) bool {
	t.Helper()
	strs := func(js []byte) []string {
		var out []string
		d := json.NewDecoder(bytes.NewReader(js))
		for {
			tok, err := d.Token()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			if s, ok := tok.(string); ok {
				out = append(out, s)
			}
		}
	}
	return reflect.DeepEqual(strs(a), strs(b))
}

// splitDocs splits a file as loadFile does.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return docs
		}
		if err == nil {
			docs = append(docs, doc)
		}
	}
}

var fastYAMLCases = []string{
	"",
	"# only a comment\n",
	"a: b\n",
	"a: 1\nb: -2\nc: 0\nd: 007\ne: 1.5\nf: 1e3\ng: 0x1F\nh: 1_000\ni: 2024-01-02\nj: +3\n",
	"a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: n\ng: true\nh: False\ni: ~\nj: null\nk: NULL\nl:\nm: ''\n",
	"a: .5\nb: .inf\nc: .NaN\nd: .x\ne: .\nf: -.inf\n",
	"a: 'it''s'\nb: \"q\\\"uote\\\\ \\n \\t \\u00e9 \\0 \\/\"\nc: \"\\x41\"\n",
	"kind: A\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/name: web\n    b: \"80\"\nspec:\n  ports:\n  - port: 80\n    name: http\n  -   port: 443\n      name: https\n",
	"a:\n- 1\n- b: 2\n  c: [x, 'y', \"z\", 3, {d: e}]\n- []\n- {}\nf: g\n",
	"a:\n  - x\n  - y\nb:\n    c: d\n",
	"a: b # comment\nc: d#e\n# c\n  # indented comment\nf: 'g' # c\ng: [a] # c\n",
	"a: |\n  line 1\n    line 2\n\n  # not a comment\nb: |-\n  x\n  y\n\n\nc: d\n",
	"a: |\n  x\n  \n   \nb: 1\n",
	"a: |+\n  x\n",
	"a: >\n  x\n  y\n",
	"a: |2\n   x\n",
	"a: b\n  c\n",
	"a: b: c\n",
	"a: b:\n",
	"a:b\n",
	"a: &x b\nc: *x\n",
	"a: !!str 1\n",
	"a: b\na: c\n",
	"b: 1\na: 2\nc: {z: 1, x: 2}\n",
	"{a: b}\n",
	"- a\n- b\n",
	"a: [b,\n  c]\n",
	"a: \"b\n  c\"\n",
	"  a: b\n  c: d\n",
	"  a: b\nc: d\n",
	"a:\n  b: 1\n c: 2\n",
	"a:\n- b\n  - c\n",
	"a:\n- - b\n",
	"a: - b\n",
	"'a': 1\n\"b\" : 2\n\"\": 3\n",
	"a: {\"b\":1, 'c': [d, e]}\n",
	"a: [b c]\n",
	"a: [b, ]\n",
	"a: [b:c]\n",
	"a: {b:c}\n",
	"a: x  y  \n",
	"a: -1\nb: -x\nc: -\n",
	"a: <<\n<<: b\n",
	"y: 1\n",
	"on: 1\n",
	"80: x\n",
	"a: ---\nb: ...\n",
	"a\n",
	"a: 'b'c\n",
	"a: [b] c\n",
	"a: \"\\u12\"\n",
	"a: \"\\ud800\"\n",
	"a: 12345678901234567890\nb: 123456789012345678\n",
	"a:\n-\n  b: c\n",
	"a: |\n",
	"a: |\nb: c\n",
	"a: |\n\n  x\n",
	"a:\n  - b: |\n      x\n    c: d\n",
	"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  tls.crt: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2sxSlNVSm9WRU5EUVZOMVowRjNTVUpCWjBsU1FVbG9=\n",
	"a: \"x\" \"y\"\n",
	"a: 'x'  # c\n",
	"a: b\t\n",
	"a: b\r\n",
	"a: caf\xc3\xa9\n",
	"a:\n\n  b: 1\n\n  c: 2\n",
	"a: [[], [[x]], {}]\n",
	"a: x #\nb: '#'\nc: \"#\"\nd: a #b\n",
	"a: 'x'\n  b: c\n",
	"? a\n: b\n",
	"a: %x\n",
	"a: @x\n",
	"a: `x\n",
	"a: 0\nb: -0\nc: 00\n",
	"a: \"\"\nb: ''\n",
	"a: 1\n...\n",
	"apiVersion: v1\nkind: Secret\n",
	"---\na: 1\n",
	"--- # c\na: 1\n",
	"---   \n",
	"---#c\na: 1\n",
	"--- a\n",
	"---x\na: 1\n",
	" ---\na: 1\n",
	"apiVersion: 'v\"1'\nkind: \"S\\\"e\\\\c\\u00e9\"\n",
	"apiVersion: 1\nkind: Secret\n",
	"apiVersion: ~\nkind: [a]\n",
	"kind: {a: b}\n",
	"metadata:\n  kind: x\n  apiVersion: y\n",
	"%YAML 1.1\na: b\n",
}

func TestFastYAML(t *testing.T) {
	read := 0
	for _, c := range fastYAMLCases {
		if checkFastYAML(t, []byte(c)) {
			read++
		}
	}
	if read < 20 {
		t.Errorf("the fast path read only %d of %d cases", read, len(fastYAMLCases))
	}
}

// TestFastYAMLRepository: every YAML document of the repository (golden
// inputs, examples, manifests) reads the same both ways, and the fast path
// reads most of them.
func TestFastYAMLRepository(t *testing.T) {
	root := filepath.Join("..", "..")
	read, total := 0, 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || (filepath.Ext(p) != ".yaml" && filepath.Ext(p) != ".yml") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, doc := range splitDocs(data) {
			total++
			if checkFastYAML(t, doc) {
				read++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fast path read %d of %d documents", read, total)
	if total > 100 && read < total/2 {
		t.Errorf("fast path read only %d of %d documents", read, total)
	}
}

// FuzzFastYAML: whatever the input, a document the fast path reads reads
// the same with yaml.YAMLToJSONStrict.
//
//	go test ./controller/files -run '^$' -fuzz FuzzFastYAML -fuzztime 60s
func FuzzFastYAML(f *testing.F) {
	for _, c := range fastYAMLCases {
		f.Add([]byte(c))
	}
	f.Add([]byte(gateway))
	f.Add([]byte(route))
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkFastYAML(t, doc)
	})
}

// BenchmarkFastYAML compares the fast path with yaml.YAMLToJSONStrict on
// an HTTPRoute and a TLS Secret.
func BenchmarkFastYAML(b *testing.B) {
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cert1\n  namespace: default\ntype: kubernetes.io/tls\ndata:\n" +
		"  tls.crt: " + strings.Repeat("TUlJQm9EQ0NBVDJnQXdJQkFnSVJBTE", 40) + "\n  tls.key: " + strings.Repeat("TUlHSEFnRUFNQk1HQnlxR1NNNDlBZ0VH", 8) + "\n"
	for _, doc := range []struct{ name, yaml string }{{"HTTPRoute", route}, {"Secret", secret}} {
		b.Run(doc.name+"/fast", func(b *testing.B) {
			var p fastParser
			for b.Loop() {
				if _, _, ok := p.convert([]byte(doc.yaml)); !ok {
					b.Fatal("declined")
				}
			}
		})
		b.Run(doc.name+"/YAMLToJSONStrict", func(b *testing.B) {
			for b.Loop() {
				if _, err := yaml.YAMLToJSONStrict([]byte(doc.yaml)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
