// Package harness stands in for the parts of a Kubernetes cluster the
// Gateway API conformance suite needs and this machine lacks: a kubelet
// and the Deployment, EndpointSlice and ServiceAccount controllers (Node),
// and a provisioner that runs one hagate, with its own HAProxy on its own
// loopback address, per Gateway of hagate's class (Provisioner).
//
// Both poll the API server (a few objects; a poll is a few milliseconds)
// rather than watch: what they do is what the controllers they replace do,
// not how.
package harness

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Host is where a Pod runs: a network namespace with an address of its own
// that this process reaches (netns.Host satisfies it).
type Host interface {
	// NetnsName is the namespace's name for `ip netns exec`.
	NetnsName() string
	// IP is the Pod IP.
	IP() string
	// Gateway is this namespace's address on the host's side of the link
	// (the Pod's default route).
	Gateway() string
}

// EchoImage marks the images Node runs as echo-basic; a Pod of any other
// image is reported Running and Ready with an address but serves nothing
// (only the coredns Pod of the base manifests, used by UDPRoute tests).
const EchoImage = "gateway-api/echo-basic"

// NodeName is the node every Pod is bound to. Its Node object exists only
// when Node serves the kubelet's log endpoint (KubeletCert, kubelet.go).
const NodeName = "hagate-conformance-node"

const (
	managedBy    = "hagate-conformance-node"
	sliceSuffix  = "-hagate-node"
	pollInterval = 250 * time.Millisecond
	readyTimeout = 10 * time.Second
	defaultHTTP  = "3000"
	killWait     = 5 * time.Second
)

// Node runs the Pods of Deployments as echo-basic processes, one per Host,
// sets their status as a kubelet would, keeps Deployment status and
// EndpointSlices of Services with selectors up to date, creates each
// namespace's default ServiceAccount and empties and finalizes deleted
// namespaces.
type Node struct {
	C client.Client
	// Config reaches the same API server (for the namespace controller's
	// discovery and dynamic client).
	Config *rest.Config
	// EchoBasic is the echo-basic binary (built from the conformance
	// module).
	EchoBasic string
	// Dir holds each Pod's log (and its volumes unless VolumeDir is set).
	Dir string
	// VolumeDir, when set, holds the Pods' volumes: a short path, since
	// the UNIX sockets programs create there have a length limit.
	VolumeDir string
	// Hosts are the Hosts Pods may take; a deleted Pod's Host is reused.
	Hosts []Host
	// Programs maps container commands to executables of this checkout:
	// Pods all of whose containers run them are run (see programs.go).
	Programs map[string]string
	// ProgramEnv is added to the environment of every program (the
	// HAProxy to run: HAPROXY_BIN, and PATH for the agent's checks).
	ProgramEnv []string
	// API is how those Pods reach the API server.
	API *API
	// LoadBalancerPool holds the addresses the load balancer stand-in
	// gives Services that ask for them (see loadbalancer.go).
	LoadBalancerPool netip.Prefix
	// KubeletCert and KubeletKey, when set, are the certificate and key
	// the API server trusts kubelets with: Node then serves the echo-basic
	// Pods' logs as a kubelet does (kubelet.go).
	KubeletCert, KubeletKey string
	Log                     logr.Logger

	proxy apiProxy

	mu    sync.Mutex
	pods  map[types.UID]*pod
	free  []Host
	notes map[string]bool // messages already logged once
}

type pod struct {
	key  types.NamespacedName
	host Host
	cmd  *exec.Cmd
	done chan struct{}
	// ready is set once the Pod's status says Ready.
	ready bool
	log   string
	// programs are the containers of a program Pod; stop ends them.
	programs []*program
	stop     chan struct{}
}

