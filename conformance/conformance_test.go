//go:build conformance

// Package conformance runs the Gateway API project's own conformance suite
// (sigs.k8s.io/gateway-api/conformance, unmodified) against hagate on this
// machine: a private kube-apiserver (kubetest), hagate's own control plane
// (hagate controller, as a process), which gives each Gateway a Deployment
// and a Service, and the harness's Node, which runs those Deployments'
// Pods (HAProxy and the hagate agent, this checkout's programs) and the
// echo-basic Pods in network namespaces and stands in for the load
// balancer.
// `make conformance` runs it; see README.md, "Conformance".
package conformance

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"golang.org/x/sys/unix"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/apis/v1alpha2"
	"sigs.k8s.io/gateway-api/apis/v1alpha3"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	"sigs.k8s.io/gateway-api/conformance"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/utils/config"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/gateway-api/pkg/features"
	"sigs.k8s.io/yaml"

	"hagate.io/hagate/conformance/harness"
	"hagate.io/hagate/controller"
	"hagate.io/hagate/internal/testutil/kubetest"
	"hagate.io/hagate/internal/testutil/netns"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/provision"
)

const (
	gatewayClass = "hagate"
	// hosts is how many Pods may run at once (one network namespace each):
	// the echo-basic backends and a data plane Pod per Gateway.
	hosts = 80
	// dataPlaneImage is the image hagate controller names in the data
	// plane Deployments; the Node runs its containers' commands as this
	// checkout's programs (programs below).
	dataPlaneImage = "hagate.io/hagate:conformance"
	// gatewayAPIVersion is the conformance module's version, which names
	// the report folder.
	gatewayAPIVersion = "v1.6.3"
)

// required are the features hagate must claim and pass (issue 7);
// claimed is what it claims: every feature its GatewayClass status
// advertises (controller.SupportedFeatures), so that the suite checks what
// users are told.
var required = []features.FeatureName{
	features.SupportGateway,
	features.SupportHTTPRoute,
	features.SupportReferenceGrant,
	features.SupportTLSRoute,
	features.SupportTLSRouteModeTerminate,
	features.SupportTLSRouteModeMixed,
	features.SupportGatewayFrontendClientCertificateValidation,
	features.SupportGatewayFrontendClientCertificateValidationInsecureFallback,
	features.SupportBackendTLSPolicy,
	features.SupportBackendTLSPolicySANValidation,
	features.SupportGatewayBackendClientCertificate,
	features.SupportGRPCRoute,
	features.SupportGatewayHTTPSListenerDetectMisdirectedRequests,
	features.SupportListenerSet,
}

func claimed(t *testing.T) []features.FeatureName {
	var out []features.FeatureName
	out = append(out, controller.SupportedFeatures...)
	for _, f := range required {
		if !slices.Contains(out, f) {
			t.Fatalf("controller.SupportedFeatures does not list %s, which hagate must claim", f)
		}
	}
	return out
}

