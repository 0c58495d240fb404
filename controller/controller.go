// Package controller is hagate's Kubernetes source: a controller-runtime
// manager watches the Gateway API objects and what they refer to, builds a
// Snapshot from its cache on every change, has the agent render and apply
// it to HAProxy, and writes the statuses back (the leader only, only what
// changed, keeping other controllers' entries).
//
// Secrets and ConfigMaps are watched as metadata only: the data of a Secret
// is read (and kept) only when a Gateway of ours may use it.
//
// It also holds the control plane (RunControlPlane): each Gateway's own data
// plane, and the GatewayClass status. Its subpackages are the other
// sources (files), the loop that renders and applies (agent), the pure
// pipeline (pipeline) and metrics. The API carries no compatibility promise
// before v1.
package controller

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/snapshot"
)

// Options configure the controller.
type Options struct {
	// Config reaches the API server.
	Config *rest.Config
	// ExpiryWarning is how long before a served certificate expires a
	// Warning event says so on its Gateway (or ListenerSet), once a
	// day; 0: never.
	ExpiryWarning time.Duration
	// ControllerName selects our GatewayClasses.
	ControllerName string
	// Gateway, when set, restricts this hagate to one Gateway (the
	// sidecar model); otherwise every Gateway of our classes is served.
	Gateway *types.NamespacedName
	// GatewayAddress is written into Gateway status.addresses (the pod
	// IP, or an address in front).
	GatewayAddress string
	// LeaderElect makes only the elected replica write statuses; every
	// replica still drives its own HAProxy.
	LeaderElect bool
	// LeaderElectionNamespace holds the Lease (default: the in-cluster
	// namespace).
	LeaderElectionNamespace string
	// Agent renders and applies.
	Agent *agent.Agent
	// Log is the structured log.
	Log logr.Logger
	// Resync, if set, renders again at least this often.
	Resync time.Duration
	// Provisioned: this agent serves one Gateway's data plane made by
	// hagate controller, which writes the GatewayClass status; the
	// Gateway's addresses come from the render (its Service).
	Provisioned bool
	// Batch is how long a change waits for the changes that come with it
	// (kubectl apply of many objects) before one render; default 50ms.
	Batch time.Duration
}

// Scheme holds the kinds hagate reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = gwapiv1.Install(s)
	return s
}

// Run runs the controller until ctx is done.
func Run(ctx context.Context, o Options) error {
	if o.ControllerName == "" {
		o.ControllerName = render.DefaultControllerName
	}
	if o.Batch == 0 {
		o.Batch = 50 * time.Millisecond
	}
	if o.Resync == 0 {
		// A replica that becomes leader writes statuses at the latest
		// then, even when nothing changes.
		o.Resync = time.Minute
	}
	ctrl.SetLogger(o.Log.WithName("controller-runtime"))
	mgr, err := ctrl.NewManager(clientConfig(o.Config), manager.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        leaseName(o.Gateway),
		LeaderElectionNamespace: o.LeaderElectionNamespace,
	})
	if err != nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	r := &reconciler{
		o:       o,
		c:       mgr.GetClient(),
		api:     mgr.GetAPIReader(),
		elected: mgr.Elected(),
		events:  mgr.GetEventRecorder("hagate"),
		secrets: map[types.NamespacedName]*cached{},
		cms:     map[types.NamespacedName]*cached{},
	}
	// The API server takes status writes in parallel; one at a time, a
	// thousand routes would take seconds.
	r.status = newStatusWriter(o.Log, statusWriters, r.writeJob)
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error { r.status.run(ctx); return nil })); err != nil {
		return fmt.Errorf("status writer: %w", err)
	}
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: "all"}}}
	})
	falseV := false
	specOnly := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	err = builder.ControllerManagedBy(mgr).
		Named("hagate").
		WithOptions(builderOptions(&falseV)).
		// Status writes (ours included) do not change a Gateway API
		// object's generation: they need no render.
		Watches(&gwapiv1.GatewayClass{}, all, specOnly).
		Watches(&gwapiv1.Gateway{}, all, specOnly).
		Watches(&gwapiv1.ListenerSet{}, all, specOnly).
		Watches(&gwapiv1.HTTPRoute{}, all, specOnly).
		Watches(&gwapiv1.GRPCRoute{}, all, specOnly).
		Watches(&gwapiv1.TLSRoute{}, all, specOnly).
		Watches(&gwapiv1.TCPRoute{}, all, specOnly).
		Watches(&gwapiv1.BackendTLSPolicy{}, all, specOnly).
		Watches(&gwapiv1.ReferenceGrant{}, all, specOnly).
		Watches(&corev1.Service{}, all).
		Watches(&discoveryv1.EndpointSlice{}, all).
		Watches(&corev1.Namespace{}, all).
		Watches(&corev1.Secret{}, all, builder.OnlyMetadata).
		Watches(&corev1.ConfigMap{}, all, builder.OnlyMetadata).
		Complete(r)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return mgr.Start(ctx)
}

