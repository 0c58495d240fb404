// Package render is hagate's translation: it turns a Snapshot of Gateway API
// objects into the IR of an HAProxy configuration and the status of every
// object. It decides all Gateway API meaning (which Gateways are ours,
// listener validity and conflicts, ReferenceGrants, hostname intersection and
// precedence, route attachment, backend resolution). It does no I/O and reads
// no clock: the Snapshot carries the time.
//
// One bad object becomes conditions on that object; it never drops the rest
// of the configuration.
//
// Render owns its input (render/snapshot) and its outputs (render/ir for
// templates, render/status and render/report for statuses). The API
// carries no compatibility promise before v1.
package render

import (
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/render/status"
)

// DefaultControllerName is the GatewayClass controllerName hagate serves
// unless told otherwise.
const DefaultControllerName = "hagate.io/gateway-controller"

// Options tune a translation.
type Options struct {
	// ControllerName selects the GatewayClasses (and so the Gateways) to
	// render. Empty means DefaultControllerName.
	ControllerName string
	// Cache, if set, keeps parsed certificates between translations.
	Cache *Cache
	// SecurityLevel is the OpenSSL security level of the data plane
	// (1-5): certificates whose keys or signatures it would refuse are
	// not used. 0 means DefaultSecurityLevel.
	SecurityLevel int
	// Provisioned: the Gateways are served by data planes of their own
	// (hagate controller) behind a Service: listeners bind every address,
	// and a Gateway's addresses are its Service's (spec.addresses are
	// asked of its load balancer).
	Provisioned bool
	// RuleNames makes the path maps name the rule of a rule that only
	// forwards ("<rule>|<backend>", and use_backend takes the second
	// field) rather than its backend alone, so that a JSON access log can
	// name the route of every request (one converter more per request).
	RuleNames bool
	// ExpiryWarning is how long before a served certificate expires its
	// listener's ResolvedRefs message says so: 0 is DefaultExpiryWarning,
	// negative never.
	ExpiryWarning time.Duration
	// record, when set, notes the Secrets and ConfigMaps looked up.
	record *lookups
	// Refused holds what the data plane refused from an earlier attempt,
	// by the object responsible, with HAProxy's reason: those objects are
	// left out, with a condition saying why.
	Refused map[ir.Origin]string
}

// Result is the outcome of a translation.
type Result struct {
	// Config is the HAProxy configuration.
	Config *ir.Config
	// Status holds the status of every object hagate is responsible for.
	Status *status.Set
	// Warnings are sentences about the input as a whole (not about one
	// object, which get conditions).
	Warnings []string
}

// translator holds the indexes and the state of one translation.
type translator struct {
	snap *snapshot.Snapshot
	opts Options
	idx  *index
	st   *status.Set
	res  *Result

	gateways  []*gatewayCtx
	listeners []*listenerCtx // every listener of our Gateways and their ListenerSets, in precedence order
	// listenerSets are the ListenerSets whose parent is one of our
	// Gateways, attached or not.
	listenerSets map[types.NamespacedName]*listenerSetCtx
	backends     map[string]*ir.Backend
	// backendMemo remembers serviceBackend's answers.
	backendMemo map[backendMemoKey]string
	certs       map[string]*ir.Certificate
	cas         map[string]*ir.CAFile
	crls        map[string]*ir.CAFile
	// policies are the BackendTLSPolicies that take each target.
	policies    map[policyTarget]*policyCtx
	allPolicies []*policyCtx
	// routes are the HTTP routes attached to listeners, per listener name.
	routes map[*listenerCtx][]*attachedRoute
}

// Translate turns a Snapshot into an HAProxy IR and statuses. It never
// fails: invalid objects get conditions.
func Translate(snap *snapshot.Snapshot, opts Options) *Result {
	t := newTranslator(snap, opts)
	// The phases, in the order they depend on each other:
	// - which Gateways are ours, their parameters (selectGateways);
	// - the addresses they bind (resolveAddresses: listeners are grouped
	//   by address and port from here on);
	// - the ListenerSets they allow (selectListenerSets), whose
	//   listeners join theirs;
	// - each listener on its own: protocol, hostname, TLS options,
	//   certificates, client validation (buildListeners);
	// - listeners against each other on a port (resolveConflicts: the
	//   losers are not served, so they take no routes);
	// - BackendTLSPolicies (indexPolicies: before routes, whose backends
	//   they shape);
	// - routes attach to the served listeners and count on them
	//   (attachRoutes: attachedRoutes, route statuses);
	// - frontends from the served listeners and their routes
	//   (buildFrontends: backends are made here, and with them each
	//   policy's ancestors);
	// - then the statuses that needed all of that: policies' ancestors,
	//   listeners (attached routes, overlaps), ListenerSets and Gateways
	//   (from their listeners);
	// - collect sorts the IR.
	t.selectGateways()
	t.resolveAddresses()
	t.selectListenerSets()
	t.buildListeners()
	t.resolveConflicts()
	t.indexPolicies()
	t.attachRoutes()
	t.buildFrontends()
	t.writePolicyStatus()
	t.finishListeners()
	t.finishListenerSets()
	t.finishGateways()
	t.specialBackends()
	t.collectDates()
	t.collect()
	t.ticketKeys()
	opts.Cache.rotate()
	return t.res
}

