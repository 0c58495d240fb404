package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render"
	"hagate.io/hagate/render/provision"
	"hagate.io/hagate/render/snapshot"
)

// ControlPlaneOptions configure the control plane (hagate controller).
type ControlPlaneOptions struct {
	// Config reaches the API server.
	Config *rest.Config
	// ControllerName selects our GatewayClasses.
	ControllerName string
	// Image is the data plane image when parameters name none.
	Image string
	// LeaderElect runs one active replica (Lease hagate-controller).
	LeaderElect bool
	// LeaderElectionNamespace holds the Lease (default: in-cluster
	// namespace).
	LeaderElectionNamespace string
	// HealthAddress serves /healthz and /readyz ("" or "0": off).
	HealthAddress string
	// Log is the structured log.
	Log logr.Logger
	// Resync reconciles every Gateway at least this often (drift the
	// watches cannot see, such as an HPA appearing); default 1 minute.
	Resync time.Duration
}

// FieldOwner is the server-side apply field manager of the control plane.
const FieldOwner = "hagate-controller"

// RunControlPlane provisions a data plane for every Gateway of our
// GatewayClasses until ctx is done: each Gateway gets, in its namespace, a
// ServiceAccount, a Role and RoleBinding (leader election, events), a
// Deployment running HAProxy and the hagate agent side by side, and a
// Service exposing its listener ports; and a ClusterRoleBinding to the
// hagate-data-plane ClusterRole. Generated objects are owned by their
// Gateway and repaired when changed; the control plane writes the
// GatewayClass status, and a Gateway's status only while it has no data
// plane (invalid parameters): the Gateway's agents write the rest.
func RunControlPlane(ctx context.Context, o ControlPlaneOptions) error {
	if o.ControllerName == "" {
		o.ControllerName = render.DefaultControllerName
	}
	if o.Resync == 0 {
		o.Resync = time.Minute
	}
	if o.HealthAddress == "" {
		o.HealthAddress = "0"
	}
	ctrl.SetLogger(o.Log.WithName("controller-runtime"))
	managed := labels.SelectorFromSet(labels.Set{provision.LabelManagedBy: provision.ManagedBy})
	mgr, err := ctrl.NewManager(clientConfig(o.Config), manager.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  o.HealthAddress,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "hagate-controller",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// A stopping replica gives the Lease up: the next takes over at
		// once, not after the Lease expires.
		LeaderElectionReleaseOnCancel: true,
		// Only the generated objects are cached, not every Deployment of
		// the cluster.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:         {Label: managed},
			&corev1.Service{}:            {Label: managed},
			&corev1.ServiceAccount{}:     {Label: managed},
			&rbacv1.Role{}:               {Label: managed},
			&rbacv1.RoleBinding{}:        {Label: managed},
			&rbacv1.ClusterRoleBinding{}: {Label: managed},
		}},
	})
	if err != nil {
		return fmt.Errorf("control plane manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	p := &provisioner{o: o, c: mgr.GetClient(), api: mgr.GetAPIReader(), events: mgr.GetEventRecorder("hagate-controller")}
	allOfClass := handler.EnqueueRequestsFromMapFunc(p.gatewaysOfOurClasses)
	err = builder.ControllerManagedBy(mgr).
		Named("hagate-provisioner").
		WithOptions(builderOptions(nil)).
		For(&gwapiv1.Gateway{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Watches(&rbacv1.ClusterRoleBinding{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			ns, gw := o.GetLabels()[provision.LabelGatewayNamespace], o.GetLabels()[gwapiv1.GatewayNameLabelKey]
			if ns == "" || gw == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: gw}}}
		})).
		Watches(&gwapiv1.GatewayClass{}, allOfClass).
		Watches(&corev1.ConfigMap{}, allOfClass, builder.OnlyMetadata).
		// A ListenerSet's ports are its parent Gateway's Service's.
		Watches(&gwapiv1.ListenerSet{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			ls, ok := o.(*gwapiv1.ListenerSet)
			if !ok {
				return nil
			}
			ns := ls.Namespace
			if r := ls.Spec.ParentRef; r.Namespace != nil && *r.Namespace != "" {
				ns = string(*r.Namespace)
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: string(ls.Spec.ParentRef.Name)}}}
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(reconcile.Func(p.reconcileGateway))
	if err != nil {
		return fmt.Errorf("provisioner: %w", err)
	}
	err = builder.ControllerManagedBy(mgr).
		Named("hagate-gatewayclass").
		WithOptions(builderOptions(nil)).
		For(&gwapiv1.GatewayClass{}).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(p.ourClasses), builder.OnlyMetadata).
		Complete(reconcile.Func(p.reconcileClass))
	if err != nil {
		return fmt.Errorf("gatewayclass status: %w", err)
	}
	return mgr.Start(ctx)
}

