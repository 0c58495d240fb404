// Package pipeline wires the pure steps of hagate together: Snapshot ->
// render.Translate -> IR + status -> templates -> Bundle (with the status
// report). It does no I/O.
package pipeline

import (
	"hagate.io/hagate/internal/bundle"
	"hagate.io/hagate/internal/render"
	"hagate.io/hagate/internal/report"
	"hagate.io/hagate/internal/snapshot"
	"hagate.io/hagate/internal/status"
	"hagate.io/hagate/internal/templates"
)

// StatusFile is the path of the status report inside a rendered Bundle.
const StatusFile = "status.yaml"

// Options are the options of the whole pipeline.
type Options struct {
	// ControllerName selects our GatewayClasses.
	ControllerName string
	// ConfigRoot is the absolute path the Bundle will live at.
	ConfigRoot string
	// BindAddress is the address every frontend binds; empty for all.
	BindAddress string
}

// Output is what one run of the pipeline produces.
type Output struct {
	// Bundle holds haproxy.cfg, its files, and status.yaml.
	Bundle *bundle.Bundle
	// Status is the status of every object hagate is responsible for.
	Status *status.Set
	// Warnings are sentences about the input as a whole.
	Warnings []string
}

// Render runs the pipeline on a Snapshot.
func Render(snap *snapshot.Snapshot, o Options) (*Output, error) {
	res := render.Translate(snap, render.Options{ControllerName: o.ControllerName})
	b, err := templates.Render(res.Config, templates.Options{ConfigRoot: o.ConfigRoot, BindAddress: o.BindAddress})
	if err != nil {
		return nil, err
	}
	st, err := report.Status(snap, res.Status)
	if err != nil {
		return nil, err
	}
	b.Add(&bundle.File{Path: StatusFile, Content: st, Mode: 0o644})
	return &Output{Bundle: b, Status: res.Status, Warnings: res.Warnings}, nil
}
