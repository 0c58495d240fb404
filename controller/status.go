package controller

import (
	"context"
	"fmt"

	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"

	"hagate.io/hagate/controller/pipeline"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/render/status"
)

// SupportedFeatures are the Gateway API features hagate implements, as
// written in GatewayClass status.supportedFeatures.
var SupportedFeatures = []features.FeatureName{
	features.SupportBackendTLSPolicy,
	features.SupportBackendTLSPolicySANValidation,
	features.SupportGateway,
	features.SupportGatewayAddressEmpty,
	features.SupportGatewayBackendClientCertificate,
	features.SupportGatewayFrontendClientCertificateValidation,
	features.SupportGatewayFrontendClientCertificateValidationInsecureFallback,
	features.SupportGatewayHTTPListenerIsolation,
	features.SupportGatewayHTTPSListenerDetectMisdirectedRequests,
	features.SupportGatewayInfrastructure,
	features.SupportGatewayPort8080,
	features.SupportGatewayStaticAddresses,
	features.SupportListenerSet,
	features.SupportGRPCRoute,
	features.SupportHTTPRoute,
	features.SupportHTTPRoute303RedirectStatusCode,
	features.SupportHTTPRoute307RedirectStatusCode,
	features.SupportHTTPRoute308RedirectStatusCode,
	features.SupportHTTPRouteBackendProtocolH2C,
	features.SupportHTTPRouteBackendProtocolWebSocket,
	features.SupportHTTPRouteBackendRequestHeaderModification,
	features.SupportHTTPRouteCORS,
	features.SupportHTTPRouteDestinationPortMatching,
	features.SupportHTTPRouteHostRewrite,
	features.SupportHTTPRouteMethodMatching,
	features.SupportHTTPRouteNamedRouteRule,
	features.SupportHTTPRouteParentRefPort,
	features.SupportHTTPRoutePathRedirect,
	features.SupportHTTPRoutePathRewrite,
	features.SupportHTTPRoutePortRedirect,
	features.SupportHTTPRouteQueryParamMatching,
	features.SupportHTTPRouteRequestMirror,
	features.SupportHTTPRouteRequestMultipleMirrors,
	features.SupportHTTPRouteRequestPercentageMirror,
	features.SupportHTTPRouteRequestTimeout,
	features.SupportHTTPRouteBackendTimeout,
	features.SupportHTTPRouteResponseHeaderModification,
	features.SupportHTTPRouteSchemeRedirect,
	features.SupportReferenceGrant,
	features.SupportTCPRoute,
	features.SupportTLSRoute,
	features.SupportTLSRouteModeMixed,
	features.SupportTLSRouteModeTerminate,
}

// builderOptions are the controller's options. A process may run the
// controller more than once after another (tests, benchmarks): its name
// is not required to be unique in the process.
func builderOptions(needLeaderElection *bool) ctrlcontroller.Options {
	return ctrlcontroller.Options{NeedLeaderElection: needLeaderElection, MaxConcurrentReconciles: 1, SkipNameValidation: new(true)}
}

func gvkOf(o client.Object) schema.GroupVersionKind {
	switch o.(type) {
	case *corev1.Secret:
		return corev1.SchemeGroupVersion.WithKind("Secret")
	default:
		return corev1.SchemeGroupVersion.WithKind("ConfigMap")
	}
}

// apply renders and applies a Snapshot; the first one starts HAProxy (or
// attaches to it). The statuses come back even when HAProxy does not run
// the configuration yet: they say what is wrong.
func (r *reconciler) apply(ctx context.Context, snap *snapshot.Snapshot) (*pipeline.Output, haproxy.Action, error) {
	out, res, err := r.o.Agent.Update(ctx, snap)
	return out, res.Action, err
}