type provisioner struct {
	o      ControlPlaneOptions
	c      client.Client
	api    client.Reader
	events events.EventRecorder
}

// ours reports whether a GatewayClass is ours.
func (p *provisioner) ours(gc *gwapiv1.GatewayClass) bool {
	return string(gc.Spec.ControllerName) == p.o.ControllerName
}

func (p *provisioner) ourClasses(ctx context.Context, _ client.Object) []reconcile.Request {
	var gcs gwapiv1.GatewayClassList
	if err := p.c.List(ctx, &gcs); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range gcs.Items {
		if p.ours(&gcs.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: gcs.Items[i].Name}})
		}
	}
	return out
}

func (p *provisioner) gatewaysOfOurClasses(ctx context.Context, _ client.Object) []reconcile.Request {
	var gws gwapiv1.GatewayList
	if err := p.c.List(ctx, &gws); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range gws.Items {
		out = append(out, reconcile.Request{NamespacedName: nn(&gws.Items[i])})
	}
	return out
}

// listenerSetPorts are the ports of the listeners of the ListenerSets gw
// accepts, as the agents' translation decides.
func (p *provisioner) listenerSetPorts(ctx context.Context, gc *gwapiv1.GatewayClass, gw *gwapiv1.Gateway) ([]int32, error) {
	if gw.Spec.AllowedListeners == nil {
		return nil, nil
	}
	var lss gwapiv1.ListenerSetList
	if err := p.c.List(ctx, &lss); err != nil {
		return nil, err
	}
	if len(lss.Items) == 0 {
		return nil, nil
	}
	var nss corev1.NamespaceList
	if err := p.c.List(ctx, &nss); err != nil {
		return nil, err
	}
	snap := &snapshot.Snapshot{Now: time.Now(), GatewayClasses: []*gwapiv1.GatewayClass{gc}, Gateways: []*gwapiv1.Gateway{gw}}
	for i := range lss.Items {
		snap.ListenerSets = append(snap.ListenerSets, &lss.Items[i])
	}
	for i := range nss.Items {
		snap.Namespaces = append(snap.Namespaces, &nss.Items[i])
	}
	return render.ListenerSetPorts(snap, render.Options{ControllerName: p.o.ControllerName, Provisioned: true}), nil
}

// configMap reads a ConfigMap (parameters) from the API server; nil when
// absent.
func (p *provisioner) configMap(ctx context.Context) provision.Lookup {
	return func(ns, name string) *corev1.ConfigMap {
		var cm corev1.ConfigMap
		if err := p.api.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &cm); err != nil {
			return nil
		}
		return &cm
	}
}