// Run polls until ctx ends, then stops every Pod process.
func (n *Node) Run(ctx context.Context) {
	n.mu.Lock()
	n.pods = map[types.UID]*pod{}
	n.free = append([]Host(nil), n.Hosts...)
	n.notes = map[string]bool{}
	n.mu.Unlock()
	nss, err := newNamespaces(n.Config)
	if err != nil {
		n.Log.Error(err, "namespace controller not started")
	}
	defer n.stopAll()
	defer n.proxy.close()
	if n.KubeletCert != "" {
		if err := n.startKubelet(ctx); err != nil {
			n.Log.Error(err, "kubelet log endpoint not started: Pod logs cannot be read")
		}
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		for _, step := range []struct {
			name string
			fn   func(context.Context) error
		}{
			{"serviceaccounts", n.syncServiceAccounts},
			{"deployments", n.syncDeployments},
			{"pods", n.syncPods},
			{"endpointslices", n.syncEndpointSlices},
			{"loadbalancers", n.syncLoadBalancers},
			{"ownedbygateways", n.collectGarbage},
			{"namespaces", func(ctx context.Context) error {
				if nss == nil {
					return nil
				}
				return nss.sync(ctx)
			}},
		} {
			if err := step.fn(ctx); err != nil && ctx.Err() == nil {
				n.once(step.name+err.Error(), "sync failed", "step", step.name, "error", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// once logs a message the first time it is seen.
func (n *Node) once(key, msg string, kv ...any) {
	n.mu.Lock()
	seen := n.notes[key]
	n.notes[key] = true
	n.mu.Unlock()
	if !seen {
		n.Log.Info(msg, kv...)
	}
}

// syncServiceAccounts creates the "default" ServiceAccount of every
// namespace (the ServiceAccount admission plugin refuses Pods without it).
func (n *Node) syncServiceAccounts(ctx context.Context) error {
	var nss corev1.NamespaceList
	if err := n.C.List(ctx, &nss); err != nil {
		return err
	}
	var sas corev1.ServiceAccountList
	if err := n.C.List(ctx, &sas); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, sa := range sas.Items {
		if sa.Name == "default" {
			have[sa.Namespace] = true
		}
	}
	for _, ns := range nss.Items {
		if have[ns.Name] || ns.DeletionTimestamp != nil {
			continue
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "default"}}
		if err := n.C.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
			return err
		}
	}
	return nil
}

// syncDeployments creates and deletes Pods to match each Deployment's
// replicas (Pods owned directly: no ReplicaSet), deletes Pods whose
// Deployment is gone, and writes Deployment status.
func (n *Node) syncDeployments(ctx context.Context) error {
	var deps appsv1.DeploymentList
	if err := n.C.List(ctx, &deps); err != nil {
		return err
	}
	var pods corev1.PodList
	if err := n.C.List(ctx, &pods); err != nil {
		return err
	}
	owned := map[types.UID][]*corev1.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "Deployment" {
			continue
		}
		owned[ref.UID] = append(owned[ref.UID], p)
	}
	live := map[types.UID]bool{}
	for i := range deps.Items {
		d := &deps.Items[i]
		live[d.UID] = true
		if d.DeletionTimestamp != nil {
			continue
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		// Pods of the current template, and older ones (a rolling update:
		// the old go once the new are ready).
		hash := templateHash(d)
		var alive, old []*corev1.Pod
		for _, p := range owned[d.UID] {
			switch {
			case p.DeletionTimestamp != nil:
			case p.Labels["pod-template-hash"] == hash:
				alive = append(alive, p)
			default:
				old = append(old, p)
			}
		}
		sort.Slice(alive, func(i, j int) bool { return alive[i].Name < alive[j].Name })
		for int32(len(alive)) > want {
			p := alive[len(alive)-1]
			alive = alive[:len(alive)-1]
			if err := client.IgnoreNotFound(n.C.Delete(ctx, p)); err != nil {
				return err
			}
		}
		for int32(len(alive)) < want {
			p, err := n.createPod(ctx, d)
			if err != nil {
				return err
			}
			alive = append(alive, p)
		}
		var ready int32
		for _, p := range alive {
			if podReady(p) {
				ready++
			}
		}
		if ready >= want {
			for _, p := range old {
				if err := client.IgnoreNotFound(n.C.Delete(ctx, p)); err != nil {
					return err
				}
			}
		}
		st := appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation,
			Replicas:           int32(len(alive)),
			UpdatedReplicas:    int32(len(alive)),
			ReadyReplicas:      ready,
			AvailableReplicas:  ready,
			Conditions:         d.Status.Conditions,
		}
		if st.UnavailableReplicas = st.Replicas - ready; st.UnavailableReplicas < 0 {
			st.UnavailableReplicas = 0
		}
		avail := corev1.ConditionFalse
		if ready >= want {
			avail = corev1.ConditionTrue
		}
		st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentAvailable, avail)
		st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentProgressing, corev1.ConditionTrue)
		if !reflect.DeepEqual(st, d.Status) {
			d.Status = st
			if err := n.C.Status().Update(ctx, d); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	// Garbage collection: Pods whose Deployment is gone.
	for uid, ps := range owned {
		if live[uid] {
			continue
		}
		for _, p := range ps {
			if err := client.IgnoreNotFound(n.C.Delete(ctx, p)); err != nil {
				return err
			}
		}
	}
	return nil
}

func setDeploymentCondition(cs []appsv1.DeploymentCondition, typ appsv1.DeploymentConditionType, st corev1.ConditionStatus) []appsv1.DeploymentCondition {
	for i := range cs {
		if cs[i].Type == typ {
			if cs[i].Status != st {
				cs[i].Status = st
				cs[i].LastTransitionTime = metav1.Now()
			}
			return cs
		}
	}
	return append(cs, appsv1.DeploymentCondition{Type: typ, Status: st, Reason: "HagateNode", LastTransitionTime: metav1.Now(), LastUpdateTime: metav1.Now()})
}

func (n *Node) createPod(ctx context.Context, d *appsv1.Deployment) (*corev1.Pod, error) {
	// Named as a ReplicaSet's Pods are, <deployment>-<template hash>-<5>:
	// the suite finds a Pod's backend by cutting the last two parts.
	hash := templateHash(d)
	labels := map[string]string{"pod-template-hash": hash}
	for k, v := range d.Spec.Template.Labels {
		labels[k] = v
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   d.Namespace,
			Name:        d.Name + "-" + hash + "-" + randomName(5),
			Labels:      labels,
			Annotations: d.Spec.Template.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d,
				appsv1.SchemeGroupVersion.WithKind("Deployment"))},
		},
		Spec: *d.Spec.Template.Spec.DeepCopy(),
	}
	p.Spec.NodeName = NodeName
	if err := n.C.Create(ctx, p); err != nil {
		return nil, fmt.Errorf("create a Pod of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return p, nil
}

// nameChars are the characters of generated names (no vowels, as the
// API server's generateName uses).
const nameChars = "bcdfghjklmnpqrstvwxz2456789"

func randomName(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = nameChars[int(b[i])%len(nameChars)]
	}
	return string(b)
}

