package render

import (
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A listener's conditions are recorded where a check finds a problem, as a
// finding: the condition's type, reason and sentence, and its rank among
// the findings of that type. finishListeners only aggregates: the
// highest-ranked finding of a type gives the condition (findings of equal
// rank join their sentences); a type with none gets its positive
// condition.

// finding is one problem a check found on a listener.
type finding struct {
	typ    gwapiv1.ListenerConditionType
	reason gwapiv1.ListenerConditionReason
	msg    string
	rank   int
}

// Ranks: which finding of a condition type speaks, when several do.
const (
	// Accepted=False.
	rankSpecValue  = 1 // an unsupported value or protocol in the spec
	rankPort       = 2 // the port another process holds
	rankNoCA       = 3 // no usable CA for the port's client validation
	rankConflicted = 4 // another listener took the port or hostname
	// ResolvedRefs=False.
	rankRouteKinds = 1 // allowedRoutes kinds the listener cannot carry
	rankValidation = 2 // client-validation CA references
	rankCerts      = 3 // certificateRefs
	// Programmed=False.
	rankUnserved = 1 // the Gateway's addresses cannot be used
	rankRefused  = 2 // HAProxy refused the listener's configuration
)

// record notes a finding.
func (l *listenerCtx) record(typ gwapiv1.ListenerConditionType, rank int, reason gwapiv1.ListenerConditionReason, msg string) {
	l.findings = append(l.findings, finding{typ: typ, reason: reason, msg: msg, rank: rank})
}

// reject records why the listener is not accepted, and stops it from
// generating configuration.
func (l *listenerCtx) reject(rank int, reason gwapiv1.ListenerConditionReason, msg string) {
	l.accepted = false
	l.record(gwapiv1.ListenerConditionAccepted, rank, reason, msg)
}

// rejectValue rejects an unsupported value of the spec; msg is a sentence
// without its capital and final period.
func (l *listenerCtx) rejectValue(msg string) {
	l.reject(rankSpecValue, gwapiv1.ListenerReasonUnsupportedValue, upperFirst(msg)+".")
}

// top returns the highest-ranked findings of a type (in the order found)
// and whether there is any.
func (l *listenerCtx) top(typ gwapiv1.ListenerConditionType) ([]finding, bool) {
	best := 0
	for _, f := range l.findings {
		if f.typ == typ && f.rank > best {
			best = f.rank
		}
	}
	var out []finding
	for _, f := range l.findings {
		if f.typ == typ && f.rank == best {
			out = append(out, f)
		}
	}
	return out, len(out) > 0
}

// joined is the reason of the first finding and the findings' sentences.
func joined(fs []finding) (gwapiv1.ListenerConditionReason, string) {
	msgs := make([]string, len(fs))
	for i, f := range fs {
		msgs[i] = f.msg
	}
	return fs[0].reason, strings.Join(msgs, " ")
}