// clientConfig lifts client-go's default client-side rate limit (5
// requests per second, bursts of 10) when the configuration sets none:
// 10,000 routes are 10,000 status writes, and the API server protects
// itself (API Priority and Fairness). The status writer bounds how many
// run at once.
func clientConfig(c *rest.Config) *rest.Config {
	c = rest.CopyConfig(c)
	if c.QPS == 0 && c.RateLimiter == nil {
		c.QPS, c.Burst = 500, 1000
	}
	return c
}

// leaseName names the leader election Lease: one per Gateway when this
// hagate serves one Gateway, so that per-Gateway deployments each elect
// their own status writer.
func leaseName(gw *types.NamespacedName) string {
	if gw == nil {
		return "hagate-status-writer"
	}
	sum := sha256.Sum256([]byte(gw.String()))
	return fmt.Sprintf("hagate-status-writer-%x", sum[:6])
}

// cached is the data of a Secret or ConfigMap at one resourceVersion.
type cached struct {
	rv  string
	obj client.Object
}

// reconciler renders everything on every change.
type reconciler struct {
	o       Options
	c       client.Client
	api     client.Reader
	elected <-chan struct{}
	events  events.EventRecorder

	// status writes the statuses renders compute, off the apply path.
	status *statusWriter
	// warned are the expiry events written today (expiryEvents).
	warned    map[string]bool
	warnedDay string

	mu sync.Mutex
	// lastDone is when the last reconcile ended: changes batch from then.
	lastDone time.Time
	// retry spaces the retries of a failed apply.
	retry   agent.Backoff
	secrets map[types.NamespacedName]*cached
	cms     map[types.NamespacedName]*cached
}

// statusWriters is how many status writes run at once.
const statusWriters = 16

// Reconcile builds a Snapshot, renders and applies it, and hands the
// statuses to the status writer.
func (r *reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The first change after a quiet period applies at once; while
	// changes keep coming (kubectl apply of many objects), they settle
	// for Batch after the last render into the next one: the queue holds
	// one key, so every event of the pause is folded in.
	if wait := time.Until(r.lastDone.Add(r.o.Batch)); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return reconcile.Result{}, nil
		}
	}
	defer func() { r.lastDone = time.Now() }()
	log := r.o.Log
	snap, err := r.snapshot(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	var applyErr error
	start := time.Now()
	out, res, err := r.apply(ctx, snap)
	if err != nil {
		applyErr = err
		log.Error(err, "apply failed; HAProxy keeps the last good configuration")
	} else if res != haproxy.ActionNone {
		log.Info("applied", "action", res, "duration", time.Since(start).String())
	}
	if out == nil {
		return reconcile.Result{RequeueAfter: r.retry.Next()}, nil
	}
	if r.leader() {
		jobs := r.statusJobs(snap, out.Status, applyErr)
		r.status.submit(jobs)
		if applyErr == nil {
			r.expiryEvents(snap, out.Dates, time.Now())
		}
		log.V(1).Info("reconciled", "apply", time.Since(start).String(), "statusWrites", len(jobs))
	}
	if applyErr != nil {
		// Retried until HAProxy runs what is wanted, even when nothing
		// changes in the cluster.
		return reconcile.Result{RequeueAfter: r.retry.Next()}, nil
	}
	r.retry.Reset()
	if r.o.Agent.WaitingForPorts() {
		// Listeners wait for ports another process holds: try again soon.
		return reconcile.Result{RequeueAfter: 10 * time.Second}, nil
	}
	return reconcile.Result{RequeueAfter: r.o.Resync}, nil
}

func (r *reconciler) leader() bool {
	if !r.o.LeaderElect {
		return true
	}
	select {
	case <-r.elected:
		return true
	default:
		return false
	}
}

