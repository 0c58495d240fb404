package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"hagate.io/hagate/controller/pipeline"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/templates"
)

// maxRefusalRounds bounds how many times one apply leaves out what HAProxy
// refused and tries again (each round leaves out at least one more object;
// HAProxy reports up to a few problems per check).
const maxRefusalRounds = 32

// ErrNotApplied wraps the reason HAProxy does not run the wanted
// configuration: it keeps the last good one, and the apply is retried.
var ErrNotApplied = errors.New("the configuration is not applied")

// Render runs the pipeline for this Agent's configuration folder: it
// checks which addresses the Gateways ask for can be bound here, which
// listener ports another process holds, and leaves out the objects
// HAProxy refused before (for as long as they would produce what was
// refused).
func (a *Agent) Render(snap *snapshot.Snapshot) (*pipeline.Output, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.render(snap)
}

func (a *Agent) render(snap *snapshot.Snapshot) (*pipeline.Output, error) {
	start := time.Now()
	defer func() {
		if a.o.Metrics != nil {
			a.o.Metrics.Rendered(time.Since(start))
		}
	}()
	checkAddresses(snap)
	a.ticketKeysFill(snap)
	if a.ports == nil {
		a.ports = newPorts(a.o.BindAddress)
	}
	a.ports.recheck(snap)
	var out *pipeline.Output
	var err error
	if len(a.refused) > 0 {
		// What each refused object would produce now: a changed object is
		// tried again.
		if out, err = a.pipeline(snap, nil); err != nil {
			return nil, err
		}
		if a.refused = a.refused.still(out.Bundle); len(a.refused) > 0 {
			out = nil
		}
	}
	if out == nil {
		if out, err = a.pipeline(snap, a.refused.byOrigin()); err != nil {
			return nil, err
		}
	}
	if a.ports.probe(snap, out.Bundle, a.runningBinds()) {
		return a.pipeline(snap, a.refused.byOrigin())
	}
	return out, nil
}

func (a *Agent) pipeline(snap *snapshot.Snapshot, refused map[ir.Origin]string) (*pipeline.Output, error) {
	return pipeline.Render(snap, pipeline.Options{
		ControllerName:  a.o.ControllerName,
		ConfigRoot:      a.o.ConfigDir,
		BindAddress:     a.o.BindAddress,
		Cache:           &a.cache,
		SecurityLevel:   a.o.SecurityLevel,
		Refused:         refused,
		Provisioned:     a.o.Provisioned,
		ExpiryWarning:   a.o.ExpiryWarning,
		Threads:         a.o.Threads,
		Maxconn:         a.o.Maxconn,
		AccessLog:       a.o.AccessLog,
		AccessLogFormat: a.o.AccessLogFormat,
		MetricsAddress:  a.o.HAProxyMetricsAddress,
	})
}

// runningBinds are the addresses the HAProxy we drive binds: those of the
// configuration it runs, or before the first apply, those of the
// configuration on disk (an HAProxy started earlier may run it).
func (a *Agent) runningBinds() map[string]bool {
	if a.engine != nil {
		if cur := a.engine.Current(); cur != nil {
			return haproxy.Binds(cur)
		}
	}
	return haproxy.BindsOfFile(filepath.Join(a.o.ConfigDir, bundle.ConfigFile))
}

// Start makes HAProxy run the first Snapshot: in run mode it writes the
// configuration and starts HAProxy (master-worker, supervised until ctx is
// done); in attach mode it writes it and reloads the other master. See
// Update.
func (a *Agent) Start(ctx context.Context, snap *snapshot.Snapshot) (*pipeline.Output, error) {
	out, _, err := a.Update(ctx, snap)
	return out, err
}