// reconcileGateway keeps a Gateway's data plane in step with it.
func (p *provisioner) reconcileGateway(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := p.o.Log.WithValues("gateway", req.String())
	var gw gwapiv1.Gateway
	err := p.c.Get(ctx, req.NamespacedName, &gw)
	if apierrors.IsNotFound(err) {
		// Its namespaced objects go with it (owner references); the
		// ClusterRoleBinding is ours to delete.
		return reconcile.Result{}, p.deleteClusterRoleBinding(ctx, req.Namespace, req.Name)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	var gc gwapiv1.GatewayClass
	if err := p.c.Get(ctx, types.NamespacedName{Name: string(gw.Spec.GatewayClassName)}, &gc); err != nil || !p.ours(&gc) {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if gw.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	lookup := p.configMap(ctx)
	classParams, cerr := provision.ClassParameters(&gc, lookup)
	gwParams, gerr := provision.GatewayParameters(&gw, lookup)
	if cerr != nil || gerr != nil {
		why := gerr
		if why == nil {
			why = cerr
		}
		return p.invalidParameters(ctx, &gw, &gc, why)
	}
	lsPorts, err := p.listenerSetPorts(ctx, &gc, &gw)
	if err != nil {
		return reconcile.Result{}, err
	}
	dp := provision.Build(&gw, provision.Merge(classParams, gwParams), provision.Options{Image: p.o.Image, ControllerName: p.o.ControllerName, ListenerSetPorts: lsPorts})
	objs := []client.Object{dp.ServiceAccount, dp.Role, dp.RoleBinding, dp.ClusterRoleBinding, dp.Deployment, dp.Service}
	for _, obj := range objs {
		if why := p.foreign(ctx, obj); why != "" {
			// Never take over an object someone else made.
			p.events.Eventf(&gw, nil, corev1.EventTypeWarning, "NameTaken", "Provision", "%s; the data plane is not made until it is renamed or removed.", why)
			log.Info("an object of the data plane's name is not hagate's", "detail", why)
			return reconcile.Result{RequeueAfter: p.o.Resync}, nil
		}
	}
	if p.autoscaled(ctx, &gw) {
		// An HPA owns the count: not ours to set. Handed over at its
		// current value first, so that no longer applying it does not
		// reset it to the default.
		dp.Deployment.Spec.Replicas = nil
		p.handOverReplicas(ctx, dp.Deployment)
	}
	for _, obj := range objs {
		if err := p.apply(ctx, obj); err != nil {
			log.Error(err, "applying the data plane", "kind", obj.GetObjectKind().GroupVersionKind().Kind, "name", obj.GetName())
			return reconcile.Result{}, err
		}
	}
	log.V(1).Info("data plane applied", "deployment", dp.Deployment.Name)
	return reconcile.Result{RequeueAfter: p.o.Resync}, nil
}

// apply server-side applies a generated object: the fields hagate sets
// are hagate's (a changed one is put back), others' fields are left alone.
func (p *provisioner) apply(ctx context.Context, obj client.Object) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	return p.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership)
}

// foreign says why an existing object of obj's name is not this
// Gateway's data plane ("" when it does not exist or is ours): it lacks
// hagate's managed-by label and gateway-name label.
func (p *provisioner) foreign(ctx context.Context, obj client.Object) string {
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
	if err := p.api.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
		return ""
	}
	l := cur.GetLabels()
	if l[provision.LabelManagedBy] == provision.ManagedBy && l[gwapiv1.GatewayNameLabelKey] == obj.GetLabels()[gwapiv1.GatewayNameLabelKey] {
		return ""
	}
	return fmt.Sprintf("%s %s exists and was not made by hagate for this Gateway", cur.GetKind(), client.ObjectKeyFromObject(obj))
}

// handOverReplicas applies a Deployment's current replicas under a field
// manager of their own, so that hagate's manager can drop the field
// without the API server resetting it (server-side apply removes a field
// its last manager stops applying). Not forced: a count the HPA changed
// meanwhile is left as it is.
func (p *provisioner) handOverReplicas(ctx context.Context, d *appsv1.Deployment) {
	var cur appsv1.Deployment
	if err := p.api.Get(ctx, client.ObjectKeyFromObject(d), &cur); err != nil || cur.Spec.Replicas == nil {
		return
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": d.Name, "namespace": d.Namespace},
		"spec":     map[string]any{"replicas": int64(*cur.Spec.Replicas)},
	}}
	if err := p.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner+"-replicas")); err != nil {
		p.o.Log.V(1).Info("replicas not handed over", "deployment", client.ObjectKeyFromObject(d).String(), "reason", err.Error())
	}
}

// autoscaled reports whether an HPA scales the Gateway's Deployment.
func (p *provisioner) autoscaled(ctx context.Context, gw *gwapiv1.Gateway) bool {
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := p.api.List(ctx, &hpas, client.InNamespace(gw.Namespace)); err != nil {
		return false
	}
	for _, h := range hpas.Items {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == provision.Name(gw.Name) {
			return true
		}
	}
	return false
}

func (p *provisioner) deleteClusterRoleBinding(ctx context.Context, ns, name string) error {
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: provision.ClusterRoleBindingName(ns, name)}}
	return client.IgnoreNotFound(p.c.Delete(ctx, crb))
}

