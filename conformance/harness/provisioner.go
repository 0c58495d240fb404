package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Provisioner runs one `hagate run --gateway NS/NAME` per Gateway of its
// GatewayClass, each with its own HAProxy bound on its own loopback
// address (127.0.<n>.<m>), which it writes into the Gateway's status, as a
// per-Gateway Deployment behind its own LoadBalancer address would. The
// conformance suite gives several Gateways the same ports and reaches each
// through its status address, so Gateways cannot share one HAProxy here.
//
// One more hagate serves no Gateway at all (--gateway names one that does
// not exist): it accepts the GatewayClass before any Gateway exists.
type Provisioner struct {
	C client.Client
	// Hagate is the hagate binary; Kubeconfig is passed to it.
	Hagate     string
	Kubeconfig string
	// GatewayClass is the class whose Gateways get an agent.
	GatewayClass string
	// Dir holds each agent's log; StateDir its state folder (short: the
	// HAProxy sockets in it must fit in 108 bytes).
	Dir      string
	StateDir string
	// Args are added to every agent's command line (e.g. -v 1).
	Args []string
	Log  logr.Logger

	mu     sync.Mutex
	agents map[types.UID]*agent
	next   int
}

type agent struct {
	gw   types.NamespacedName
	addr string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// ClassAgentGateway is the Gateway the class-only agent is told to serve;
// it never exists.
const ClassAgentGateway = "hagate-conformance-harness/gatewayclass-only"

// Run polls until ctx ends, then stops every agent.
func (p *Provisioner) Run(ctx context.Context) error {
	p.mu.Lock()
	p.agents = map[types.UID]*agent{}
	p.mu.Unlock()
	defer p.stopAll()
	class, err := p.start(ClassAgentGateway, "127.0.9.1", "gatewayclass")
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.agents["gatewayclass"] = class
	p.mu.Unlock()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if err := p.sync(ctx); err != nil && ctx.Err() == nil {
			p.Log.Info("provisioner sync failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *Provisioner) sync(ctx context.Context) error {
	var gws gwapiv1.GatewayList
	if err := p.C.List(ctx, &gws); err != nil {
		return err
	}
	seen := map[types.UID]bool{"gatewayclass": true}
	for i := range gws.Items {
		g := &gws.Items[i]
		if string(g.Spec.GatewayClassName) != p.GatewayClass || g.DeletionTimestamp != nil {
			continue
		}
		seen[g.UID] = true
		p.mu.Lock()
		a := p.agents[g.UID]
		p.mu.Unlock()
		if a != nil {
			select {
			case <-a.done:
				p.Log.Info("agent exited; restarting it", "gateway", a.gw.String(), "log", a.log)
			default:
				continue
			}
		}
		p.mu.Lock()
		p.next++
		addr := fmt.Sprintf("127.0.%d.%d", 10+p.next/250, 1+p.next%250)
		p.mu.Unlock()
		a, err := p.start(g.Namespace+"/"+g.Name, addr, string(g.UID))
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.agents[g.UID] = a
		p.mu.Unlock()
	}
	for _, a := range takeUnseen(&p.mu, p.agents, seen) {
		p.stop(a)
	}
	return nil
}

// start runs hagate for one Gateway on addr.
func (p *Provisioner) start(gw, addr, id string) (*agent, error) {
	ns, name, _ := strings.Cut(gw, "/")
	state := filepath.Join(p.StateDir, strings.ReplaceAll(addr, ".", "-"))
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, err
	}
	a := &agent{
		gw: types.NamespacedName{Namespace: ns, Name: name}, addr: addr, done: make(chan struct{}),
		log: filepath.Join(p.Dir, ns+"_"+name+"_"+shortID(id)+".log"),
	}
	logf, err := os.Create(a.log)
	if err != nil {
		return nil, err
	}
	args := append([]string{"run",
		"--kubeconfig", p.Kubeconfig,
		"--gateway", gw,
		"--bind-address", addr,
		"--gateway-address", addr,
		"--state-dir", state,
		"--metrics-bind-address", "",
	}, p.Args...)
	cmd := exec.Command(p.Hagate, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start hagate for %s: %w", gw, err)
	}
	a.cmd = cmd
	go func() { _ = cmd.Wait(); logf.Close(); close(a.done) }()
	p.Log.Info("agent started", "gateway", gw, "address", addr, "log", a.log)
	return a, nil
}

// stop asks an agent to stop (SIGTERM: hagate stops its HAProxy), then
// kills what is left of its process group.
func (p *Provisioner) stop(a *agent) {
	_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(killWait):
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-a.done
	}
	// HAProxy runs in the same process group; make sure it is gone.
	_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	p.Log.Info("agent stopped", "gateway", a.gw.String(), "address", a.addr)
}

func (p *Provisioner) stopAll() {
	p.mu.Lock()
	all := p.agents
	p.agents = map[types.UID]*agent{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, a := range all {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(a) }()
	}
	wg.Wait()
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
