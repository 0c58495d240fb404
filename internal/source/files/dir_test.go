package files

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const gwDoc = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: hagate
  listeners: [{name: http, port: 8080, protocol: HTTP}]
`

func TestDirKeepsLastGoodVersionOfABrokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("gw.yaml", gwDoc)
	d := &Dir{Root: dir}
	res, err := d.Load()
	if err != nil || len(res.Errors) != 0 || len(res.Snapshot.Gateways) != 1 {
		t.Fatalf("first load: %v %v %d gateways", err, res.Errors, len(res.Snapshot.Gateways))
	}
	// A typo: the file no longer parses; its last good version is used.
	write("gw.yaml", strings.Replace(gwDoc, "listeners:", "listeners: [oops", 1))
	res, err = d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Error(), "gw.yaml: document 1") {
		t.Errorf("errors = %v, want one naming gw.yaml document 1", res.Errors)
	}
	if len(res.Snapshot.Gateways) != 1 || len(res.Stale) != 1 {
		t.Errorf("the Gateway of the last good version is gone: %d gateways, stale %v", len(res.Snapshot.Gateways), res.Stale)
	}
	// A new broken file contributes its good documents only.
	write("new.yaml", "kind: [x\n---\n"+strings.Replace(gwDoc, "name: gw,", "name: gw2,", 1))
	res, _ = d.Load()
	if len(res.Snapshot.Gateways) != 2 {
		t.Errorf("%d gateways, want 2 (gw from its last good version, gw2 from the new file)", len(res.Snapshot.Gateways))
	}
	// A duplicate across files is skipped with a warning.
	write("z.yaml", gwDoc)
	res, _ = d.Load()
	if len(res.Snapshot.Gateways) != 2 || !strings.Contains(strings.Join(res.Warnings, "\n"), "duplicate Gateway default/gw") {
		t.Errorf("duplicate: %d gateways, warnings %q", len(res.Snapshot.Gateways), res.Warnings)
	}
	// A removed file is forgotten.
	os.Remove(filepath.Join(dir, "gw.yaml"))
	os.Remove(filepath.Join(dir, "z.yaml"))
	res, _ = d.Load()
	if len(res.Snapshot.Gateways) != 1 {
		t.Errorf("%d gateways after removing gw.yaml", len(res.Snapshot.Gateways))
	}
}
