package files

import (
	"os"
	"path/filepath"
	"testing"
)

// A folder mounted from a ConfigMap: each key is a link into "..data",
// itself a link to a "..<time>" folder. Each manifest is read once.
func TestLoadConfigMapVolumeReadsEachManifestOnce(t *testing.T) {
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2026_11_30_12_00_00.000000001")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: hagate}\nspec: {controllerName: hagate.io/gateway-controller}\n"
	if err := os.WriteFile(filepath.Join(ts, "class.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/class.yaml", filepath.Join(dir, "class.yaml")); err != nil {
		t.Fatal(err)
	}
	res, err := Load(Options{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 || len(res.Warnings) > 0 {
		t.Fatalf("errors %v, warnings %v", res.Errors, res.Warnings)
	}
	if n := len(res.Snapshot.GatewayClasses); n != 1 {
		t.Fatalf("%d GatewayClasses, want 1", n)
	}
}
