package render

import (
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// The data plane can refuse what render found valid (an OpenSSL rule, an
// HAProxy limit render does not know). The agent then traces the refusal
// to the object responsible (ir.Origin) and renders again with
// Options.Refused: the object is left out, with a condition quoting
// HAProxy, and the rest of the configuration is served.

// refused returns HAProxy's reason for refusing what o produced, if it did.
func (t *translator) refused(o ir.Origin) (string, bool) {
	why, ok := t.opts.Refused[o]
	if !ok {
		return "", false
	}
	why = strings.TrimSpace(why)
	if why == "" {
		why = "no reason given"
	}
	return strings.TrimSuffix(why, "."), true
}

// refusedMsg is the sentence a condition gives for a refusal.
func refusedMsg(what, why string) string {
	return "HAProxy refused " + what + ": " + why + "."
}

func secretOrigin(ns, name string) ir.Origin {
	return ir.Origin{Kind: "Secret", Namespace: ns, Name: name}
}

func policyOrigin(p *gwapiv1.BackendTLSPolicy) ir.Origin {
	return ir.Origin{Kind: "BackendTLSPolicy", Namespace: p.Namespace, Name: p.Name}
}

// origin is the listener's Origin.
func (l *listenerCtx) origin() ir.Origin {
	if l.set != nil {
		return ir.Origin{Kind: kindListenerSet, Namespace: l.set.ls.Namespace, Name: l.set.ls.Name, Section: string(l.spec.Name)}
	}
	return ir.ListenerOrigin(l.g.gw.Namespace, l.g.gw.Name, string(l.spec.Name))
}
