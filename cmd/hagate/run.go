package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"

	"hagate.io/hagate/internal/agent"
	"hagate.io/hagate/internal/metrics"
	"hagate.io/hagate/internal/render"
)

// runFlags are the flags of `hagate run`.
type runFlags struct {
	sourceDir      string
	stateDir       string
	configDir      string
	masterSocket   string
	bindAddress    string
	haproxyBin     string
	metricsAddr    string
	controllerName string
	verbosity      int
}

func newRunCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run --source-dir DIR --state-dir DIR",
		Short: "Keep a running HAProxy equal to Gateway API resources",
		Long: `run renders the Gateway API resources of a source and keeps HAProxy
running them: it starts HAProxy in master-worker mode and supervises it (or,
with --haproxy-master-socket and --config-dir, drives an HAProxy started by
someone else), and on every change applies the difference through the
Runtime API when HAProxy can change itself live, or through a validated,
hitless reload otherwise.

With --source-dir the source is a folder of YAML files, watched for changes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.sourceDir, "source-dir", "", "folder of Gateway API YAML to serve, watched for changes")
	fl.StringVar(&f.stateDir, "state-dir", "", "folder for the configuration, sockets and haproxy.pid")
	fl.StringVar(&f.configDir, "config-dir", "", "folder HAProxy reads the configuration from (default: <state-dir>/config; attach mode: the shared folder)")
	fl.StringVar(&f.masterSocket, "haproxy-master-socket", "", "attach mode: the master CLI socket of an HAProxy started by someone else")
	fl.StringVar(&f.bindAddress, "bind-address", "", "address every listener binds (default: all IPv4 and IPv6 addresses)")
	fl.StringVar(&f.haproxyBin, "haproxy-bin", "haproxy", "the haproxy binary")
	fl.StringVar(&f.metricsAddr, "metrics-bind-address", "127.0.0.1:9090", "address of /metrics, /healthz and /readyz (empty: off)")
	fl.StringVar(&f.controllerName, "controller-name", render.DefaultControllerName, "GatewayClass controllerName to serve")
	fl.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity (0: one line per apply; 1: more)")
	return cmd
}

func newLogger(verbosity int) logr.Logger {
	return funcr.NewJSON(func(obj string) { fmt.Fprintln(os.Stderr, obj) }, funcr.Options{
		LogTimestamp: true,
		Verbosity:    verbosity,
	})
}

func runRun(cmd *cobra.Command, f *runFlags) error {
	if f.stateDir == "" {
		return errors.New("--state-dir is required")
	}
	if (f.masterSocket == "") != (f.configDir == "") && f.masterSocket != "" {
		return errors.New("attach mode needs both --haproxy-master-socket and --config-dir")
	}
	if f.sourceDir == "" {
		return errors.New("--source-dir is required (the Kubernetes source is not available in this build)")
	}
	log := newLogger(f.verbosity)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := metrics.New()
	if f.metricsAddr != "" {
		addr, err := m.Serve(ctx, f.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		log.Info("serving metrics", "address", addr.String())
	}
	a, err := agent.New(agent.Options{
		StateDir:       f.stateDir,
		ConfigDir:      f.configDir,
		MasterSocket:   f.masterSocket,
		HAProxyBinary:  f.haproxyBin,
		BindAddress:    f.bindAddress,
		ControllerName: f.controllerName,
		Log:            log,
		Metrics:        m,
	})
	if err != nil {
		return err
	}
	err = a.RunDir(ctx, f.sourceDir, agent.DefaultDebounce)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