// Update renders a Snapshot and makes HAProxy run it, starting HAProxy
// first when it does not run yet. What HAProxy refuses is traced to the
// object responsible, left out with a condition quoting HAProxy, and the
// rest is applied. When a refusal cannot be traced to one object (or
// HAProxy cannot be reached), HAProxy keeps what it runs and the error
// wraps ErrNotApplied: the caller retries. The Output (statuses) is
// returned whenever rendering worked, even with an error.
func (a *Agent) Update(ctx context.Context, snap *snapshot.Snapshot) (*pipeline.Output, haproxy.Outcome, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out, res, err := a.update(ctx, snap)
	if err == nil && out != nil && a.o.Metrics != nil {
		// What HAProxy now serves.
		a.o.Metrics.SetCertificateDates(out.Dates)
	}
	a.st.Lock()
	a.applyErr, a.started = err, a.engine != nil
	a.st.Unlock()
	if err != nil && out != nil && !errors.Is(err, ErrNotApplied) {
		err = fmt.Errorf("%w: %w", ErrNotApplied, err)
	}
	return out, res, err
}

func (a *Agent) update(ctx context.Context, snap *snapshot.Snapshot) (*pipeline.Output, haproxy.Outcome, error) {
	out, err := a.render(snap)
	if err != nil {
		return nil, haproxy.Outcome{}, err
	}
	a.ensureEngine()
	if a.Process() == nil && a.o.MasterSocket == "" {
		return a.startSupervised(ctx, snap, out)
	}
	return a.converge(ctx, snap, out, a.engine.Apply)
}

// converge applies out with apply; while HAProxy refuses it for reasons
// traced to objects, it leaves those out and tries again.
func (a *Agent) converge(ctx context.Context, snap *snapshot.Snapshot, out *pipeline.Output,
	apply func(context.Context, *bundle.Bundle) (haproxy.Outcome, error)) (*pipeline.Output, haproxy.Outcome, error) {
	for round := 0; ; round++ {
		res, err := apply(ctx, out.Bundle)
		if err == nil || round == maxRefusalRounds {
			return out, res, err
		}
		var ce *haproxy.CheckError
		var pe *haproxy.PortError
		switch {
		case errors.As(err, &pe):
			// Taken since the probe: leave its listeners out.
			a.ports.portError(snap, pe)
		case errors.As(err, &ce):
			found, untraced := trace(ce, out)
			added := 0
			for _, r := range found {
				if a.refused.has(r.origin) {
					continue
				}
				a.refused = append(a.refused, r)
				added++
				a.o.Log.Info("HAProxy refused an object's configuration; it is left out and everything else is applied",
					"object", r.origin.String(), "reason", r.reason)
			}
			if added == 0 {
				var msgs []string
				for _, p := range untraced {
					msgs = append(msgs, p.Message)
				}
				return out, res, fmt.Errorf("%w: HAProxy refused the configuration for reasons no single object is responsible for (%s): %w",
					ErrNotApplied, strings.Join(msgs, "; "), err)
			}
		default:
			return out, res, err
		}
		next, rerr := a.pipeline(snap, a.refused.byOrigin())
		if rerr != nil {
			return out, res, rerr
		}
		out = next
	}
}

