package templates

import (
	_ "embed" // the mirroring Lua script

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render/ir"
)

// mirrorLua is the Lua script of request mirroring (ir.MirrorScript): the
// same for every configuration, so that nothing of a Gateway API object is
// ever code; haproxy.cfg gives it its values (setenv) and the mirror
// backends (action arguments, names render made).
//
//go:embed files/hagate-mirror.lua
var mirrorLua []byte

// addMirroring adds the Lua script when the configuration mirrors requests.
// Its folder is the Bundle's either way: a script an earlier configuration
// left is removed.
func addMirroring(b *bundle.Bundle, cfg *ir.Config) {
	b.State.Dirs = append(b.State.Dirs, ir.DirLua)
	if cfg.Mirroring == nil {
		return
	}
	b.Add(&bundle.File{Path: ir.MirrorScript, Content: mirrorLua, Mode: 0o644})
}
