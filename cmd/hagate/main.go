// Command hagate turns Gateway API resources into a running HAProxy.
//
// This file holds flags and wiring only; the work is done in controller/, render/, templates/ and haproxy/.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/controller/files"
	"hagate.io/hagate/controller/pipeline"
	"hagate.io/hagate/render"
)

func main() {
	if err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "hagate:", err)
		os.Exit(1)
	}
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "hagate",
		Short:         "hagate turns Gateway API resources into a running HAProxy",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRenderCmd())
	root.AddCommand(newRunCmd())
	root.AddCommand(newControllerCmd())
	return root
}

// renderFlags are the flags of `hagate render`.
type renderFlags struct {
	files          []string
	out            string
	bindAddress    string
	configRoot     string
	controllerName string
	securityLevel  int
	expiryWarning  time.Duration
	ticketKeys     string
	dataPlaneFlags
}

func newRenderCmd() *cobra.Command {
	f := &renderFlags{}
	cmd := &cobra.Command{
		Use:   "render -f MANIFESTS -o OUT",
		Short: "Render Gateway API YAML into haproxy.cfg, its files and a status report",
		Long: `render reads Gateway API resources (and the Secrets, Services and
EndpointSlices they refer to) from YAML files and writes the HAProxy
configuration they describe into OUT: haproxy.cfg, every file it reads, and
status.yaml with the status hagate computes for every Gateway API object.
OUT is replaced as a whole, and only when rendering succeeds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRender(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.files, "filename", "f", nil, "YAML file, directory (every *.yaml, *.yml below it) or - for stdin; repeatable")
	fl.StringVarP(&f.out, "output", "o", "", "folder to write the configuration to (replaced as a whole)")
	fl.StringVar(&f.bindAddress, "bind-address", "", "address every listener binds (default: all IPv4 and IPv6 addresses)")
	fl.StringVar(&f.configRoot, "config-root", "", "absolute path the files will have at run time (default: the absolute path of --output)")
	fl.StringVar(&f.controllerName, "controller-name", render.DefaultControllerName, "GatewayClass controllerName to render")
	fl.IntVar(&f.securityLevel, "openssl-security-level", render.DefaultSecurityLevel, "OpenSSL security level of the HAProxy that will run the configuration (1-5): certificates it would refuse are reported, not written")
	fl.DurationVar(&f.expiryWarning, "certificate-expiry-warning", render.DefaultExpiryWarning, "how long before a certificate expires its listener's ResolvedRefs message in status.yaml says so (0: never)")
	fl.StringVar(&f.ticketKeys, "tls-ticket-keys", "", "TLS session-ticket keys file (one base64 key of 48 or 80 bytes a line, oldest first, at least 3): the binds that terminate TLS use its last 3 keys (written to OUT, 0600) and session tickets are on; without it they are off")
	f.dataPlaneFlags.add(fl)
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func runRender(cmd *cobra.Command, f *renderFlags) error {
	loaded, err := files.Load(files.Options{Paths: f.files, Stdin: cmd.InOrStdin()})
	if err != nil {
		return err
	}
	if len(loaded.Errors) > 0 {
		var errs []error
		for _, e := range loaded.Errors {
			errs = append(errs, e)
		}
		return fmt.Errorf("invalid input, nothing written:\n%w", errors.Join(errs...))
	}
	for _, w := range loaded.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
	}
	out, err := filepath.Abs(f.out)
	if err != nil {
		return err
	}
	root := f.configRoot
	if root == "" {
		root = out
	}
	loaded.Snapshot.Now = time.Now()
	if f.ticketKeys != "" {
		keys, err := agent.ReadTicketKeys(f.ticketKeys)
		if err != nil {
			return fmt.Errorf("--tls-ticket-keys: %w", err)
		}
		loaded.Snapshot.TLSTicketKeys = keys
	}
	accessLog, accessLogFormat, err := f.accessLogs()
	if err != nil {
		return err
	}
	o, err := pipeline.Render(loaded.Snapshot, pipeline.Options{
		ControllerName:  f.controllerName,
		ConfigRoot:      root,
		BindAddress:     f.bindAddress,
		SecurityLevel:   f.securityLevel,
		ExpiryWarning:   expiryOption(f.expiryWarning),
		Threads:         f.threads,
		Maxconn:         f.maxconn,
		AccessLog:       accessLog,
		AccessLogFormat: accessLogFormat,
		MetricsAddress:  f.haproxyMetrics,
		StatusReport:    true,
	})
	if err != nil {
		return err
	}
	b := o.WithStatus()
	for _, w := range o.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
	}
	if err := b.ReplaceDir(out); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %d files to %s\n", len(b.Files()), out)
	return nil
}
