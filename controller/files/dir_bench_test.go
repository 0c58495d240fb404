package files

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkDirLoadChanged measures what `hagate run --source-dir` pays
// to read a folder of 10,000 route files when one of them changed.
//
//	go test ./controller/files -run '^$' -bench DirLoadChanged -benchmem
func BenchmarkDirLoadChanged(b *testing.B) {
	dir := b.TempDir()
	route := func(i, v int) []byte {
		return fmt.Appendf(nil, "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r%d, namespace: default}\nspec:\n  parentRefs: [{name: gw}]\n  hostnames: [r%d-%d.example.com]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /}}]\n    backendRefs: [{name: web, port: 80}]\n", i, i, v)
	}
	for i := range 10000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%05d.yaml", i)), route(i, 0), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(2 * racyWindow)
	d := &Dir{Root: dir}
	if _, err := d.Load(); err != nil {
		b.Fatal(err)
	}
	changed := filepath.Join(dir, "r05000.yaml")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := os.WriteFile(changed, route(5000, i+1), 0o644); err != nil {
			b.Fatal(err)
		}
		res, err := d.LoadChanged([]string{changed})
		if err != nil || len(res.Snapshot.HTTPRoutes) != 10000 || res.Read != 1 {
			b.Fatalf("%v: %d routes, %d read", err, len(res.Snapshot.HTTPRoutes), res.Read)
		}
	}
}
