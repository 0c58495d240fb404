// Package snapshot holds the Snapshot: every object a translation may read,
// as plain values. Sources (the file loader, the Kubernetes cache) build it;
// render reads it and never talks to the API server or the disk.
package snapshot

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Snapshot is the complete input of one translation. Slices hold pointers
// the translation must treat as read-only.
type Snapshot struct {
	// Now is the instant the snapshot stands for; certificate expiry is
	// judged against it. Sources set it; render never reads a clock.
	Now time.Time

	// GatewayClasses are all GatewayClasses the source knows.
	GatewayClasses []*gwapiv1.GatewayClass
	// Gateways are all Gateways the source knows.
	Gateways []*gwapiv1.Gateway
	// ListenerSets are all ListenerSets (listeners attached to Gateways).
	ListenerSets []*gwapiv1.ListenerSet
	// HTTPRoutes are all HTTPRoutes.
	HTTPRoutes []*gwapiv1.HTTPRoute
	// GRPCRoutes are all GRPCRoutes.
	GRPCRoutes []*gwapiv1.GRPCRoute
	// TLSRoutes are all TLSRoutes.
	TLSRoutes []*gwapiv1.TLSRoute
	// TCPRoutes are all TCPRoutes.
	TCPRoutes []*gwapiv1.TCPRoute
	// BackendTLSPolicies are all BackendTLSPolicies.
	BackendTLSPolicies []*gwapiv1.BackendTLSPolicy
	// ReferenceGrants are all ReferenceGrants.
	ReferenceGrants []*gwapiv1.ReferenceGrant

	// Secrets are the Secrets routes and Gateways may refer to.
	Secrets []*corev1.Secret
	// ConfigMaps are the ConfigMaps Gateways and policies may refer to.
	ConfigMaps []*corev1.ConfigMap
	// Services are the Services backendRefs may refer to.
	Services []*corev1.Service
	// EndpointSlices are the EndpointSlices of those Services.
	EndpointSlices []*discoveryv1.EndpointSlice
	// UnusableAddresses are the Gateway addresses (canonical IPs) this
	// host cannot bind, with why; sources that can check fill it (the
	// agent tries to bind each address a Gateway asks for). Absent
	// addresses are taken as usable.
	UnusableAddresses map[string]string
	// UnusablePorts are the addresses listeners would bind that cannot be
	// bound here (another process holds the port), with why; sources
	// that can check fill it (the agent tries to bind each new one).
	// render does not serve listeners on them (PortUnavailable).
	UnusablePorts map[ListenAddress]string
	// Namespaces are the Namespaces, with their labels, for allowedRoutes
	// selectors.
	Namespaces []*corev1.Namespace
	// TLSTicketKeys are the TLS session-ticket keys, base64, oldest first,
	// as HAProxy's tls-ticket-keys file holds them; sources that manage a
	// keys file fill it (the agent, hagate render --tls-ticket-keys).
	// Empty leaves session tickets off. They are secrets.
	TLSTicketKeys []string
}

// ListenAddress is a TCP address listeners bind: an IP address (canonical,
// as Gateway spec.addresses give it) or "" for the default bind address,
// and a port.
type ListenAddress struct {
	Address string
	Port    int32
}