// templateHash is a 10-character name part for a Deployment's Pod
// template: it changes when the template does.
func templateHash(d *appsv1.Deployment) string {
	tmpl, _ := json.Marshal(d.Spec.Template)
	sum := sha256.Sum256(append([]byte(d.UID), tmpl...))
	b := make([]byte, 10)
	for i := range b {
		b[i] = nameChars[int(sum[i])%len(nameChars)]
	}
	return string(b)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// syncPods starts a process for each new Pod, stops those of deleted
// Pods, and writes the status of Pods that became ready.
func (n *Node) syncPods(ctx context.Context) error {
	var pods corev1.PodList
	if err := n.C.List(ctx, &pods); err != nil {
		return err
	}
	seen := map[types.UID]bool{}
	var deleting []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			// A bound Pod stays until its kubelet confirms: stop it below,
			// then delete it for good.
			deleting = append(deleting, p)
			continue
		}
		seen[p.UID] = true
		n.mu.Lock()
		pr := n.pods[p.UID]
		n.mu.Unlock()
		if pr == nil {
			var err error
			if pr, err = n.start(ctx, p); err != nil {
				n.once(string(p.UID)+err.Error(), "pod not started yet", "pod", p.Namespace+"/"+p.Name, "reason", err.Error())
				continue
			}
		}
		if !pr.ready {
			if err := n.markReady(ctx, p, pr); err != nil {
				n.once(string(p.UID)+"ready"+err.Error(), "pod not ready yet", "pod", p.Namespace+"/"+p.Name, "reason", err.Error())
			}
		}
	}
	for _, pr := range takeUnseen(&n.mu, n.pods, seen) {
		n.stop(pr)
	}
	for _, p := range deleting {
		if err := client.IgnoreNotFound(n.C.Delete(ctx, p, client.GracePeriodSeconds(0))); err != nil {
			return err
		}
	}
	return nil
}

