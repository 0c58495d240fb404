// Package kubetest runs a private Kubernetes control plane for tests: etcd
// and kube-apiserver on free loopback ports, in a temporary folder of their
// own, with the Gateway API standard CRDs installed. There are no nodes and
// no controllers besides the API server's own: objects are stored,
// defaulted and validated (OpenAPI, CEL, admission policies, RBAC), nothing
// runs them.
//
// It uses the binaries hack/cluster.sh uses, with the same flags, but none
// of its state: .local/bin/kube-apiserver (built by `make kube-apiserver`)
// and Debian's /usr/bin/etcd (installed by `make deps`). Start is meant for
// TestMain, one cluster per test package:
//
//	var cluster *kubetest.Cluster
//
//	func TestMain(m *testing.M) {
//		c, stop, err := kubetest.Start(context.Background(), os.Stderr)
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		cluster = c
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
// When kube-apiserver is missing, Start returns an error wrapping
// ErrNoKubeAPIServer; tests may skip on it unless Required() (the
// HAGATE_REQUIRE_CLUSTER environment variable, which CI sets) says the
// cluster is mandatory.
package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// EnvRequire names the environment variable that makes a missing
// kube-apiserver a failure instead of a reason to skip (see Required).
const EnvRequire = "HAGATE_REQUIRE_CLUSTER"

// ErrNoKubeAPIServer is wrapped by the error Start returns when
// .local/bin/kube-apiserver does not exist.
var ErrNoKubeAPIServer = errors.New("kube-apiserver not built")

const (
	apiserverRel = ".local/bin/kube-apiserver"
	etcdBin      = "/usr/bin/etcd"
	kubectlBin   = "/usr/bin/kubectl"
	gatewayAPI   = "sigs.k8s.io/gateway-api"
	crdSubdir    = "config/crd/standard"

	// startTimeout bounds Start when ctx has no earlier deadline.
	startTimeout = 2 * time.Minute
	pollInterval = 50 * time.Millisecond
	// startAttempts: a port picked free can be taken before etcd or
	// kube-apiserver binds it (another test package starting its own
	// cluster); Start then tries again with new ports.
	startAttempts = 3
)

// Cluster is a running etcd + kube-apiserver with the Gateway API CRDs.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig for the admin user (in
	// system:masters, so allowed everything), verifying the server's
	// self-signed certificate.
	Kubeconfig string
	// Config is the client-go configuration the kubeconfig holds.
	Config *rest.Config
	// Dir is the cluster's temporary folder: etcd data, certificates and
	// keys (pki/), the kubeconfig, and the logs etcd.log and
	// kube-apiserver.log. The stop function deletes it.
	Dir string

	procs         []*process // running, in start order
	apiserverBin  string
	apiserverArgs []string
	// crdResources are the resources of the installed CRDs, which the API
	// server's discovery must list before the cluster counts as ready.
	crdResources map[schema.GroupVersionResource]bool
}

// Required reports whether the environment says a cluster is mandatory
// (HAGATE_REQUIRE_CLUSTER is set and not "0" or "false"): then a missing
// kube-apiserver fails the tests rather than skipping them.
func Required() bool {
	v := os.Getenv(EnvRequire)
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// Start starts a private cluster: etcd and kube-apiserver on free loopback
// ports with their state in a new temporary folder, the Gateway API
// standard CRDs installed and Established, and their kinds in the API
// server's discovery. It writes one progress line per step to log (nil:
// nowhere). The returned function stops the processes and deletes the
// folder; it may be called more than once.
//
// kube-apiserver is .local/bin/kube-apiserver under the module root (found
// by walking up from the working directory to go.mod); when it is missing
// the error wraps ErrNoKubeAPIServer and says to run `make kube-apiserver`.
func Start(ctx context.Context, log io.Writer) (*Cluster, func(), error) {
	if log == nil {
		log = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	t0 := time.Now()

	root, err := moduleRoot()
	if err != nil {
		return nil, nil, err
	}
	apiserver := filepath.Join(root, apiserverRel)
	if _, err := os.Stat(apiserver); err != nil {
		return nil, nil, fmt.Errorf("%w: %s is missing; run `make kube-apiserver` (builds it from hack/tools in a few minutes)", ErrNoKubeAPIServer, apiserver)
	}
	if _, err := os.Stat(etcdBin); err != nil {
		return nil, nil, fmt.Errorf("etcd: %s is missing; run `make deps` (apt-get install etcd-server)", etcdBin)
	}
	crdFiles, err := gatewayCRDFiles(ctx, root)
	if err != nil {
		return nil, nil, err
	}

	var c *Cluster
	for attempt := 1; ; attempt++ {
		c, err = start(ctx, log, apiserver)
		if err == nil {
			break
		}
		if attempt == startAttempts || !errors.Is(err, errAddrInUse) {
			return nil, nil, err
		}
		fmt.Fprintf(log, "kubetest: %v; trying again with other ports\n", err)
	}
	tReady := time.Now()

	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			c.stop()
			if err := os.RemoveAll(c.Dir); err != nil {
				fmt.Fprintf(log, "kubetest: %v\n", err)
			}
		})
	}
	if err := c.installCRDs(ctx, crdFiles); err != nil {
		err = fmt.Errorf("install the Gateway API CRDs: %w%s", err, c.logTails())
		stop()
		return nil, nil, err
	}
	fmt.Fprintf(log, "kubetest: cluster up in %s (kube-apiserver ready %s, Gateway API CRDs %s): %s, %s\n",
		since(t0), tReady.Sub(t0).Round(time.Millisecond), since(tReady), c.Config.Host, c.Dir)
	return c, stop, nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