// statusJobs are the status writes a render asks for: the statuses it
// computed that the status writer did not write already to the object as
// it is. When HAProxy did not take the configuration, our Gateways are
// not Programmed and get an event saying why.
func (r *reconciler) statusJobs(snap *snapshot.Snapshot, st *status.Set, applyErr error) []*statusJob {
	var jobs []*statusJob
	seen := map[statusKey]bool{}
	sets := r.listenerSetsOf(snap)
	queue := func(kind string, o client.Object, fp uint64, obj func() client.Object, change func(client.Object, metav1.Time) bool) {
		k := statusKey{kind: kind, NamespacedName: nn(o)}
		seen[k] = true
		if r.status.upToDate(k, fp, o.GetResourceVersion()) {
			return
		}
		jobs = append(jobs, &statusJob{key: k, fp: fp, obj: obj, change: func(o client.Object) bool {
			return change(o, metav1.NewTime(time.Now()))
		}})
	}
	for _, gc := range snap.GatewayClasses {
		s, ok := st.GatewayClasses[gc.Name]
		if !ok || r.o.Provisioned {
			// A provisioned data plane leaves its class to the control
			// plane.
			continue
		}
		want := *s
		for _, f := range SupportedFeatures {
			want.SupportedFeatures = append(want.SupportedFeatures, gwapiv1.SupportedFeature{Name: gwapiv1.FeatureName(f)})
		}
		queue("GatewayClass", gc, jsonFingerprint(want), func() client.Object { return &gwapiv1.GatewayClass{} }, func(o client.Object, now metav1.Time) bool {
			c := o.(*gwapiv1.GatewayClass)
			next := c.Status
			next.Conditions = mergeConditions(c.Status.Conditions, want.Conditions, now)
			next.SupportedFeatures = want.SupportedFeatures
			if equality.Semantic.DeepEqual(next, c.Status) {
				return false
			}
			c.Status = next
			return true
		})
	}
	for _, gw := range snap.Gateways {
		s, ok := st.Gateways[nn(gw)]
		if !ok {
			continue
		}
		want := *s
		// Something of the Gateway is bound (before an apply error: HAProxy
		// then keeps serving the last good configuration).
		bound := meta.IsStatusConditionTrue(want.Conditions, string(gwapiv1.GatewayConditionProgrammed))
		if applyErr != nil {
			msg := "HAProxy did not take the configuration; it keeps serving the last good one: " + truncate(applyErr.Error(), 1500)
			setCondition(&want.Conditions, metav1.Condition{
				Type: string(gwapiv1.GatewayConditionProgrammed), Status: metav1.ConditionFalse, Reason: string(gwapiv1.GatewayReasonInvalid),
				Message: msg, ObservedGeneration: gw.Generation,
			})
			ls := make([]gwapiv1.ListenerStatus, len(want.Listeners))
			for i, l := range want.Listeners {
				l.Conditions = append([]metav1.Condition(nil), l.Conditions...)
				setCondition(&l.Conditions, metav1.Condition{
					Type: string(gwapiv1.ListenerConditionProgrammed), Status: metav1.ConditionFalse, Reason: string(gwapiv1.ListenerReasonPending),
					Message: "HAProxy did not take the configuration yet; see the Gateway's Programmed condition.", ObservedGeneration: gw.Generation,
				})
				ls[i] = l
			}
			want.Listeners = ls
			r.events.Eventf(gw, nil, corev1.EventTypeWarning, "ApplyFailed", "Apply", "HAProxy did not take the configuration: %s", truncate(applyErr.Error(), 800))
		}
		// Addresses of the Gateway's own (spec.addresses) come from the
		// render; otherwise the pod's, once something of it is bound.
		if len(want.Addresses) == 0 && r.o.GatewayAddress != "" && bound {
			t := gwapiv1.IPAddressType
			want.Addresses = []gwapiv1.GatewayStatusAddress{{Type: &t, Value: r.o.GatewayAddress}}
		}
		queue("Gateway", gw, jsonFingerprint(want), func() client.Object { return &gwapiv1.Gateway{} }, func(o client.Object, now metav1.Time) bool {
			g := o.(*gwapiv1.Gateway)
			next := g.Status
			next.Addresses = want.Addresses
			next.Conditions = mergeConditions(g.Status.Conditions, want.Conditions, now)
			var ls []gwapiv1.ListenerStatus
			for _, l := range want.Listeners {
				old := findListener(g.Status.Listeners, l.Name)
				l.Conditions = mergeConditions(old, l.Conditions, now)
				ls = append(ls, l)
			}
			next.Listeners = ls
			next.AttachedListenerSets = want.AttachedListenerSets
			if equality.Semantic.DeepEqual(next, g.Status) {
				return false
			}
			g.Status = next
			return true
		})
	}
	for _, ls := range snap.ListenerSets {
		s, ok := st.ListenerSets[nn(ls)]
		if !ok {
			continue
		}
		want := *s
		queue("ListenerSet", ls, jsonFingerprint(want), func() client.Object { return &gwapiv1.ListenerSet{} }, func(o client.Object, now metav1.Time) bool {
			x := o.(*gwapiv1.ListenerSet)
			next := x.Status
			next.Conditions = mergeConditions(x.Status.Conditions, want.Conditions, now)
			ls := []gwapiv1.ListenerEntryStatus{}
			for _, l := range want.Listeners {
				var old []metav1.Condition
				for _, c := range x.Status.Listeners {
					if c.Name == l.Name {
						old = c.Conditions
					}
				}
				l.Conditions = mergeConditions(old, l.Conditions, now)
				ls = append(ls, l)
			}
			next.Listeners = ls
			if equality.Semantic.DeepEqual(next, x.Status) {
				return false
			}
			x.Status = next
			return true
		})
	}
	routes := func(kind string, x client.Object, mine bool, want *gwapiv1.RouteStatus, obj func() client.Object, get func(client.Object) *gwapiv1.RouteStatus) {
		queue(kind, x, routeFingerprint(mine, want), obj, func(o client.Object, now metav1.Time) bool {
			cur := get(o)
			var w []gwapiv1.RouteParentStatus
			if want != nil {
				w = want.Parents
			}
			next := mergeEntries(parents, cur.Parents, w, r.o.ControllerName, now, r.ownsFrom(o.GetNamespace(), sets))
			if equality.Semantic.DeepEqual(next, cur.Parents) {
				return false
			}
			cur.Parents = next
			return true
		})
	}
	for _, x := range snap.HTTPRoutes {
		if want, mine := st.HTTPRoutes[nn(x)], hasOurs(parents, x.Status.Parents, r.o.ControllerName); want != nil || mine {
			routes("HTTPRoute", x, mine, want, func() client.Object { return &gwapiv1.HTTPRoute{} }, func(o client.Object) *gwapiv1.RouteStatus { return &o.(*gwapiv1.HTTPRoute).Status.RouteStatus })
		}
	}
	for _, x := range snap.GRPCRoutes {
		if want, mine := st.GRPCRoutes[nn(x)], hasOurs(parents, x.Status.Parents, r.o.ControllerName); want != nil || mine {
			routes("GRPCRoute", x, mine, want, func() client.Object { return &gwapiv1.GRPCRoute{} }, func(o client.Object) *gwapiv1.RouteStatus { return &o.(*gwapiv1.GRPCRoute).Status.RouteStatus })
		}
	}
	for _, x := range snap.TLSRoutes {
		if want, mine := st.TLSRoutes[nn(x)], hasOurs(parents, x.Status.Parents, r.o.ControllerName); want != nil || mine {
			routes("TLSRoute", x, mine, want, func() client.Object { return &gwapiv1.TLSRoute{} }, func(o client.Object) *gwapiv1.RouteStatus { return &o.(*gwapiv1.TLSRoute).Status.RouteStatus })
		}
	}
	for _, x := range snap.TCPRoutes {
		if want, mine := st.TCPRoutes[nn(x)], hasOurs(parents, x.Status.Parents, r.o.ControllerName); want != nil || mine {
			routes("TCPRoute", x, mine, want, func() client.Object { return &gwapiv1.TCPRoute{} }, func(o client.Object) *gwapiv1.RouteStatus { return &o.(*gwapiv1.TCPRoute).Status.RouteStatus })
		}
	}
	for _, p := range snap.BackendTLSPolicies {
		want := st.BackendTLSPolicies[nn(p)]
		mine := hasOurs(ancestors, p.Status.Ancestors, r.o.ControllerName)
		if want == nil && !mine {
			continue
		}
		queue("BackendTLSPolicy", p, jsonFingerprint(mine, want), func() client.Object { return &gwapiv1.BackendTLSPolicy{} }, func(o client.Object, now metav1.Time) bool {
			c := o.(*gwapiv1.BackendTLSPolicy)
			var w []gwapiv1.PolicyAncestorStatus
			if want != nil {
				w = want.Ancestors
			}
			next := mergeEntries(ancestors, c.Status.Ancestors, w, r.o.ControllerName, now, r.ownsFrom(o.GetNamespace(), sets))
			if equality.Semantic.DeepEqual(next, c.Status.Ancestors) {
				return false
			}
			c.Status.Ancestors = next
			return true
		})
	}
	// What was written of objects gone from the cluster is forgotten.
	r.status.forget(func(k statusKey) bool { return seen[k] })
	return jobs
}