// start gives p a Host, writes its volumes and starts its process.
func (n *Node) start(ctx context.Context, p *corev1.Pod) (*pod, error) {
	if len(p.Spec.Containers) == 0 {
		return nil, errors.New("no container")
	}
	dir := filepath.Join(n.Dir, p.Namespace+"_"+p.Name+"_"+string(p.UID)[:8])
	n.mu.Lock()
	if len(n.free) == 0 {
		n.mu.Unlock()
		return nil, fmt.Errorf("all %d hosts are taken", len(n.Hosts))
	}
	h := n.free[0]
	n.free = n.free[1:]
	n.mu.Unlock()

	pr := &pod{key: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, host: h, log: filepath.Join(dir, "log")}
	c := p.Spec.Containers[0]
	switch {
	case n.isProgramPod(p):
		if err := n.startPrograms(ctx, p, pr, dir); err != nil {
			pr.stopPrograms()
			n.release(h)
			return nil, err
		}
	case strings.Contains(c.Image, EchoImage):
		vols, err := n.writeVolumeData(ctx, p, dir)
		if err != nil {
			n.release(h)
			return nil, err
		}
		env, err := n.env(ctx, p, &c, h.IP(), containerMounts(&c, vols))
		if err != nil {
			n.release(h)
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			n.release(h)
			return nil, err
		}
		logf, err := os.Create(pr.log)
		if err != nil {
			n.release(h)
			return nil, err
		}
		cmd := exec.Command("ip", "netns", "exec", h.NetnsName(), n.EchoBasic)
		cmd.Env = env
		// Each line with its time, as a container runtime keeps logs
		// (the kubelet endpoint filters on it).
		stamped := newStampWriter(logf)
		cmd.Stdout, cmd.Stderr = stamped, stamped
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			n.release(h)
			return nil, err
		}
		pr.cmd = cmd
		pr.done = make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(pr.done) }()
	default:
		n.once("image"+c.Image, "image not run: the Pod is reported ready but serves nothing", "image", c.Image, "pod", pr.key.String())
	}
	n.mu.Lock()
	n.pods[p.UID] = pr
	n.mu.Unlock()
	n.Log.V(1).Info("pod started", "pod", pr.key.String(), "ip", h.IP(), "netns", h.NetnsName())
	return pr, nil
}

// takeUnseen removes from m (guarded by mu) the entries whose key is not
// in seen, and returns them.
func takeUnseen[V any](mu *sync.Mutex, m map[types.UID]V, seen map[types.UID]bool) []V {
	mu.Lock()
	defer mu.Unlock()
	var gone []V
	for k, v := range m {
		if !seen[k] {
			gone = append(gone, v)
			delete(m, k)
		}
	}
	return gone
}

func (n *Node) release(h Host) {
	n.mu.Lock()
	n.free = append(n.free, h)
	n.mu.Unlock()
}

// stop kills a Pod's process group and frees its Host once it is gone.
func (n *Node) stop(pr *pod) {
	pr.stopPrograms()
	if pr.cmd != nil {
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-pr.done:
		case <-time.After(killWait):
			n.Log.Info("pod process still running after SIGKILL; its host is not reused", "pod", pr.key.String())
			return
		}
	}
	n.release(pr.host)
	n.Log.V(1).Info("pod stopped", "pod", pr.key.String())
}

func (n *Node) stopAll() {
	n.mu.Lock()
	all := n.pods
	n.pods = map[types.UID]*pod{}
	n.mu.Unlock()
	for _, pr := range all {
		n.stop(pr)
	}
}