// moduleRoot walks up from the working directory to the folder holding
// go.mod.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod in %s or above it", wd)
		}
	}
}

// gatewayCRDFiles lists the Gateway API standard-channel manifests (the
// CRDs and the safe-upgrades admission policy) of the gateway-api module
// version go.mod requires.
func gatewayCRDFiles(ctx context.Context, root string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", gatewayAPI)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m %s: %w: %s", gatewayAPI, err, strings.TrimSpace(stderr.String()))
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return nil, fmt.Errorf("module %s is not in the module cache; run `go mod download %s`", gatewayAPI, gatewayAPI)
	}
	files, err := filepath.Glob(filepath.Join(dir, crdSubdir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var keep []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			keep = append(keep, f)
		}
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("no manifests in %s", filepath.Join(dir, crdSubdir))
	}
	return keep, nil
}

// errAddrInUse marks a start that failed because a port was taken.
var errAddrInUse = errors.New("a port was taken")

// start runs etcd and kube-apiserver in a new temporary folder and waits
// for /readyz. On error nothing is left running and the folder is gone.
func start(ctx context.Context, log io.Writer, apiserver string) (c *Cluster, err error) {
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	defer func() {
		if err != nil {
			tails := c.logTails()
			c.stop()
			_ = os.RemoveAll(dir)
			if strings.Contains(tails, "address already in use") {
				err = fmt.Errorf("%w (%w)", err, errAddrInUse)
			}
			err = fmt.Errorf("start kube-apiserver: %w%s", err, tails)
		}
	}()

	pki := filepath.Join(dir, "pki")
	if err := os.Mkdir(pki, 0o700); err != nil {
		return c, err
	}
	token, err := writeCredentials(pki)
	if err != nil {
		return c, err
	}
	if err := writeKubeletCert(pki); err != nil {
		return c, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return c, err
	}
	etcdPort, peerPort, apiPort := ports[0], ports[1], ports[2]
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)

	etcdArgs := []string{
		"--name", "default",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL,
		"--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default=" + peerURL,
		"--logger", "zap", "--log-outputs", "stderr",
	}
	if etcdNoFsync() {
		etcdArgs = append(etcdArgs, "--unsafe-no-fsync")
	}
	if err := c.run(dir, "etcd", etcdBin, etcdArgs...); err != nil {
		return c, err
	}
	c.apiserverBin = apiserver
	c.apiserverArgs = []string{
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(apiPort),
		"--cert-dir", pki,
		"--service-account-key-file", filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(pki, "sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--token-auth-file", filepath.Join(pki, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// The default reconciler writes the advertise address into the
		// kubernetes Service's endpoints, and validation refuses loopback
		// addresses there: an error every few seconds. Nothing needs it.
		"--endpoint-reconciler-type", "none",
		// Pod logs and the like come from a kubelet stand-in, if any
		// (KubeletServing).
		"--kubelet-certificate-authority", filepath.Join(pki, kubeletCert),
	}
	if err := c.run(dir, "kube-apiserver", apiserver, c.apiserverArgs...); err != nil {
		return c, err
	}
	fmt.Fprintf(log, "kubetest: etcd %s, kube-apiserver https://127.0.0.1:%d, in %s\n", etcdURL, apiPort, dir)

	// Until it answers, the serving certificate may be half written: poll
	// /readyz without verifying it, then trust the CA it was made with.
	cfg := &rest.Config{
		Host:            "https://127.0.0.1:" + strconv.Itoa(apiPort),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             -1, // no client-side rate limit
		// No Timeout: it would cut watches too. Requests end with ctx.
	}
	if err := c.waitReady(ctx, cfg); err != nil {
		return c, err
	}
	// --cert-dir: apiserver.crt holds the serving certificate and the
	// self-signed CA that issued it.
	ca, err := os.ReadFile(filepath.Join(pki, "apiserver.crt"))
	if err != nil {
		return c, err
	}
	cfg.TLSClientConfig = rest.TLSClientConfig{CAData: ca}
	c.Config = cfg
	if err := writeKubeconfig(c.Kubeconfig, cfg); err != nil {
		return c, err
	}
	return c, nil
}

// writeCredentials writes the service-account key pair (sa.key, sa.pub)
// and the token file (tokens.csv) with one admin in system:masters, and
// returns the admin's token.
func writeCredentials(pki string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	for name, data := range map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(token + `,admin,admin,"system:masters"` + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(pki, name), data, 0o600); err != nil {
			return "", err
		}
	}
	return token, nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

var (
	noFsyncOnce sync.Once
	noFsync     bool
)

// etcdNoFsync reports whether etcd takes --unsafe-no-fsync (3.4.10 and
// later; not in 3.4's --help).
func etcdNoFsync() bool {
	noFsyncOnce.Do(func() {
		noFsync = exec.Command(etcdBin, "--unsafe-no-fsync", "--version").Run() == nil
	})
	return noFsync
}

// waitReady polls /readyz until it answers ok, a process exits, or ctx ends.
func (c *Cluster) waitReady(ctx context.Context, cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	var last error
	for {
		body, err := dc.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		last = err
		if err := c.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %w (last answer: %v)", ctx.Err(), last)
		case <-time.After(pollInterval):
		}
	}
}

