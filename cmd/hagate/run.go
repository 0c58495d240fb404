package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"hagate.io/hagate/controller"
	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/render"
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
	pprof          bool
	controllerName string
	verbosity      int
	kubeconfig     string
	gateway        string
	gatewayAddress string
	leaderElect    bool
	leaderNS       string
	securityLevel  int
	expiryWarning  time.Duration
	reloadTimeout  time.Duration
	provisioned    bool
	ticketKeys     string
	ticketRotation time.Duration
	dataPlaneFlags
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

With --source-dir the source is a folder of YAML files, watched for changes.
Without it, hagate watches the cluster (in-cluster configuration, or
--kubeconfig / KUBECONFIG) and writes the status of the objects it serves.`,
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
	fl.BoolVar(&f.pprof, "profiling", false, "also serve Go's profiles (/debug/pprof/) on the metrics address")
	fl.StringVar(&f.controllerName, "controller-name", render.DefaultControllerName, "GatewayClass controllerName to serve")
	fl.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity (0: one line per apply; 1: more)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, or KUBECONFIG)")
	fl.StringVar(&f.gateway, "gateway", "", "serve only this Gateway, as NAMESPACE/NAME (the sidecar model)")
	fl.StringVar(&f.gatewayAddress, "gateway-address", "", "address written into Gateway status.addresses (default: $POD_IP)")
	fl.BoolVar(&f.leaderElect, "leader-elect", false, "only the elected replica writes statuses; every replica drives its own HAProxy")
	fl.StringVar(&f.leaderNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's namespace)")
	fl.IntVar(&f.securityLevel, "openssl-security-level", render.DefaultSecurityLevel, "OpenSSL security level of HAProxy's TLS library (1-5): certificates it would refuse (weak keys or signatures) are reported, not loaded")
	fl.DurationVar(&f.expiryWarning, "certificate-expiry-warning", render.DefaultExpiryWarning, "how long before a served certificate expires its listener's ResolvedRefs message says so and (Kubernetes) a Warning event is written on its Gateway or ListenerSet, once a day (0: never)")
	fl.BoolVar(&f.provisioned, "provisioned", false, "serve the data plane hagate controller made for --gateway: listeners bind every address, the Gateway's addresses are its Service's, the GatewayClass status is the controller's")
	fl.StringVar(&f.ticketKeys, "tls-ticket-keys", "", "TLS session-ticket keys file shared by every bind that terminates TLS, so sessions resume across reloads and on replicas sharing the file (e.g. a mounted Secret): one base64 key (48 or 80 bytes) a line, oldest first, at least 3; created (0600) when missing (default <state-dir>/tls-ticket-keys; off: no session tickets)")
	fl.DurationVar(&f.ticketRotation, "tls-ticket-rotation", agent.DefaultTicketRotation, "rotate the session-ticket keys (a new key at the end of the file, the oldest dropped, applied through the Runtime API) once the file is this old (0: never; another replica's rotation of a shared file is applied either way)")
	f.dataPlaneFlags.add(fl)
	fl.DurationVar(&f.reloadTimeout, "haproxy-reload-timeout", 30*time.Second, "how long a reload waits for HAProxy's new worker before the apply fails and is retried")
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
	if f.provisioned && (f.gateway == "" || f.sourceDir != "") {
		return errors.New("--provisioned serves one Gateway of the cluster: it needs --gateway and no --source-dir")
	}
	accessLog, accessLogFormat, err := f.accessLogs()
	if err != nil {
		return err
	}
	log := newLogger(f.verbosity)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := metrics.New()
	m.Profiling = f.pprof
	if f.metricsAddr != "" {
		addr, err := m.Serve(ctx, f.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		log.Info("serving metrics", "address", addr.String())
	}
	a, err := agent.New(agent.Options{
		StateDir:              f.stateDir,
		ConfigDir:             f.configDir,
		MasterSocket:          f.masterSocket,
		HAProxyBinary:         f.haproxyBin,
		BindAddress:           f.bindAddress,
		ControllerName:        f.controllerName,
		Log:                   log,
		Metrics:               m,
		SecurityLevel:         f.securityLevel,
		ExpiryWarning:         expiryOption(f.expiryWarning),
		ReloadTimeout:         f.reloadTimeout,
		HAProxyMetricsAddress: f.haproxyMetrics,
		Provisioned:           f.provisioned,
		Threads:               f.threads,
		Maxconn:               f.maxconn,
		AccessLog:             accessLog,
		AccessLogFormat:       accessLogFormat,
		TicketKeys:            ticketKeysFile(f),
		TicketRotation:        f.ticketRotation,
	})
	if err != nil {
		return err
	}
	go a.WatchDroppedLogs(ctx, agent.DefaultDroppedLogsInterval)
	go a.WatchMirrors(ctx, agent.DefaultMirrorsInterval)
	go a.WatchTicketKeys(ctx, agent.DefaultTicketKeysInterval)
	m.SetReadiness(a.Ready)
	m.SetRestarts(a.Restarts)
	if f.sourceDir != "" {
		err = a.RunDir(ctx, f.sourceDir, agent.DefaultDebounce)
	} else {
		err = runKubernetes(ctx, f, a, log)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// runKubernetes serves the cluster.
func runKubernetes(ctx context.Context, f *runFlags, a *agent.Agent, log logr.Logger) error {
	var cfg *rest.Config
	var err error
	if f.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	} else {
		cfg, err = ctrl.GetConfig()
	}
	if err != nil {
		return fmt.Errorf("kubernetes configuration: %w", err)
	}
	o := controller.Options{
		Config:                  cfg,
		ControllerName:          f.controllerName,
		GatewayAddress:          f.gatewayAddress,
		LeaderElect:             f.leaderElect,
		LeaderElectionNamespace: f.leaderNS,
		Agent:                   a,
		Log:                     log,
		Provisioned:             f.provisioned,
		ExpiryWarning:           f.expiryWarning,
	}
	if o.GatewayAddress == "" && !f.provisioned {
		o.GatewayAddress = os.Getenv("POD_IP")
	}
	if f.gateway != "" {
		ns, name, ok := strings.Cut(f.gateway, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("--gateway %q is not NAMESPACE/NAME", f.gateway)
		}
		o.Gateway = &types.NamespacedName{Namespace: ns, Name: name}
	}
	err = controller.Run(ctx, o)
	a.Wait()
	return err
}

// expiryOption is --certificate-expiry-warning for render.Options, where
// 0 is the default and a negative window none.
func expiryOption(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
