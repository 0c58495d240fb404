package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Pods whose containers run programs of this checkout (hagate's data
// plane: HAProxy and the hagate agent, as hagate controller's Deployments
// describe them) are run as those programs, container after container, in
// the Pod's network namespace: the Deployment spec hagate writes is what
// runs. Programs maps a container command (the image's path) to the local
// executable.

// API is how Pods reach the API server: through a forwarder on their
// host's gateway address (the API server listens on loopback, which a
// network namespace does not share), with a token of their
// ServiceAccount.
type API struct {
	// Host is the API server's host:port (loopback).
	Host string
	// CAData verifies its certificate; ServerName is a name the
	// certificate holds (it is made for localhost).
	CAData     []byte
	ServerName string
}

// program is one running container.
type program struct {
	name string
	cmd  *exec.Cmd
}

// volumeDirs writes the Pod's volumes under dir (Secret and ConfigMap
// contents, empty folders for emptyDir) and returns volume name -> folder.
func (n *Node) volumeDirs(ctx context.Context, p *corev1.Pod, dir string) (map[string]string, error) {
	vols, err := n.writeVolumeData(ctx, p, dir)
	if err != nil {
		return nil, err
	}
	for _, v := range p.Spec.Volumes {
		if v.EmptyDir == nil {
			continue
		}
		d := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		vols[v.Name] = d
	}
	return vols, nil
}

// containerMounts maps a container's mount paths to the Pod's folders.
func containerMounts(c *corev1.Container, vols map[string]string) map[string]string {
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		if d, ok := vols[m.Name]; ok {
			mounts[filepath.Clean(m.MountPath)] = d
		}
	}
	return mounts
}

