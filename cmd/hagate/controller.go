package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"hagate.io/hagate/controller"
	"hagate.io/hagate/render"
)

// controllerFlags are the flags of `hagate controller`.
type controllerFlags struct {
	kubeconfig     string
	controllerName string
	image          string
	leaderElect    bool
	leaderNS       string
	healthAddr     string
	verbosity      int
}

func newControllerCmd() *cobra.Command {
	f := &controllerFlags{}
	cmd := &cobra.Command{
		Use:   "controller --data-plane-image IMAGE",
		Short: "Give every Gateway of hagate's GatewayClasses a data plane of its own",
		Long: `controller is hagate's control plane: for every Gateway of a GatewayClass
whose controllerName is --controller-name, it creates and keeps in step, in
the Gateway's namespace, a Deployment running HAProxy and the hagate agent
(hagate run --gateway NS/NAME --provisioned), a Service exposing the
Gateway's listener ports (LoadBalancer by default), a ServiceAccount, a Role
and RoleBinding, and a ClusterRoleBinding to the hagate-data-plane
ClusterRole. GatewayClass and Gateway parametersRef name a ConfigMap of
parameters (see deploy/README.md). It writes the GatewayClass status; each
Gateway's agents write the Gateway's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runController(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, or KUBECONFIG)")
	fl.StringVar(&f.controllerName, "controller-name", render.DefaultControllerName, "GatewayClass controllerName to serve")
	fl.StringVar(&f.image, "data-plane-image", os.Getenv("HAGATE_IMAGE"), "image of the data plane Pods (HAProxy and hagate), unless parameters name one (default: $HAGATE_IMAGE)")
	fl.BoolVar(&f.leaderElect, "leader-elect", false, "run one active replica (Lease hagate-controller)")
	fl.StringVar(&f.leaderNS, "leader-election-namespace", "", "namespace of the Lease (default: the Pod's)")
	fl.StringVar(&f.healthAddr, "health-bind-address", ":8081", "address of /healthz and /readyz (empty: off)")
	fl.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity")
	return cmd
}

func runController(cmd *cobra.Command, f *controllerFlags) error {
	if f.image == "" {
		return errors.New("--data-plane-image (or HAGATE_IMAGE) is required: the image data plane Pods run")
	}
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
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	health := f.healthAddr
	if health == "" {
		health = "0"
	}
	err = controller.RunControlPlane(ctx, controller.ControlPlaneOptions{
		Config: cfg, ControllerName: f.controllerName, Image: f.image,
		LeaderElect: f.leaderElect, LeaderElectionNamespace: f.leaderNS,
		HealthAddress: health, Log: newLogger(f.verbosity),
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