func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin"}
	kc.CurrentContext = "kubetest"
	return clientcmd.WriteToFile(*kc, path)
}

// installCRDs server-side applies every object of files (as `kubectl apply
// --server-side` does), then waits until each CRD is Established and its
// kinds are in discovery, so kubectl and RESTMappers find them.
func (c *Cluster) installCRDs(ctx context.Context, files []string) error {
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	groups, err := restmapper.GetAPIGroupResourcesWithContext(ctx, dc)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDiscoveryRESTMapperWithContext(groups)

	var objs []*unstructured.Unstructured
	for _, f := range files {
		docs, err := readObjects(f)
		if err != nil {
			return err
		}
		objs = append(objs, docs...)
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	var crds []string
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for i, obj := range objs {
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		if m.Resource == crdGVR {
			crds = append(crds, obj.GetName())
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			ns := obj.GetNamespace()
			if ns == "" {
				ns = metav1.NamespaceDefault
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		wg.Go(func() {
			if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "kubetest", Force: true}); err != nil {
				errs[i] = fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	// Established, then in (aggregated) discovery: the served versions and
	// plural of every CRD.
	want := map[schema.GroupVersionResource]bool{}
	c.crdResources = want
	for _, name := range crds {
		for {
			crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if established(crd) {
				group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
				plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
				versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
				for _, v := range versions {
					v, _ := v.(map[string]any)
					if served, _ := v["served"].(bool); served {
						name, _ := v["name"].(string)
						want[schema.GroupVersionResource{Group: group, Version: name, Resource: plural}] = true
					}
				}
				break
			}
			if err := sleep(ctx, c, "CRD "+name+" Established"); err != nil {
				return err
			}
		}
	}
	return c.waitDiscovery(ctx, dc)
}

// waitDiscovery waits until the API server's discovery lists every
// resource of the installed CRDs.
func (c *Cluster) waitDiscovery(ctx context.Context, dc *discovery.DiscoveryClient) error {
	want := c.crdResources
	for {
		_, lists, err := dc.ServerGroupsAndResourcesWithContext(ctx)
		missing := len(want)
		if err == nil {
			for _, l := range lists {
				gv, _ := schema.ParseGroupVersion(l.GroupVersion)
				for _, r := range l.APIResources {
					if want[gv.WithResource(r.Name)] {
						missing--
					}
				}
			}
			if missing == 0 {
				return nil
			}
		}
		if err := sleep(ctx, c, fmt.Sprintf("%d CRD resources in discovery", missing)); err != nil {
			return err
		}
	}
}

// sleep waits one poll interval, failing when ctx ends or a process exits.
func sleep(ctx context.Context, c *Cluster, waitingFor string) error {
	if err := c.exited(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s: %w", waitingFor, ctx.Err())
	case <-time.After(pollInterval):
		return nil
	}
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, cond := range conds {
		cond, _ := cond.(map[string]any)
		if cond["type"] == "Established" && cond["status"] == "True" {
			return true
		}
	}
	return false
}

// readObjects decodes the YAML documents of file, skipping empty ones.
func readObjects(file string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "{}" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		objs = append(objs, obj)
	}
}

// Kubectl runs kubectl --kubeconfig c.Kubeconfig args... and returns its
// standard output; it fails the test with both outputs when kubectl fails.
// kubectl keeps its discovery cache in c.Dir, not in ~/.kube.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.kubectl(nil, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Apply applies the objects of yaml (one or more documents) with kubectl
// apply --server-side --force-conflicts, failing the test on error.
func (c *Cluster) Apply(t testing.TB, yaml string) {
	t.Helper()
	if _, err := c.kubectl(strings.NewReader(yaml), "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n--- applied ---\n%s", err, yaml)
	}
}

func (c *Cluster) kubectl(stdin io.Reader, args ...string) (string, error) {
	bin := kubectlBin
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("kubectl"); err != nil {
			return "", fmt.Errorf("kubectl not found (%s, PATH)", kubectlBin)
		}
	}
	full := append([]string{"--kubeconfig", c.Kubeconfig, "--cache-dir", filepath.Join(c.Dir, "kubectl-cache")}, args...)
	cmd := exec.Command(bin, full...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w\n--- stderr ---\n%s--- stdout ---\n%s", err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// StopAPIServer kills kube-apiserver (as a crash would; etcd and the data
// stay), for tests of what happens while the API server is away. It fails
// the test when kube-apiserver is not running.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	for i, p := range c.procs {
		if p.name == "kube-apiserver" {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			return
		}
	}
	t.Fatal("StopAPIServer: kube-apiserver is not running")
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, with the
// same flags, port and certificate, and waits until it is ready and its
// discovery lists the Gateway API kinds again (at most a minute).
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	for _, p := range c.procs {
		if p.name == "kube-apiserver" {
			t.Fatal("StartAPIServer: kube-apiserver is running")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	err := c.run(c.Dir, "kube-apiserver", c.apiserverBin, c.apiserverArgs...)
	if err == nil {
		err = c.waitReady(ctx, c.Config)
	}
	if err == nil {
		var dc *discovery.DiscoveryClient
		if dc, err = discovery.NewDiscoveryClientForConfig(c.Config); err == nil {
			err = c.waitDiscovery(ctx, dc)
		}
	}
	if err != nil {
		t.Fatalf("StartAPIServer: %v%s", err, c.logTails())
	}
	t.Logf("kubetest: kube-apiserver back in %s", since(t0))
}

// process is one running binary, logging to Dir/<name>.log.
type process struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit status, once done is closed
}

// run starts bin; it dies with the test binary (SIGKILL on parent death),
// so a test killed by its timeout leaves nothing behind.
func (c *Cluster) run(dir, name, bin string, args ...string) error {
	p := &process{name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	c.procs = append(c.procs, p)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

// exited returns an error naming the first process that is no longer
// running.
func (c *Cluster) exited() error {
	for _, p := range c.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		default:
		}
	}
	return nil
}

// stop kills the processes, kube-apiserver first, and waits for them. The
// state is thrown away, so there is no graceful shutdown to wait for.
func (c *Cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	c.procs = nil
}

// logTails returns the last lines of each process's log, for errors.
func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, p := range c.procs {
		data, err := os.ReadFile(p.log)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 25 {
			lines = lines[len(lines)-25:]
		}
		fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", p.log, strings.Join(lines, "\n"))
	}
	return b.String()
}