// writeJob writes one status: it reads the object from the cache (from
// the API server after a conflict), and writes its status when the job
// changed it. It returns the object's resourceVersion before and after.
func (r *reconciler) writeJob(ctx context.Context, j *statusJob) (before, after string, err error) {
	var reader client.Reader = r.c
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := j.obj()
		err := reader.Get(ctx, j.key.NamespacedName, obj)
		reader = r.api
		if err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		before = obj.GetResourceVersion()
		after = before
		if !j.change(obj) {
			return nil
		}
		if err := r.c.Status().Update(ctx, obj); err != nil {
			return fmt.Errorf("status of %s %s: %w", j.key.kind, j.key.NamespacedName, err)
		}
		after = obj.GetResourceVersion()
		return nil
	})
	return before, after, err
}

func nn(o metav1.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// mergeConditions returns want, keeping the lastTransitionTime of a
// condition whose status did not change.
func mergeConditions(cur, want []metav1.Condition, now metav1.Time) []metav1.Condition {
	out := make([]metav1.Condition, 0, len(want))
	for _, c := range want {
		c.LastTransitionTime = now
		for _, o := range cur {
			if o.Type == c.Type && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	return out
}

// truncate keeps messages within what the API server takes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + " [...]"
}

func setCondition(conds *[]metav1.Condition, c metav1.Condition) {
	for i := range *conds {
		if (*conds)[i].Type == c.Type {
			(*conds)[i] = c
			return
		}
	}
	*conds = append(*conds, c)
}

func findListener(ls []gwapiv1.ListenerStatus, name gwapiv1.SectionName) []metav1.Condition {
	for _, l := range ls {
		if l.Name == name {
			return l.Conditions
		}
	}
	return nil
}

// ownsFrom returns, when this hagate serves one Gateway, whether an entry
// of an object in namespace ns is about that Gateway; nil otherwise
// (every entry of our controller is ours).
// (every entry of our controller is ours). An entry about a ListenerSet
// is the Gateway's when the ListenerSet is one of sets (those whose
// parent is the Gateway).
func (r *reconciler) ownsFrom(ns string, sets map[types.NamespacedName]bool) func(gwapiv1.ParentReference) bool {
	if r.o.Gateway == nil {
		return nil
	}
	return func(ref gwapiv1.ParentReference) bool {
		key := types.NamespacedName{Namespace: ns, Name: string(ref.Name)}
		if ref.Namespace != nil && *ref.Namespace != "" {
			key.Namespace = string(*ref.Namespace)
		}
		switch {
		case ref.Kind == nil || *ref.Kind == "Gateway":
			return key == *r.o.Gateway
		case *ref.Kind == "ListenerSet":
			return sets[key]
		}
		return false
	}
}

// listenerSetsOf are the ListenerSets whose parentRef names this
// hagate's one Gateway (nil when it serves every Gateway).
func (r *reconciler) listenerSetsOf(snap *snapshot.Snapshot) map[types.NamespacedName]bool {
	if r.o.Gateway == nil {
		return nil
	}
	sets := map[types.NamespacedName]bool{}
	for _, ls := range snap.ListenerSets {
		p := ls.Spec.ParentRef
		ns := ls.Namespace
		if p.Namespace != nil && *p.Namespace != "" {
			ns = string(*p.Namespace)
		}
		if (p.Kind == nil || *p.Kind == "Gateway") && (types.NamespacedName{Namespace: ns, Name: string(p.Name)}) == *r.o.Gateway {
			sets[nn(ls)] = true
		}
	}
	return sets
}

// entry is a parent (route) or ancestor (policy) status entry: owned by
// one controller, about one reference, with conditions.
type entry interface {
	gwapiv1.RouteParentStatus | gwapiv1.PolicyAncestorStatus
}

// entryAccess reads and writes the parts of an entry the merge needs.
type entryAccess[E entry] struct {
	controller func(*E) string
	ref        func(*E) gwapiv1.ParentReference
	conditions func(*E) *[]metav1.Condition
}

var parents = entryAccess[gwapiv1.RouteParentStatus]{
	controller: func(e *gwapiv1.RouteParentStatus) string { return string(e.ControllerName) },
	ref:        func(e *gwapiv1.RouteParentStatus) gwapiv1.ParentReference { return e.ParentRef },
	conditions: func(e *gwapiv1.RouteParentStatus) *[]metav1.Condition { return &e.Conditions },
}

var ancestors = entryAccess[gwapiv1.PolicyAncestorStatus]{
	controller: func(e *gwapiv1.PolicyAncestorStatus) string { return string(e.ControllerName) },
	ref:        func(e *gwapiv1.PolicyAncestorStatus) gwapiv1.ParentReference { return e.AncestorRef },
	conditions: func(e *gwapiv1.PolicyAncestorStatus) *[]metav1.Condition { return &e.Conditions },
}

// hasOurs reports whether some entry is written by controller.
func hasOurs[E entry](acc entryAccess[E], cur []E, controller string) bool {
	for i := range cur {
		if acc.controller(&cur[i]) == controller {
			return true
		}
	}
	return false
}

// mergeEntries keeps the entries this hagate does not own (other
// controllers', or, when it serves one Gateway, those about other
// Gateways) and replaces its own with want, keeping the
// lastTransitionTime of unchanged conditions.
func mergeEntries[E entry](acc entryAccess[E], cur, want []E, controller string, now metav1.Time, owns func(gwapiv1.ParentReference) bool) []E {
	out := []E{}
	for i := range cur {
		if acc.controller(&cur[i]) != controller || owns != nil && !owns(acc.ref(&cur[i])) {
			out = append(out, cur[i])
		}
	}
	for _, w := range want {
		var old []metav1.Condition
		for i := range cur {
			if acc.controller(&cur[i]) == controller && equality.Semantic.DeepEqual(acc.ref(&cur[i]), acc.ref(&w)) {
				old = *acc.conditions(&cur[i])
			}
		}
		c := acc.conditions(&w)
		*c = mergeConditions(old, *c, now)
		out = append(out, w)
	}
	return out
}
