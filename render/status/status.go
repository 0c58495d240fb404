// Package status holds the statuses a translation computes for Gateway API
// objects, keyed by object, in the upstream gateway-api types, and turns them
// into the status report `hagate render` writes.
package status

import (
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Set is every status a translation computed. An object absent from a map
// has no status written by hagate (it is not ours).
type Set struct {
	// GatewayClasses by name.
	GatewayClasses map[string]*gwapiv1.GatewayClassStatus
	// Gateways by namespace/name.
	Gateways map[types.NamespacedName]*gwapiv1.GatewayStatus
	// ListenerSets by namespace/name (those whose parent is one of our
	// Gateways).
	ListenerSets map[types.NamespacedName]*gwapiv1.ListenerSetStatus
	// HTTPRoutes by namespace/name; Parents holds only hagate's entries.
	HTTPRoutes map[types.NamespacedName]*gwapiv1.RouteStatus
	// GRPCRoutes by namespace/name.
	GRPCRoutes map[types.NamespacedName]*gwapiv1.RouteStatus
	// TLSRoutes by namespace/name.
	TLSRoutes map[types.NamespacedName]*gwapiv1.RouteStatus
	// TCPRoutes by namespace/name.
	TCPRoutes map[types.NamespacedName]*gwapiv1.RouteStatus
	// BackendTLSPolicies by namespace/name; Ancestors holds only hagate's
	// entries.
	BackendTLSPolicies map[types.NamespacedName]*gwapiv1.PolicyStatus
}

// NewSet returns an empty Set with every map made.
func NewSet() *Set {
	return &Set{
		GatewayClasses:     map[string]*gwapiv1.GatewayClassStatus{},
		Gateways:           map[types.NamespacedName]*gwapiv1.GatewayStatus{},
		ListenerSets:       map[types.NamespacedName]*gwapiv1.ListenerSetStatus{},
		HTTPRoutes:         map[types.NamespacedName]*gwapiv1.RouteStatus{},
		GRPCRoutes:         map[types.NamespacedName]*gwapiv1.RouteStatus{},
		TLSRoutes:          map[types.NamespacedName]*gwapiv1.RouteStatus{},
		TCPRoutes:          map[types.NamespacedName]*gwapiv1.RouteStatus{},
		BackendTLSPolicies: map[types.NamespacedName]*gwapiv1.PolicyStatus{},
	}
}
