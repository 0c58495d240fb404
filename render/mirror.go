package render

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// Request mirroring (the RequestMirror filter of HTTPRoute rules): see
// ir.Mirroring for how HAProxy 2.6 does it. A rule's mirrors copy the
// requests it forwards (not those it redirects or answers itself), after
// the rule's own rewrite and header filters, before a backendRef's.

// The limits of mirroring, the same for every configuration (README,
// "Request mirroring").
const (
	// mirrorMaxInFlight bounds the copies in flight to one mirror backend
	// in an HAProxy worker.
	mirrorMaxInFlight = 256
	// mirrorTimeoutMs bounds a copy's connection to a mirror's server
	// (each of two tries) and the wait for its answer: the mirror
	// backends' timeout connect and timeout server; whole seconds.
	mirrorTimeoutMs = 5000
	// mirrorTaskTimeoutMs bounds a Lua task: longer than the 3 timeouts
	// above one after the other.
	mirrorTaskTimeoutMs = 4 * mirrorTimeoutMs
	// mirrorBodyWait is how long a mirrored rule waits for the request
	// body: as long as a client may take to send its headers (timeout
	// http-request in haproxy.cfg.tmpl).
	mirrorBodyWait = "10s"
	// mirrorSocket is the mirror frontend's socket, in the configuration
	// root.
	mirrorSocket = "mirror.sock"
)

// mirrorRef is a RequestMirror filter checked: a Service port and the
// share of requests copied to it, or why it cannot be.
type mirrorRef struct {
	svc   *corev1.Service
	port  *corev1.ServicePort
	proto backendProto
	// num out of den requests are copied.
	num, den int32
	// problem is why the backendRef does not resolve: the mirror gets no
	// copies, the rule is served.
	problem *routeProblem
}

// compileMirror checks a RequestMirror filter of a rule of a route of kind
// fromKind in namespace ns. An invalid share (the API server refuses it;
// a file may hold it) is an error: the rule is not served. A backendRef
// that does not resolve is a problem of the mirror only.
func (t *translator) compileMirror(fromKind, ns string, f *gwapiv1.HTTPRequestMirrorFilter) (mirrorRef, error) {
	m := mirrorRef{num: 1, den: 1, proto: protoHTTP}
	if f == nil {
		return m, fmt.Errorf("a RequestMirror filter needs its requestMirror field")
	}
	switch {
	case f.Percent != nil && f.Fraction != nil:
		return m, fmt.Errorf("a RequestMirror filter takes percent or fraction, not both")
	case f.Percent != nil:
		if *f.Percent < 0 || *f.Percent > 100 {
			return m, fmt.Errorf("RequestMirror percent %d is not between 0 and 100", *f.Percent)
		}
		m.num, m.den = *f.Percent, 100
	case f.Fraction != nil:
		m.num, m.den = f.Fraction.Numerator, 100
		if f.Fraction.Denominator != nil {
			m.den = *f.Fraction.Denominator
		}
		if m.num < 0 || m.den < 1 || m.num > m.den {
			return m, fmt.Errorf("RequestMirror fraction %d/%d is not a fraction between 0 and 1", m.num, m.den)
		}
	}
	ref := f.BackendRef
	fail := func(reason gwapiv1.RouteConditionReason, msg string) (mirrorRef, error) {
		m.problem = &routeProblem{reason, msg + " The mirror gets no copies; the rule's requests are served."}
		return m, nil
	}
	spec := refSpec{label: "RequestMirror backendRef", want: "Service", supported: "only core Services are supported", fromKind: fromKind, fromNS: ns}
	n, prob := t.resolveRef(spec, deref(ref.Group, ""), deref(ref.Kind, "Service"), deref(ref.Namespace, ""), string(ref.Name))
	if prob != nil {
		reason := gwapiv1.RouteReasonRefNotPermitted
		if prob.kind == refWrongKind {
			reason = gwapiv1.RouteReasonInvalidKind
		}
		return fail(reason, prob.msg)
	}
	svc, ok := t.idx.service(n)
	if !ok {
		return fail(gwapiv1.RouteReasonBackendNotFound, notFound("Service", n).msg)
	}
	if ref.Port == nil {
		return fail(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("RequestMirror backendRef to Service %s has no port.", n))
	}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if sp.Port == *ref.Port && (sp.Protocol == "" || sp.Protocol == corev1.ProtocolTCP) {
			m.svc, m.port = svc, sp
			if sp.AppProtocol != nil && *sp.AppProtocol == appProtocolH2C {
				m.proto = protoH2C
			}
			return m, nil
		}
	}
	return fail(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s has no TCP port %d.", n, *ref.Port))
}

// ruleMirrors are the mirrors of a compiled rule served for Gateway g,
// with their backends: mirrors that copy nothing (a share of 0, a
// backendRef that does not resolve) are left out.
func (t *translator) ruleMirrors(cr *compiledRule, g *gatewayCtx) []ir.Mirror {
	var out []ir.Mirror
	for _, m := range cr.mirrors {
		if m.problem != nil || m.num == 0 {
			continue
		}
		out = append(out, ir.Mirror{
			Backend:     t.mirrorBackend(m, g),
			Numerator:   m.num,
			Denominator: m.den,
			Service:     fmt.Sprintf("Service %s/%s port %d", m.svc.Namespace, m.svc.Name, m.port.Port),
		})
	}
	return out
}

// mirrorBackend returns the name of the mirror backend of a Service port
// for Gateway g: the Service port's backend (same servers, TLS, protocol;
// endpoints change through the Runtime API as for any backend) under its
// own name, with the timeouts of a copy. The Service port's own backend
// is left in the configuration only if a rule sends requests to it.
func (t *translator) mirrorBackend(m mirrorRef, g *gatewayCtx) string {
	mk := backendMemoKey{m.svc, m.port, m.proto, g, false}
	_, remembered := t.backendMemo[mk]
	before := len(t.backends)
	name := t.serviceBackend(m.svc, m.port, m.proto, g, false)
	madeNow := !remembered && len(t.backends) > before
	src := t.backends[name]
	mirror := name + "_mirror"
	if _, ok := t.backends[mirror]; !ok {
		b := *src
		b.Name = mirror
		b.Comment = src.Comment + ": copies of mirrored requests (RequestMirror), their answers discarded"
		b.Servers = slices.Clone(src.Servers)
		b.Timeouts = nil
		b.MirrorTimeout = strconv.Itoa(mirrorTimeoutMs/1000) + "s"
		if src.TLS != nil {
			tls := *src.TLS
			b.TLS = &tls
		}
		t.backends[mirror] = &b
	}
	if madeNow {
		// Made for this mirror only: a rule that sends requests to the
		// Service port makes it again, the same way.
		delete(t.backends, name)
		delete(t.backendMemo, mk)
	}
	mr := t.res.Config.Mirroring
	if mr == nil {
		mr = &ir.Mirroring{Socket: mirrorSocket, MaxInFlight: mirrorMaxInFlight, TaskTimeoutMs: mirrorTaskTimeoutMs, BodyWait: mirrorBodyWait}
		t.res.Config.Mirroring = mr
	}
	if i, found := slices.BinarySearch(mr.Backends, mirror); !found {
		mr.Backends = slices.Insert(mr.Backends, i, mirror)
	}
	return mirror
}
