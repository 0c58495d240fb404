package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"hagate.io/hagate/controller/files"
	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
)

var (
	fuzzCAOnce sync.Once
	fuzzCA     *pki.CA
)

// FuzzRender feeds arbitrary YAML through the whole render path. Whatever
// the input, rendering must not panic, and the configuration it writes must
// pass `haproxy -c`: a value that cannot be expressed safely rejects its
// object instead. Seeds are the golden inputs.
//
//	go test ./controller/pipeline -run '^$' -fuzz FuzzRender -fuzztime 5m
func FuzzRender(f *testing.F) {
	ins, _ := filepath.Glob("../../testdata/*/in.yaml")
	for _, in := range ins {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCAOnce.Do(func() { fuzzCA = pki.NewCA(t, "fuzz CA") })
		res, err := files.Load(files.Options{Paths: []string{"-"}, Stdin: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("load from stdin: %v", err)
		}
		if len(res.Errors) > 0 {
			return // refused with a message naming the document: fine
		}
		for _, s := range res.Snapshot.Secrets {
			fillTestCertificate(t, s, fuzzCA)
		}
		res.Snapshot.Now = goldenNow
		// t.TempDir's name holds the seed name, with '#': not a config root.
		dir, err := os.MkdirTemp("", "hagate-fuzz-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		out, err := Render(res.Snapshot, Options{ConfigRoot: dir, StatusReport: true})
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		if err := out.Bundle.WriteTree(dir); err != nil {
			t.Fatalf("write: %v", err)
		}
		for _, f := range out.Bundle.Files() {
			if f.Secret() {
				continue
			}
			if strings.Contains(string(f.Content), "PRIVATE KEY") {
				t.Fatalf("%s holds private key material but is not mode 0600", f.Path)
			}
		}
		if err := haproxytest.CheckErr(filepath.Join(dir, bundle.ConfigFile)); err != nil {
			t.Fatalf("rendered configuration is refused by HAProxy:\n%v\ninput:\n%s", err, data)
		}
	})
}