// startSupervised installs the first configuration and starts HAProxy on
// it. When HAProxy refuses it for reasons no object can be blamed for,
// HAProxy still starts: on the configuration left on disk by an earlier
// run when HAProxy takes it, else on a configuration without listeners;
// the error says why, and the next Update applies the wanted one.
func (a *Agent) startSupervised(ctx context.Context, snap *snapshot.Snapshot, out *pipeline.Output) (*pipeline.Output, haproxy.Outcome, error) {
	install := func(ctx context.Context, b *bundle.Bundle) (haproxy.Outcome, error) {
		return haproxy.Outcome{Action: haproxy.ActionStart}, a.engine.Install(ctx, b)
	}
	out, res, installErr := a.converge(ctx, snap, out, install)
	if installErr != nil {
		if !errors.Is(installErr, ErrNotApplied) {
			installErr = fmt.Errorf("%w: %w", ErrNotApplied, installErr)
		}
		if err := a.engine.InstallExisting(ctx); err != nil {
			a.o.Log.Info("no usable configuration on disk; HAProxy starts without listeners until the wanted one is accepted", "reason", err.Error())
			empty, err := templates.Render(&ir.Config{}, templates.Options{ConfigRoot: a.o.ConfigDir, BindAddress: a.o.BindAddress, Threads: a.o.Threads, Maxconn: a.o.Maxconn,
				AccessLog: a.o.AccessLog, AccessLogFormat: a.o.AccessLogFormat, MetricsAddress: a.o.HAProxyMetricsAddress})
			if err != nil {
				return out, res, err
			}
			if err := a.engine.Install(ctx, empty.Bundle); err != nil {
				return out, res, fmt.Errorf("%w; even a configuration without listeners is refused: %w", installErr, err)
			}
		} else {
			a.o.Log.Info("HAProxy starts on the configuration an earlier run left on disk until the wanted one is accepted")
		}
	}
	proc, err := haproxy.Start(ctx, haproxy.ProcessOptions{
		Binary:        a.o.HAProxyBinary,
		ConfigFile:    filepath.Join(a.o.ConfigDir, bundle.ConfigFile),
		MasterSocket:  a.MasterSocket(),
		PIDFile:       filepath.Join(a.o.StateDir, "haproxy.pid"),
		StatsSocket:   filepath.Join(a.o.ConfigDir, "haproxy.sock"),
		Log:           a.o.Log.WithName("haproxy"),
		Stdout:        a.o.HAProxyOutput,
		Stderr:        a.o.HAProxyOutput,
		ReloadTimeout: a.o.ReloadTimeout,
	})
	if err != nil {
		// Nothing runs: the engine forgets what it installed, so that the
		// next try starts over.
		a.engine = nil
		return out, res, fmt.Errorf("%w: %w", ErrNotApplied, err)
	}
	a.st.Lock()
	a.proc = proc
	a.st.Unlock()
	a.o.Log.Info("HAProxy started", "masterPID", proc.MasterPID(), "config", filepath.Join(a.o.ConfigDir, bundle.ConfigFile))
	return out, res, installErr
}

// ensureEngine makes the apply engine on first use.
func (a *Agent) ensureEngine() {
	if a.engine != nil {
		return
	}
	a.master = &haproxy.MasterCLI{Path: a.MasterSocket(), ReloadTimeout: a.o.ReloadTimeout}
	a.engine = haproxy.NewEngine(haproxy.EngineOptions{
		ConfigDir: a.o.ConfigDir,
		StageDir:  filepath.Join(a.o.StateDir, "stage"),
		Binary:    a.o.HAProxyBinary,
		Reloader:  reloader{a},
		Runtime:   a.runtime(),
		Log:       a.o.Log,
		Observer:  a.observer(),
	})
}

// Ready says whether HAProxy runs the configuration last asked for: nil
// when it does, else why not.
func (a *Agent) Ready(ctx context.Context) error {
	a.st.Lock()
	applyErr, proc, started := a.applyErr, a.proc, a.started
	a.st.Unlock()
	switch {
	case !started:
		return errors.New("HAProxy has not been given a configuration yet")
	case applyErr != nil:
		return fmt.Errorf("HAProxy does not run the current configuration: %v", applyErr)
	case proc != nil:
		if !proc.Serving() {
			return errors.New("the HAProxy master is not running, or its worker not yet (it is being restarted)")
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cli := &haproxy.MasterCLI{Path: a.MasterSocket(), Timeout: 2 * time.Second}
	if _, err := cli.ShowProc(ctx); err != nil {
		return fmt.Errorf("the HAProxy master does not answer: %v", err)
	}
	return nil
}

// Restarts is how many times the supervised HAProxy master exited on its
// own and was started again (0 in attach mode).
func (a *Agent) Restarts() int {
	if p := a.Process(); p != nil {
		return p.Restarts()
	}
	return 0
}

// WaitingForPorts reports whether listeners are left out because another
// process holds their ports: the caller renders again now and then, so
// that they are served once the ports are free.
func (a *Agent) WaitingForPorts() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ports != nil && len(a.ports.busy) > 0
}