// Environment knobs (make conformance passes them through):
//   - HAGATE_CONFORMANCE_RUN_TEST: one test by its ShortName.
//   - HAGATE_CONFORMANCE_SKIP: comma-separated ShortNames not to run.
//   - HAGATE_CONFORMANCE_PROFILES: comma-separated profiles (default
//     GATEWAY-HTTP,GATEWAY-TLS,GATEWAY-GRPC,GATEWAY-TCP).
//   - HAGATE_CONFORMANCE_REPORT: report path, relative to the module root
//     (default conformance/reports/<version>/hagate-default-report.yaml;
//     "-": none).
//   - HAGATE_CONFORMANCE_DIR: where Pod and agent logs go (default
//     .local/conformance).
func TestConformance(t *testing.T) {
	lockMachine(t)
	root := moduleRoot(t)
	work := envOr("HAGATE_CONFORMANCE_DIR", filepath.Join(root, ".local", "conformance"))
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(work, "bin")
	hagate := goBuild(t, root, bin, "hagate", "./cmd/hagate")
	echo := goBuild(t, root, bin, "echo-basic", "sigs.k8s.io/gateway-api/conformance/echo-basic")

	// The suite's parallel tests run after this function returns: what
	// they need stops in t.Cleanup, never in a defer.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cluster, stopCluster, err := kubetest.Start(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopCluster)

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, gwapiv1.Install, v1alpha2.Install, v1alpha3.Install,
		xv1alpha1.Install, apiextensionsv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	clientOpts := client.Options{Scheme: scheme}
	c, err := client.New(cluster.Config, clientOpts)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctrllog.SetLogger(logr.Discard())

	var pool []harness.Host
	for range hosts {
		h := netns.New(t, "")
		// A data plane Pod reaches the backend Pods through this host:
		// packets coming in on the test's own links are forwarded (on
		// these links only; net.ipv4.ip_forward is left as it is).
		if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+h.Link+"/forwarding", []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
		pool = append(pool, nsHost{h})
	}
	log := funcr.New(func(prefix, args string) { t.Logf("%s %s", prefix, args) }, funcr.Options{Verbosity: verbosity()})
	node := &harness.Node{
		C: c, Config: cluster.Config, EchoBasic: echo, Dir: filepath.Join(work, "pods"), Hosts: pool, Log: log.WithName("node"),
		// UNIX socket paths must be short (HAProxy: 97 characters).
		VolumeDir: shortTempDir(t),
		// The data plane image's commands (see the Dockerfile).
		Programs: map[string]string{
			"/usr/local/bin/hagate":        hagate,
			"/usr/local/bin/haproxy-start": filepath.Join(root, "deploy", "image", "haproxy-start"),
		},
		API:              &harness.API{Host: strings.TrimPrefix(cluster.Config.Host, "https://"), CAData: cluster.Config.CAData, ServerName: "kubernetes"},
		LoadBalancerPool: loadBalancerPool,
	}
	// Another HAProxy than Debian's (HAGATE_HAPROXY_BIN, e.g. 3.0): the
	// data plane's haproxy-start runs it and the agent checks with it.
	if bin := os.Getenv("HAGATE_HAPROXY_BIN"); bin != "" {
		abs := bin
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(root, bin) // relative to the module, as make passes it
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("HAGATE_HAPROXY_BIN: %v", err)
		}
		shim := filepath.Join(work, "haproxy-bin")
		if err := os.MkdirAll(shim, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(shim, "haproxy")); err != nil {
			t.Fatal(err)
		}
		node.ProgramEnv = []string{"HAPROXY_BIN=" + abs, "PATH=" + shim + ":" + os.Getenv("PATH")}
		t.Logf("data planes run %s", abs)
	}
	node.KubeletCert, node.KubeletKey = cluster.KubeletServing()
	var wg sync.WaitGroup
	runCtx, stopRun := context.WithCancel(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); node.Run(runCtx) }()
	t.Cleanup(func() { stopRun(); wg.Wait() })
	startControlPlane(t, hagate, cluster.Kubeconfig, filepath.Join(work, "controller.log"))

	// The data plane's ClusterRole, as deploy/ installs it: the agents run
	// with their ServiceAccounts' tokens, so their RBAC is the shipped one.
	installDataPlaneRole(t, ctx, c, root)

	gc := &gwapiv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: gatewayClass},
		Spec:       gwapiv1.GatewayClassSpec{ControllerName: gwapiv1.GatewayController(render.DefaultControllerName)},
	}
	if err := c.Create(ctx, gc); err != nil {
		t.Fatal(err)
	}

	report := envOr("HAGATE_CONFORMANCE_REPORT",
		filepath.Join(root, "conformance", "reports", gatewayAPIVersion, "hagate-default-report.yaml"))
	if report == "-" {
		report = ""
	} else if !filepath.IsAbs(report) {
		// go test runs in this package's folder; paths are the module's.
		report = filepath.Join(root, report)
	}
	if report != "" {
		if err := os.MkdirAll(filepath.Dir(report), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	profiles := []suite.ConformanceProfileName{}
	for _, p := range strings.Split(envOr("HAGATE_CONFORMANCE_PROFILES", "GATEWAY-HTTP,GATEWAY-TLS,GATEWAY-GRPC,GATEWAY-TCP"), ",") {
		profiles = append(profiles, suite.ConformanceProfileName(strings.TrimSpace(p)))
	}
	var skip []string
	if s := os.Getenv("HAGATE_CONFORMANCE_SKIP"); s != "" {
		skip = strings.Split(s, ",")
	}
	opts := suite.ConformanceOptions{
		ConfigurableOptions: suite.ConfigurableOptions{
			GatewayClassName:     gatewayClass,
			CleanupBaseResources: true,
			CleanupTestResources: true,
			SupportedFeatures:    claimed(t),
			ConformanceProfiles:  profiles,
			ReportOutputPath:     report,
			RunTest:              os.Getenv("HAGATE_CONFORMANCE_RUN_TEST"),
			SkipTests:            skip,
			Mode:                 "default",
			// GatewayStaticAddresses: an address of the load balancer
			// stand-in's pool, and TEST-NET-2's, which it never gives.
			UsableNetworkAddresses:   []gwapiv1.GatewaySpecAddress{{Type: new(gwapiv1.IPAddressType), Value: "198.19.0.20"}},
			UnusableNetworkAddresses: []gwapiv1.GatewaySpecAddress{{Type: new(gwapiv1.IPAddressType), Value: "198.51.100.1"}},
			TimeoutConfig:            config.DefaultTimeoutConfig(),
			Implementation: confv1.Implementation{
				Organization: "hagate",
				Project:      "hagate",
				URL:          "https://hagate.io",
				Version:      version(t, root),
				Contact:      []string{"hagate maintainers"},
			},
		},
		Client:        c,
		ClientOptions: clientOpts,
		Clientset:     cs,
		RestConfig:    cluster.Config,
	}
	t0 := time.Now()
	t.Cleanup(func() {
		t.Logf("conformance suite ran in %s; logs of Pods and agents in %s", time.Since(t0).Round(time.Second), work)
	})
	conformance.RunConformanceWithOptions(t, opts)
}

// lockMachine waits until no other conformance run on this machine holds
// /run/hagate-conformance.lock: runs bind the same loopback addresses
// (127.0.9.1, 127.0.10.x). The kernel drops the lock when the process ends.
func lockMachine(t *testing.T) {
	f, err := os.OpenFile("/run/hagate-conformance.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Logf("another conformance run holds %s; waiting", f.Name())
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { f.Close() })
}

// loadBalancerPool is what the load balancer stand-in gives Services that
// ask for addresses (198.18.0.0/15 is for benchmark networks; the hosts
// take 198.18.0.0/16).
var loadBalancerPool = netip.MustParsePrefix("198.19.0.0/24")

// startControlPlane runs hagate's control plane as a user would, until the
// test ends.
func startControlPlane(t *testing.T, hagate, kubeconfig, logPath string) {
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"controller", "--kubeconfig", kubeconfig, "--data-plane-image", dataPlaneImage, "--health-bind-address", ""}
	if verbosity() > 0 {
		args = append(args, "-v", "1")
	}
	cmd := exec.Command(hagate, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
}

// nsHost is a network namespace as a harness.Host.
type nsHost struct{ h *netns.Host }

func (n nsHost) NetnsName() string { return n.h.Name }
func (n nsHost) IP() string        { return n.h.Addr }
func (n nsHost) Gateway() string   { return n.h.Gateway }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func verbosity() int {
	if os.Getenv("HAGATE_CONFORMANCE_VERBOSE") != "" {
		return 1
	}
	return 0
}

func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func goBuild(t *testing.T, root, dir, name, pkg string) string {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// version is the commit under test ("-dirty" with local changes).
func version(t *testing.T, root string) string {
	cmd := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "dev"
	}
	return fmt.Sprintf("git-%s", strings.TrimSpace(string(out)))
}

// installDataPlaneRole creates the hagate-data-plane ClusterRole from the
// manifests of deploy/.
func installDataPlaneRole(t *testing.T, ctx context.Context, c client.Client, root string) {
	files, err := filepath.Glob(filepath.Join(root, "deploy", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			var cr rbacv1.ClusterRole
			if err := yaml.Unmarshal([]byte(doc), &cr); err != nil || cr.Kind != "ClusterRole" || cr.Name != provision.DataPlaneClusterRole {
				continue
			}
			if err := c.Create(ctx, &cr); err != nil {
				t.Fatalf("ClusterRole %s from %s: %v", cr.Name, f, err)
			}
			return
		}
	}
	t.Fatalf("no ClusterRole %s in deploy/*.yaml", provision.DataPlaneClusterRole)
}

// shortTempDir is a temporary folder with a short path, removed at the
// end of the test.
func shortTempDir(t *testing.T) string {
	d, err := os.MkdirTemp("/tmp", "hgc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