// snapshot lists the objects from the cache, and reads the referenced
// Secrets and ConfigMaps.
func (r *reconciler) snapshot(ctx context.Context) (*snapshot.Snapshot, error) {
	s := &snapshot.Snapshot{Now: time.Now()}
	var gcs gwapiv1.GatewayClassList
	var gws gwapiv1.GatewayList
	var lss gwapiv1.ListenerSetList
	var hrs gwapiv1.HTTPRouteList
	var grs gwapiv1.GRPCRouteList
	var trs gwapiv1.TLSRouteList
	var tcrs gwapiv1.TCPRouteList
	var bps gwapiv1.BackendTLSPolicyList
	var rgs gwapiv1.ReferenceGrantList
	var svcs corev1.ServiceList
	var eps discoveryv1.EndpointSliceList
	var nss corev1.NamespaceList
	// The render does not change what it reads: the lists share the
	// cache's objects rather than copying 10,000 routes per change.
	for _, l := range []client.ObjectList{&gcs, &gws, &lss, &hrs, &grs, &trs, &tcrs, &bps, &rgs, &svcs, &eps, &nss} {
		if err := r.c.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
	}
	s.GatewayClasses = pointers(gcs.Items)
	for _, g := range pointers(gws.Items) {
		if r.o.Gateway != nil && (g.Namespace != r.o.Gateway.Namespace || g.Name != r.o.Gateway.Name) {
			continue
		}
		s.Gateways = append(s.Gateways, g)
	}
	s.ListenerSets = pointers(lss.Items)
	s.HTTPRoutes = pointers(hrs.Items)
	s.GRPCRoutes = pointers(grs.Items)
	s.TLSRoutes = pointers(trs.Items)
	s.TCPRoutes = pointers(tcrs.Items)
	s.BackendTLSPolicies = pointers(bps.Items)
	s.ReferenceGrants = pointers(rgs.Items)
	s.Services = pointers(svcs.Items)
	s.EndpointSlices = pointers(eps.Items)
	s.Namespaces = pointers(nss.Items)
	refs := render.ReferencedObjects(s, render.Options{ControllerName: r.o.ControllerName})
	for _, n := range refs.Secrets {
		o, err := r.read(ctx, n, r.secrets, &corev1.Secret{})
		if err != nil {
			return nil, err
		}
		if o != nil {
			s.Secrets = append(s.Secrets, o.(*corev1.Secret))
		}
	}
	for _, n := range refs.ConfigMaps {
		o, err := r.read(ctx, n, r.cms, &corev1.ConfigMap{})
		if err != nil {
			return nil, err
		}
		if o != nil {
			s.ConfigMaps = append(s.ConfigMaps, o.(*corev1.ConfigMap))
		}
	}
	prune(r.secrets, refs.Secrets)
	prune(r.cms, refs.ConfigMaps)
	return s, nil
}

// pointers returns pointers to the items of a list (the cache's copies).
func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// read returns a referenced Secret or ConfigMap: from memory when the
// metadata cache shows the same resourceVersion, from the API otherwise;
// nil when it does not exist.
func (r *reconciler) read(ctx context.Context, n types.NamespacedName, mem map[types.NamespacedName]*cached, into client.Object) (client.Object, error) {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(gvkOf(into))
	if err := r.c.Get(ctx, n, meta); err != nil {
		if client.IgnoreNotFound(err) == nil {
			delete(mem, n)
			return nil, nil
		}
		return nil, fmt.Errorf("get %s metadata: %w", n, err)
	}
	if c, ok := mem[n]; ok && c.rv == meta.ResourceVersion {
		return c.obj, nil
	}
	if err := r.api.Get(ctx, n, into); err != nil {
		if client.IgnoreNotFound(err) == nil {
			delete(mem, n)
			return nil, nil
		}
		return nil, fmt.Errorf("get %s: %w", n, err)
	}
	mem[n] = &cached{rv: into.GetResourceVersion(), obj: into}
	return into, nil
}

// prune forgets the data of objects no longer referenced.
func prune(mem map[types.NamespacedName]*cached, keep []types.NamespacedName) {
	k := map[types.NamespacedName]bool{}
	for _, n := range keep {
		k[n] = true
	}
	for n := range mem {
		if !k[n] {
			delete(mem, n)
		}
	}
}