// newTranslator prepares a translation.
func newTranslator(snap *snapshot.Snapshot, opts Options) *translator {
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	t := &translator{
		snap:        snap,
		opts:        opts,
		idx:         newIndex(snap),
		st:          status.NewSet(),
		res:         &Result{Config: &ir.Config{}},
		backends:    map[string]*ir.Backend{},
		backendMemo: map[backendMemoKey]string{},
		certs:       map[string]*ir.Certificate{},
		cas:         map[string]*ir.CAFile{},
		crls:        map[string]*ir.CAFile{},
		routes:      map[*listenerCtx][]*attachedRoute{},
	}
	t.res.Status = t.st
	t.idx.record = opts.record
	return t
}

// collect moves backends and certificates into the IR, sorted.
func (t *translator) collect() {
	for _, b := range t.backends {
		t.res.Config.Backends = append(t.res.Config.Backends, b)
	}
	sort.Slice(t.res.Config.Backends, func(i, j int) bool {
		return t.res.Config.Backends[i].Name < t.res.Config.Backends[j].Name
	})
	for _, c := range t.certs {
		t.res.Config.Certificates = append(t.res.Config.Certificates, c)
	}
	sort.Slice(t.res.Config.Certificates, func(i, j int) bool {
		return t.res.Config.Certificates[i].Path < t.res.Config.Certificates[j].Path
	})
	for _, c := range t.cas {
		t.res.Config.CAFiles = append(t.res.Config.CAFiles, c)
	}
	sort.Slice(t.res.Config.CAFiles, func(i, j int) bool {
		return t.res.Config.CAFiles[i].Path < t.res.Config.CAFiles[j].Path
	})
	for _, c := range t.crls {
		t.res.Config.CRLFiles = append(t.res.Config.CRLFiles, c)
	}
	sort.Slice(t.res.Config.CRLFiles, func(i, j int) bool {
		return t.res.Config.CRLFiles[i].Path < t.res.Config.CRLFiles[j].Path
	})
}

// olderFirst sorts objects by creationTimestamp, then namespace/name, as the
// Gateway API orders conflicting objects.
func olderFirst(a, b metav1.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	if a.GetNamespace() != b.GetNamespace() {
		return a.GetNamespace() < b.GetNamespace()
	}
	return a.GetName() < b.GetName()
}

// nn is the namespaced name of an object.
func nn(o metav1.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// cond builds a condition.
func cond(typ string, ok bool, reason, msg string, gen int64) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen}
}

// setCond puts c into conds, replacing a condition of the same type.
func setCond(conds *[]metav1.Condition, c metav1.Condition) {
	for i := range *conds {
		if (*conds)[i].Type == c.Type {
			(*conds)[i] = c
			return
		}
	}
	*conds = append(*conds, c)
}

// selectGateways decides which GatewayClasses and Gateways are ours.
func (t *translator) selectGateways() {
	ours := map[string]bool{}
	classProblem := map[string]string{}
	for _, gc := range t.snap.GatewayClasses {
		if string(gc.Spec.ControllerName) != t.opts.ControllerName {
			continue
		}
		ours[gc.Name] = true
		c := cond(string(gwapiv1.GatewayClassConditionStatusAccepted), true, string(gwapiv1.GatewayClassReasonAccepted),
			fmt.Sprintf("GatewayClass is handled by %s.", t.opts.ControllerName), gc.Generation)
		if p := t.classParametersProblem(gc); p != "" {
			c = cond(string(gwapiv1.GatewayClassConditionStatusAccepted), false, string(gwapiv1.GatewayClassReasonInvalidParameters), p, gc.Generation)
			classProblem[gc.Name] = "The GatewayClass's parameters cannot be used: " + p
		}
		t.st.GatewayClasses[gc.Name] = &gwapiv1.GatewayClassStatus{Conditions: []metav1.Condition{c}}
	}
	noClasses := len(t.snap.GatewayClasses) == 0
	if noClasses && len(t.snap.Gateways) > 0 {
		t.res.Warnings = append(t.res.Warnings,
			"the input holds no GatewayClass: every Gateway is rendered, whatever its gatewayClassName")
	}
	gws := append([]*gwapiv1.Gateway(nil), t.snap.Gateways...)
	sort.Slice(gws, func(i, j int) bool { return olderFirst(gws[i], gws[j]) })
	for _, gw := range gws {
		if !noClasses && !ours[string(gw.Spec.GatewayClassName)] {
			continue
		}
		if !validName(gw.Namespace, gw.Name) {
			t.res.Warnings = append(t.res.Warnings, fmt.Sprintf("Gateway %q in namespace %q is skipped: its name is not a valid Kubernetes name", gw.Name, gw.Namespace))
			continue
		}
		g := &gatewayCtx{gw: gw, status: &gwapiv1.GatewayStatus{}, paramsProblem: t.gatewayParametersProblem(gw)}
		if g.paramsProblem == "" {
			g.paramsProblem = classProblem[string(gw.Spec.GatewayClassName)]
		}
		t.gateways = append(t.gateways, g)
		t.st.Gateways[nn(gw)] = g.status
	}
}