// writeVolumeData writes the Pod's Secret and ConfigMap volumes under dir
// and returns volume name -> folder. A missing Secret or ConfigMap is an
// error (the kubelet waits too).
func (n *Node) writeVolumeData(ctx context.Context, p *corev1.Pod, dir string) (map[string]string, error) {
	vols := map[string]string{}
	for _, v := range p.Spec.Volumes {
		var data map[string][]byte
		var items []corev1.KeyToPath
		switch {
		case v.Secret != nil:
			var s corev1.Secret
			if err := n.C.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: v.Secret.SecretName}, &s); err != nil {
				return nil, fmt.Errorf("volume %s: Secret %s: %w", v.Name, v.Secret.SecretName, err)
			}
			data, items = s.Data, v.Secret.Items
		case v.ConfigMap != nil:
			var cm corev1.ConfigMap
			if err := n.C.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: v.ConfigMap.Name}, &cm); err != nil {
				return nil, fmt.Errorf("volume %s: ConfigMap %s: %w", v.Name, v.ConfigMap.Name, err)
			}
			data = map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
			for k, b := range cm.BinaryData {
				data[k] = b
			}
			items = v.ConfigMap.Items
		default:
			continue
		}
		vdir := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(vdir, 0o700); err != nil {
			return nil, err
		}
		if len(items) == 0 {
			for k := range data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			b, ok := data[it.Key]
			if !ok {
				return nil, fmt.Errorf("volume %s: no key %q", v.Name, it.Key)
			}
			path := filepath.Join(vdir, filepath.Clean("/"+it.Path))
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				return nil, err
			}
		}
		vols[v.Name] = vdir
	}
	return vols, nil
}

// env is the container's environment. Paths under a volume's mountPath
// are rewritten to the Pod's own folder for that volume: Pods share this
// machine's filesystem.
func (n *Node) env(ctx context.Context, p *corev1.Pod, c *corev1.Container, ip string, mounts map[string]string) ([]string, error) {
	out := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, e := range c.Env {
		v := e.Value
		if f := e.ValueFrom; f != nil {
			switch {
			case f.FieldRef != nil:
				switch f.FieldRef.FieldPath {
				case "metadata.name":
					v = p.Name
				case "metadata.namespace":
					v = p.Namespace
				case "status.podIP":
					v = ip
				case "spec.serviceAccountName":
					v = p.Spec.ServiceAccountName
				default:
					return nil, fmt.Errorf("env %s: fieldPath %s is not simulated", e.Name, f.FieldRef.FieldPath)
				}
			case f.SecretKeyRef != nil:
				var s corev1.Secret
				if err := n.C.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: f.SecretKeyRef.Name}, &s); err != nil {
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				v = string(s.Data[f.SecretKeyRef.Key])
			case f.ConfigMapKeyRef != nil:
				var cm corev1.ConfigMap
				if err := n.C.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: f.ConfigMapKeyRef.Name}, &cm); err != nil {
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				v = cm.Data[f.ConfigMapKeyRef.Key]
			}
		}
		for mp, d := range mounts {
			if v == mp || strings.HasPrefix(v, mp+"/") {
				v = d + strings.TrimPrefix(v, mp)
			}
		}
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}