// invalidParameters handles a Gateway whose parameters cannot be used.
// Without a data plane yet, the control plane writes its status
// (Accepted=False, InvalidParameters): no agent does. With one, the data
// plane keeps its last valid parameters and its agents report the
// condition (they read the same parameters); an event says so.
func (p *provisioner) invalidParameters(ctx context.Context, gw *gwapiv1.Gateway, gc *gwapiv1.GatewayClass, why error) (reconcile.Result, error) {
	var dep appsv1.Deployment
	err := p.c.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: provision.Name(gw.Name)}, &dep)
	if err == nil {
		p.events.Eventf(gw, nil, corev1.EventTypeWarning, "InvalidParameters", "Provision",
			"The data plane keeps its last valid parameters: %v", why)
		return reconcile.Result{RequeueAfter: p.o.Resync}, nil
	}
	if !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	// The same translation the agents run gives the Gateway's status.
	var nss corev1.NamespaceList
	if err := p.c.List(ctx, &nss); err != nil {
		return reconcile.Result{}, err
	}
	snap := &snapshot.Snapshot{Now: time.Now(), GatewayClasses: []*gwapiv1.GatewayClass{gc}, Gateways: []*gwapiv1.Gateway{gw}}
	for i := range nss.Items {
		snap.Namespaces = append(snap.Namespaces, &nss.Items[i])
	}
	refs := render.ReferencedObjects(snap, render.Options{ControllerName: p.o.ControllerName})
	for _, n := range refs.ConfigMaps {
		if cm := p.configMap(ctx)(n.Namespace, n.Name); cm != nil {
			snap.ConfigMaps = append(snap.ConfigMaps, cm)
		}
	}
	res := render.Translate(snap, render.Options{ControllerName: p.o.ControllerName, Provisioned: true})
	want := res.Status.Gateways[nn(gw)]
	if want == nil {
		return reconcile.Result{}, nil
	}
	now := metav1.NewTime(time.Now())
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur gwapiv1.Gateway
		if err := p.c.Get(ctx, nn(gw), &cur); err != nil {
			return err
		}
		next := cur.Status
		next.Addresses = want.Addresses
		next.Conditions = mergeConditions(cur.Status.Conditions, want.Conditions, now)
		var ls []gwapiv1.ListenerStatus
		for _, l := range want.Listeners {
			l.Conditions = mergeConditions(findListener(cur.Status.Listeners, l.Name), l.Conditions, now)
			ls = append(ls, l)
		}
		next.Listeners = ls
		if equality.Semantic.DeepEqual(next, cur.Status) {
			return nil
		}
		cur.Status = next
		return p.c.Status().Update(ctx, &cur)
	})
	return reconcile.Result{RequeueAfter: p.o.Resync}, client.IgnoreNotFound(err)
}

// reconcileClass writes a GatewayClass's status: Accepted (or
// InvalidParameters) and the features hagate supports.
func (p *provisioner) reconcileClass(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var gc gwapiv1.GatewayClass
	if err := p.c.Get(ctx, req.NamespacedName, &gc); err != nil || !p.ours(&gc) {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	c := metav1.Condition{Type: string(gwapiv1.GatewayClassConditionStatusAccepted), Status: metav1.ConditionTrue,
		Reason: string(gwapiv1.GatewayClassReasonAccepted), ObservedGeneration: gc.Generation,
		Message: fmt.Sprintf("GatewayClass is handled by %s; each Gateway gets a data plane of its own.", p.o.ControllerName)}
	if _, err := provision.ClassParameters(&gc, p.configMap(ctx)); err != nil {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, string(gwapiv1.GatewayClassReasonInvalidParameters), err.Error()+"."
	}
	now := metav1.NewTime(time.Now())
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur gwapiv1.GatewayClass
		if err := p.c.Get(ctx, req.NamespacedName, &cur); err != nil {
			return err
		}
		next := cur.Status
		next.Conditions = mergeConditions(cur.Status.Conditions, []metav1.Condition{c}, now)
		next.SupportedFeatures = nil
		for _, f := range SupportedFeatures {
			next.SupportedFeatures = append(next.SupportedFeatures, gwapiv1.SupportedFeature{Name: gwapiv1.FeatureName(f)})
		}
		if equality.Semantic.DeepEqual(next, cur.Status) {
			return nil
		}
		cur.Status = next
		return p.c.Status().Update(ctx, &cur)
	})
	return reconcile.Result{RequeueAfter: p.o.Resync}, client.IgnoreNotFound(err)
}
