package pipeline

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render"
)

// For every golden input, the Secrets and ConfigMaps the Kubernetes source
// loads (render.ReferencedObjects, from a Snapshot without them) are
// exactly those a translation of the whole Snapshot reads: the controller
// never misses one render needs, nor loads one it should not.
func TestReferencedObjectsAreWhatRenderReads(t *testing.T) {
	ins, err := filepath.Glob("../../testdata/*/in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatal("no golden inputs", err)
	}
	ca := pki.NewCAValid(t, "refs CA", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, in := range ins {
		t.Run(filepath.Base(filepath.Dir(in)), func(t *testing.T) {
			snap := loadGoldenInput(t, in, ca)
			_, read := render.TranslateRecording(snap, render.Options{})
			bare := *snap
			bare.Secrets, bare.ConfigMaps = nil, nil
			loads := render.ReferencedObjects(&bare, render.Options{})
			if fmt.Sprint(loads) != fmt.Sprint(read) {
				t.Errorf("the source would load %v, render reads %v", loads, read)
			}
		})
	}
}