// rewritePaths points the paths under a mount path, anywhere in s, to the
// Pod's own folder for that volume: Pods share this machine's filesystem.
// One pass: a rewritten path is not rewritten again (a volume mounted at
// /tmp would otherwise catch the others' folders).
func rewritePaths(s string, mounts map[string]string) string {
	mps := make([]string, 0, len(mounts))
	for mp := range mounts {
		mps = append(mps, mp)
	}
	// Longest first: the most specific mount wins.
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	const before, after = " \t\n=,'\"", " \t\n,'\"/"
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := false
		if i == 0 || strings.IndexByte(before, s[i-1]) >= 0 {
			for _, mp := range mps {
				end := i + len(mp)
				if strings.HasPrefix(s[i:], mp) && (end == len(s) || strings.IndexByte(after, s[end]) >= 0) {
					b.WriteString(mounts[mp])
					i, matched = end, true
					break
				}
			}
		}
		if !matched {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// isProgramPod reports whether the Pod's containers all run programs of
// this checkout.
func (n *Node) isProgramPod(p *corev1.Pod) bool {
	if len(n.Programs) == 0 || len(p.Spec.Containers) == 0 {
		return false
	}
	for _, c := range p.Spec.Containers {
		if len(c.Command) == 0 || n.Programs[c.Command[0]] == "" {
			return false
		}
	}
	return true
}

// startPrograms starts the Pod's containers in order, each after the one
// before's postStart hook has returned, in the Pod's network namespace,
// with the Pod's environment, volumes and a kubeconfig of its
// ServiceAccount (KUBECONFIG). A container that exits is started again
// (restartPolicy Always) until the Pod is stopped.
func (n *Node) startPrograms(ctx context.Context, p *corev1.Pod, pr *pod, dir string) error {
	vdir := dir
	if n.VolumeDir != "" {
		vdir = filepath.Join(n.VolumeDir, string(p.UID)[:8])
	}
	vols, err := n.volumeDirs(ctx, p, vdir)
	if err != nil {
		return err
	}
	kubeconfig, err := n.kubeconfig(ctx, p, pr.host, dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	logf, err := os.Create(pr.log)
	if err != nil {
		return err
	}
	pr.stop = make(chan struct{})
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		mounts := containerMounts(c, vols)
		env, err := n.env(ctx, p, c, pr.host.IP(), mounts)
		if err != nil {
			return err
		}
		env = append(env, "KUBECONFIG="+kubeconfig)
		env = append(env, n.ProgramEnv...)
		argv := []string{"netns", "exec", pr.host.NetnsName(), n.Programs[c.Command[0]]}
		for _, a := range append(append([]string(nil), c.Command[1:]...), c.Args...) {
			argv = append(argv, rewritePaths(a, mounts))
		}
		prog := &program{name: c.Name}
		out := &prefixWriter{w: logf, prefix: c.Name + ": "}
		start := func() error {
			cmd := exec.Command("ip", argv...)
			cmd.Env = env
			cmd.Stdout, cmd.Stderr = out, out
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				return err
			}
			prog.cmd = cmd
			return nil
		}
		if err := start(); err != nil {
			return fmt.Errorf("container %s: %w", c.Name, err)
		}
		pr.programs = append(pr.programs, prog)
		go func() {
			for {
				_ = prog.cmd.Wait()
				select {
				case <-pr.stop:
					return
				case <-time.After(time.Second):
				}
				fmt.Fprintf(out, "exited; started again\n")
				if err := start(); err != nil {
					fmt.Fprintf(out, "cannot start again: %v\n", err)
					return
				}
			}
		}()
		if h := c.Lifecycle; h != nil && h.PostStart != nil && h.PostStart.Exec != nil {
			hook := []string{"netns", "exec", pr.host.NetnsName()}
			for _, a := range h.PostStart.Exec.Command {
				hook = append(hook, rewritePaths(a, mounts))
			}
			hctx, cancel := context.WithTimeout(ctx, time.Minute)
			b, err := exec.CommandContext(hctx, "ip", hook...).CombinedOutput()
			cancel()
			if err != nil {
				return fmt.Errorf("container %s: postStart hook: %v: %s", c.Name, err, b)
			}
		}
	}
	return nil
}

// stopPrograms kills the Pod's containers.
func (pr *pod) stopPrograms() {
	if pr.stop == nil {
		return
	}
	select {
	case <-pr.stop:
	default:
		close(pr.stop)
	}
	for _, prog := range pr.programs {
		if prog.cmd != nil && prog.cmd.Process != nil {
			_ = syscall.Kill(-prog.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

// kubeconfig writes a kubeconfig for the Pod's ServiceAccount: a token
// from the TokenRequest API, the API server through the forwarder on the
// host's gateway address.
func (n *Node) kubeconfig(ctx context.Context, p *corev1.Pod, h Host, dir string) (string, error) {
	if n.API == nil {
		return "", fmt.Errorf("no API server for Pods")
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(24 * 3600))}}
	acct := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: sa}}
	if err := n.C.SubResource("token").Create(ctx, acct, tr); err != nil {
		return "", fmt.Errorf("token of ServiceAccount %s/%s: %w", p.Namespace, sa, err)
	}
	addr, err := n.proxy.addr(h.Gateway(), n.API.Host)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: "https://" + addr, CertificateAuthorityData: n.API.CAData, TLSServerName: n.API.ServerName}
	cfg.AuthInfos["pod"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["pod"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "pod", Namespace: p.Namespace}
	cfg.CurrentContext = "pod"
	path := filepath.Join(dir, "kubeconfig")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return path, clientcmd.WriteToFile(*cfg, path)
}

// probeReady runs the HTTP readiness probes of a Pod's containers: nil
// once every one answers 2xx (a container without a probe is ready once
// started).
func probeReady(p *corev1.Pod, ip string) error {
	for _, c := range p.Spec.Containers {
		rp := c.ReadinessProbe
		if rp == nil || rp.HTTPGet == nil {
			continue
		}
		port := rp.HTTPGet.Port.IntValue()
		if port == 0 {
			for _, cp := range c.Ports {
				if cp.Name == rp.HTTPGet.Port.StrVal {
					port = int(cp.ContainerPort)
				}
			}
		}
		cl := &http.Client{Timeout: 2 * time.Second}
		resp, err := cl.Get("http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + rp.HTTPGet.Path)
		if err != nil {
			return fmt.Errorf("container %s: readiness probe: %w", c.Name, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("container %s: readiness probe: %d %s", c.Name, resp.StatusCode, strings.TrimSpace(string(b)))
		}
	}
	return nil
}

// prefixWriter prefixes each write with the container's name (the
// containers of a Pod share one log).
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

// apiProxy forwards TCP connections from a host's gateway address to the
// API server, one listener per address.
type apiProxy struct {
	mu  sync.Mutex
	lns map[string]net.Listener
}

// addr returns the forwarder's address on gw, starting it if needed.
func (x *apiProxy) addr(gw, target string) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if ln, ok := x.lns[gw]; ok {
		return ln.Addr().String(), nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		return "", fmt.Errorf("API forwarder on %s: %w", gw, err)
	}
	if x.lns == nil {
		x.lns = map[string]net.Listener{}
	}
	x.lns[gw] = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return ln.Addr().String(), nil
}

func (x *apiProxy) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, ln := range x.lns {
		ln.Close()
	}
	x.lns = nil
}