// markReady writes Running/Ready status once the Pod's process answers on
// its HTTP port (3000, or HTTPS_PORT/8443 for TLS-only servers).
func (n *Node) markReady(ctx context.Context, p *corev1.Pod, pr *pod) error {
	if pr.programs != nil {
		if err := probeReady(p, pr.host.IP()); err != nil {
			return err
		}
	}
	if pr.cmd != nil {
		select {
		case <-pr.done:
			b, _ := os.ReadFile(pr.log)
			return fmt.Errorf("process exited: %s", lastLines(string(b), 5))
		default:
		}
		port := defaultHTTP
		for _, e := range p.Spec.Containers[0].Env {
			if e.Name == "HTTP_PORT" && e.Value != "" {
				port = e.Value
			}
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(pr.host.IP(), port), time.Second)
		if err != nil {
			return fmt.Errorf("not answering on port %s yet: %w", port, err)
		}
		conn.Close()
	}
	now := metav1.Now()
	cur := p.DeepCopy()
	ip := pr.host.IP()
	cur.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    ip,
		HostIPs:   []corev1.HostIP{{IP: ip}},
		PodIP:     ip,
		PodIPs:    []corev1.PodIP{{IP: ip}},
		StartTime: &now,
		QOSClass:  p.Status.QOSClass, // set by the API server, immutable
	}
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		cur.Status.Conditions = append(cur.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	for _, c := range p.Spec.Containers {
		cur.Status.ContainerStatuses = append(cur.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: new(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if err := n.C.Status().Update(ctx, cur); err != nil {
		return err
	}
	pr.ready = true
	n.Log.V(1).Info("pod ready", "pod", pr.key.String(), "ip", ip)
	return nil
}

func lastLines(s string, k int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > k {
		lines = lines[len(lines)-k:]
	}
	return strings.Join(lines, " | ")
}

// syncEndpointSlices keeps one EndpointSlice per Service with a selector,
// listing its ready Pods, and deletes ours whose Service is gone.
func (n *Node) syncEndpointSlices(ctx context.Context) error {
	var svcs corev1.ServiceList
	if err := n.C.List(ctx, &svcs); err != nil {
		return err
	}
	var pods corev1.PodList
	if err := n.C.List(ctx, &pods); err != nil {
		return err
	}
	var slices discoveryv1.EndpointSliceList
	if err := n.C.List(ctx, &slices, client.MatchingLabels{discoveryv1.LabelManagedBy: managedBy}); err != nil {
		return err
	}
	have := map[types.NamespacedName]*discoveryv1.EndpointSlice{}
	for i := range slices.Items {
		s := &slices.Items[i]
		have[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
	}
	wanted := map[types.NamespacedName]bool{}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if len(svc.Spec.Selector) == 0 || svc.DeletionTimestamp != nil {
			continue
		}
		key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name + sliceSuffix}
		wanted[key] = true
		want := endpointSlice(svc, pods.Items)
		want.Namespace, want.Name = key.Namespace, key.Name
		cur := have[key]
		if cur == nil {
			if err := n.C.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
			continue
		}
		if reflect.DeepEqual(cur.Endpoints, want.Endpoints) && reflect.DeepEqual(cur.Ports, want.Ports) {
			continue
		}
		cur.Endpoints, cur.Ports = want.Endpoints, want.Ports
		if err := n.C.Update(ctx, cur); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return err
		}
	}
	for key, s := range have {
		if !wanted[key] {
			if err := client.IgnoreNotFound(n.C.Delete(ctx, s)); err != nil {
				return err
			}
		}
	}
	return nil
}

// endpointSlice lists the ready Pods svc selects, with the Service's ports
// resolved to the Pods' target ports.
func endpointSlice(svc *corev1.Service, pods []corev1.Pod) *discoveryv1.EndpointSlice {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   managedBy,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	var selected []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Namespace != svc.Namespace || p.DeletionTimestamp != nil || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		if !podReady(p) || p.Status.PodIP == "" {
			continue
		}
		selected = append(selected, p)
	}
	sort.Slice(selected, func(i, j int) bool { return selected[i].Name < selected[j].Name })
	for _, p := range selected {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: new(true), Serving: new(true), Terminating: new(false)},
			NodeName:   new(p.Spec.NodeName),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		})
	}
	for _, sp := range svc.Spec.Ports {
		port := targetPort(sp, selected)
		ep := discoveryv1.EndpointPort{Name: new(sp.Name), Protocol: new(sp.Protocol), Port: new(port), AppProtocol: sp.AppProtocol}
		s.Ports = append(s.Ports, ep)
	}
	return s
}

// targetPort is the port number a Service port sends to: its targetPort,
// a named container port of the Pods, or the port itself.
func targetPort(sp corev1.ServicePort, pods []*corev1.Pod) int32 {
	switch {
	case sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0:
		return sp.TargetPort.IntVal
	case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
		for _, p := range pods {
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal {
						return cp.ContainerPort
					}
				}
			}
		}
		if v, err := strconv.Atoi(sp.TargetPort.StrVal); err == nil {
			return int32(v)
		}
	}
	return sp.Port
}
