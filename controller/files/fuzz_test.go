package files

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		gateway + "---\n" + route,
		service("a") + "---\n" + service("a"),
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- 3\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: '!!'}\nstringData: {b: c}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
		"a: b: c\n---x\n- 1\n---\n# only a comment\n",
		`{"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "HTTPRoute", "metadata": {"name": 1}}`,
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Load(Options{Paths: []string{"-"}, Stdin: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("Load returned %v, want errors only in Result.Errors", err)
		}
		for _, e := range res.Errors {
			if e.File != stdinName || !strings.HasPrefix(e.Error(), "<stdin>: document ") {
				t.Errorf("error %q does not name <stdin>", e)
			}
		}
	})
}
