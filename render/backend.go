package render

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// backendProto is how HAProxy talks to a backend's servers.
type backendProto int

const (
	// protoHTTP is HTTP/1.1 (or h2c when the Service port says
	// appProtocol kubernetes.io/h2c).
	protoHTTP backendProto = iota
	// protoH2C is HTTP/2 over cleartext (gRPC).
	protoH2C
	// protoTCP is a TCP stream (TLSRoute).
	protoTCP
)

// appProtocolH2C is the Service port appProtocol of HTTP/2 cleartext.
const appProtocolH2C = "kubernetes.io/h2c"

// resolvedBackend is a backendRef checked: a Service port, or a problem.
type resolvedBackend struct {
	svc     *corev1.Service
	port    *corev1.ServicePort
	proto   backendProto
	weight  int32
	problem *routeProblem
	// reqHdr and respHdr are the backendRef's header filters.
	reqHdr, respHdr *ir.HeaderModifier
}

// resolveBackend checks a backendRef of a route of kind fromKind in
// fromNS. One that does not resolve keeps its weight: its share of requests
// is answered with 500 (or its connections refused).
func (t *translator) resolveBackend(fromKind, fromNS string, ref gwapiv1.BackendRef, proto backendProto) resolvedBackend {
	rb := resolvedBackend{weight: 1, proto: proto}
	if ref.Weight != nil {
		// The API caps weights at 1,000,000; the sum must fit HAProxy's
		// rand().
		rb.weight = min(max(*ref.Weight, 0), 1000000)
	}
	share := "Its share of requests gets 500."
	if proto == protoTCP {
		share = "Its share of connections is refused."
	}
	fail := func(reason gwapiv1.RouteConditionReason, format string, a ...any) resolvedBackend {
		rb.problem = &routeProblem{reason, fmt.Sprintf(format, a...) + " " + share}
		return rb
	}
	spec := refSpec{label: "BackendRef", want: "Service", supported: "only core Services are supported", fromKind: fromKind, fromNS: fromNS}
	n, prob := t.resolveRef(spec, deref(ref.Group, ""), deref(ref.Kind, "Service"), deref(ref.Namespace, ""), string(ref.Name))
	if prob != nil {
		reason := gwapiv1.RouteReasonRefNotPermitted
		if prob.kind == refWrongKind {
			reason = gwapiv1.RouteReasonInvalidKind
		}
		return fail(reason, "%s", prob.msg)
	}
	where := n // printed only in messages
	svc, ok := t.idx.service(n)
	if !ok {
		return fail(gwapiv1.RouteReasonBackendNotFound, "%s", notFound("Service", n).msg)
	}
	if ref.Port == nil {
		return fail(gwapiv1.RouteReasonBackendNotFound, "BackendRef to Service %s has no port.", where)
	}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if sp.Port == *ref.Port && (sp.Protocol == "" || sp.Protocol == corev1.ProtocolTCP) {
			rb.svc, rb.port = svc, sp
			if proto == protoHTTP && sp.AppProtocol != nil && *sp.AppProtocol == appProtocolH2C {
				rb.proto = protoH2C
			}
			return rb
		}
	}
	return fail(gwapiv1.RouteReasonBackendNotFound, "Service %s has no TCP port %d.", where, *ref.Port)
}

// serviceBackend returns the name of the backend of a Service port spoken
// with proto for Gateway g, creating it with the ready endpoints of its
// EndpointSlices. The BackendTLSPolicy of the Service port, if any, makes
// its servers speak TLS (a TCP stream only when reencrypt: a passthrough
// stream is TLS already), presenting g's client certificate.
func (t *translator) serviceBackend(svc *corev1.Service, sp *corev1.ServicePort, proto backendProto, g *gatewayCtx, reencrypt bool) string {
	// Thousands of routes share a few backends: the same question gets
	// the answer it got (what it did to the translator is done already).
	mk := backendMemoKey{svc, sp, proto, g, reencrypt}
	if name, ok := t.backendMemo[mk]; ok {
		return name
	}
	name := t.newServiceBackend(svc, sp, proto, g, reencrypt)
	t.backendMemo[mk] = name
	return name
}

// backendMemoKey is what serviceBackend's answer depends on.
type backendMemoKey struct {
	svc       *corev1.Service
	port      *corev1.ServicePort
	proto     backendProto
	g         *gatewayCtx
	reencrypt bool
}

func (t *translator) newServiceBackend(svc *corev1.Service, sp *corev1.ServicePort, proto backendProto, g *gatewayCtx, reencrypt bool) string {
	name := fmt.Sprintf("%s_%s_%d", svc.Namespace, svc.Name, sp.Port)
	b := &ir.Backend{Mode: ir.ModeHTTP, Comment: fmt.Sprintf("Service %s/%s port %d", svc.Namespace, svc.Name, sp.Port)}
	pc := t.policyFor(nn(svc), sp.Name)
	if proto == protoTCP && !reencrypt {
		pc = nil
	}
	switch proto {
	case protoH2C:
		b.H2 = true
		if pc != nil {
			name += "_h2"
			b.Comment += ", HTTP/2"
		} else {
			name += "_h2c"
			b.Comment += ", HTTP/2 over cleartext"
		}
	case protoTCP:
		name += "_tcp"
		b.Mode = ir.ModeTCP
		b.Comment += ", TCP"
	}
	if pc != nil {
		pc.ancestors[nn(g.gw)] = g
		name += "_tls"
		switch {
		case pc.tls == nil:
			b.Unusable = fmt.Sprintf("BackendTLSPolicy %s/%s cannot be applied: %s", pc.p.Namespace, pc.p.Name, pc.invalidMsg)
		case b.Mode == ir.ModeTCP && len(pc.tls.SANs) > 0:
			b.Unusable = fmt.Sprintf("BackendTLSPolicy %s/%s lists subjectAltNames that can only be checked on HTTP backends: connections are refused rather than reach the servers unverified.", pc.p.Namespace, pc.p.Name)
		default:
			up := *pc.tls
			if pc.ca != nil {
				t.cas[pc.ca.Path] = pc.ca
			}
			if g.clientCert != nil {
				up.ClientCert = g.clientCert.Path
				t.certs[g.clientCert.Path] = g.clientCert
				name += fmt.Sprintf("_from_%s_%s", g.gw.Namespace, g.gw.Name)
			}
			b.TLS = &up
		}
	}
	if _, ok := t.backends[name]; ok {
		return name
	}
	b.Name = name
	if b.Unusable != "" {
		b.Refuse = &ir.Refusal{Status: 503, Text: "The backend's TLS policy cannot be applied."}
		t.backends[name] = b
		return name
	}
	seen := map[string]bool{}
	for _, es := range t.idx.slices[nn(svc)] {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var port int32
		found := false
		for _, p := range es.Ports {
			pn := ""
			if p.Name != nil {
				pn = *p.Name
			}
			if pn == sp.Name && p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				port, found = *p.Port, true
			}
		}
		if !found || port < 1 || port > 65535 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready || len(ep.Addresses) == 0 {
				continue
			}
			addr, ok := canonicalIP(ep.Addresses[0])
			if !ok {
				continue
			}
			key := fmt.Sprintf("%s:%d", addr, port)
			if seen[key] {
				continue
			}
			seen[key] = true
			b.Servers = append(b.Servers, ir.Server{Name: serverName(addr, port), Address: addr, Port: port})
		}
	}
	sort.Slice(b.Servers, func(i, j int) bool { return b.Servers[i].Name < b.Servers[j].Name })
	t.backends[name] = b
	return name
}
