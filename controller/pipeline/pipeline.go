// Package pipeline wires the pure steps of hagate together: Snapshot ->
// render.Translate -> IR + status -> templates -> Bundle (with the status
// report). It does no I/O.
package pipeline

import (
	"time"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/report"
	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/render/status"
	"hagate.io/hagate/templates"
)

// StatusFile is the path of the status report next to a rendered
// configuration (hagate render writes it there).
const StatusFile = "status.yaml"

// Options are the options of the whole pipeline.
type Options struct {
	// ControllerName selects our GatewayClasses.
	ControllerName string
	// ConfigRoot is the absolute path the Bundle will live at.
	ConfigRoot string
	// BindAddress is the address every frontend binds; empty for all.
	BindAddress string
	// Cache, if set, keeps parsed certificates between renders.
	Cache *render.Cache
	// SecurityLevel is the data plane's OpenSSL security level (see
	// render.Options).
	SecurityLevel int
	// Refused are the objects HAProxy refused, with its reasons (see
	// render.Options).
	Refused map[ir.Origin]string
	// Provisioned and ExpiryWarning: see render.Options.
	Provisioned   bool
	ExpiryWarning time.Duration
	// Threads, Maxconn, AccessLog and MetricsAddress: see
	// templates.Options.
	Threads, Maxconn int32
	AccessLog        ir.AccessLog
	AccessLogFormat  ir.AccessLogFormat
	MetricsAddress   string
	// StatusReport makes Render build status.yaml (Output.StatusYAML);
	// otherwise it is left nil, and StatusReport builds it when wanted
	// (off the path of a change going live).
	StatusReport bool
}

// Output is what one run of the pipeline produces.
type Output struct {
	// Bundle holds haproxy.cfg and the files it reads.
	Bundle *bundle.Bundle
	// Origins traces the Bundle's files and lines to their objects.
	Origins *templates.Origins
	// StatusYAML is the status report (Options.StatusReport).
	StatusYAML []byte
	// Status is the status of every object hagate is responsible for.
	Status *status.Set
	// Warnings are sentences about the input as a whole.
	Warnings []string
	// Dates are the validity periods of the certificates and CA bundles
	// the configuration serves.
	Dates []ir.CertificateDate
}

// Render runs the pipeline on a Snapshot.
func Render(snap *snapshot.Snapshot, o Options) (*Output, error) {
	res := render.Translate(snap, render.Options{ControllerName: o.ControllerName, Cache: o.Cache, SecurityLevel: o.SecurityLevel,
		Refused: o.Refused, Provisioned: o.Provisioned, ExpiryWarning: o.ExpiryWarning, RuleNames: o.AccessLogFormat.JSON()})
	tout, err := templates.Render(res.Config, templates.Options{ConfigRoot: o.ConfigRoot, BindAddress: o.BindAddress, Threads: o.Threads, Maxconn: o.Maxconn,
		AccessLog: o.AccessLog, AccessLogFormat: o.AccessLogFormat, MetricsAddress: o.MetricsAddress})
	if err != nil {
		return nil, err
	}
	out := &Output{Bundle: tout.Bundle, Origins: tout.Origins, Status: res.Status, Warnings: res.Warnings, Dates: res.Config.Dates}
	if o.StatusReport {
		if out.StatusYAML, err = StatusReport(snap, res.Status, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// StatusReport is status.yaml: the statuses a render computed for the
// objects of snap, written by at most workers goroutines (0: a core
// each).
func StatusReport(snap *snapshot.Snapshot, st *status.Set, workers int) ([]byte, error) {
	return report.StatusOn(snap, st, workers)
}

// WithStatus returns the Bundle plus status.yaml: what hagate render
// writes.
func (o *Output) WithStatus() *bundle.Bundle {
	b := bundle.New()
	for _, f := range o.Bundle.Files() {
		b.Add(f)
	}
	b.Add(&bundle.File{Path: StatusFile, Content: o.StatusYAML, Mode: 0o644})
	return b
}
