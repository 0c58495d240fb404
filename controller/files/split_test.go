package files

import (
	"bufio"
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// readerDocs splits data with YAMLReader, as Load did.
func readerDocs(data []byte) (docs []string, errs []string) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return docs, errs
		}
		docs = append(docs, string(doc))
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			errs = append(errs, "")
		}
	}
}

func checkSplit(t *testing.T, data []byte) {
	t.Helper()
	wantDocs, wantErrs := readerDocs(data)
	docs, errs := splitYAML(data)
	var gotDocs, gotErrs []string
	for i, d := range docs {
		gotDocs = append(gotDocs, string(d))
		if errs[i] != nil {
			gotErrs = append(gotErrs, errs[i].Error())
		} else {
			gotErrs = append(gotErrs, "")
		}
	}
	if !reflect.DeepEqual(gotDocs, wantDocs) || !reflect.DeepEqual(gotErrs, wantErrs) {
		t.Fatalf("splitYAML(%q) = %q %q, YAMLReader gives %q %q", data, gotDocs, gotErrs, wantDocs, wantErrs)
	}
}

var splitCases = []string{
	"", "\n", "a: 1", "a: 1\n", "a: 1\n---\nb: 2\n", "---\na: 1\n", "---\n---\n", "---", "a\n---", "a\n---\n",
	"a\r\nb\r\n---\r\nc\r\n", "a\rb\n", "a\r", "---x\na\n", "a\n--- x\nb\n", "a\n---  # c\nb\n", "a\n----\nb\n",
	"a\n---\n\n---\n", "# c\n---\n# d\n", "a\n ---\nb\n", "a: |\n  x\n---\n", "---\n---x\n---\nb", "\r\n", "a\n\r\n",
	strings.Repeat("x", 5000) + "\n---\n" + strings.Repeat("y", 9000),
	strings.Repeat("x", 4095) + "\r\n" + strings.Repeat("y", 4097) + "\r\nz",
}

func TestSplitYAML(t *testing.T) {
	for _, c := range splitCases {
		checkSplit(t, []byte(c))
	}
}

// FuzzSplitYAML: splitYAML splits as YAMLReader does.
//
//	go test ./controller/files -run '^$' -fuzz FuzzSplitYAML -fuzztime 60s
func FuzzSplitYAML(f *testing.F) {
	for _, c := range splitCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSplit(t, data)
	})
}
