package controller

import (
	"fmt"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/snapshot"
)

// expiryEvents writes a Warning event (reason CertificateExpiring) for
// each served certificate within o.ExpiryWarning of its expiry, on the
// object that serves it (the ListenerSet of a ListenerSet's listener,
// else the Gateway; the BackendTLSPolicy of a policy's CA bundle), once
// per certificate and day.
func (r *reconciler) expiryEvents(snap *snapshot.Snapshot, dates []ir.CertificateDate, now time.Time) {
	if r.o.ExpiryWarning <= 0 {
		return
	}
	day := now.UTC().Format(time.DateOnly)
	if r.warnedDay != day {
		r.warnedDay, r.warned = day, map[string]bool{}
	}
	for _, d := range dates {
		left := d.NotAfter.Sub(now)
		if left > r.o.ExpiryWarning {
			continue
		}
		key := strings.Join([]string{d.Use, d.Kind, d.Namespace, d.Name, d.Gateway, d.ListenerSet, d.Listener, d.NotAfter.String()}, "|")
		if r.warned[key] {
			continue
		}
		objs := expiryTargets(snap, d)
		if len(objs) == 0 {
			continue
		}
		r.warned[key] = true
		for _, o := range objs {
			r.events.Eventf(o, nil, corev1.EventTypeWarning, "CertificateExpiring", "Serve", "%s", expiryMessage(d, left))
		}
	}
}

// expiryMessage says which certificate expires when.
func expiryMessage(d ir.CertificateDate, left time.Duration) string {
	what := fmt.Sprintf("The certificate in Secret %s/%s (%s)", d.Namespace, d.Name, d.Subject)
	switch d.Use {
	case ir.UseListener:
		what += " served on listener " + d.Listener
	case ir.UseBackendClient:
		what += ", the client certificate presented to TLS backends,"
	case ir.UseCA:
		what = fmt.Sprintf("A CA certificate (%s) of the bundle %s %s/%s verifies peers with", d.Subject, d.Kind, d.Namespace, d.Name)
	}
	when := d.NotAfter.UTC().Format(time.RFC3339)
	if left < 0 {
		return fmt.Sprintf("%s expired on %s.", what, when)
	}
	return fmt.Sprintf("%s expires on %s (in %d day(s)).", what, when, int(math.Ceil(left.Hours()/24)))
}

// expiryTargets are the objects an expiry event is written on, from the
// Snapshot: the Gateway, and the ListenerSet of a ListenerSet's listener
// (the data plane of a provisioned Gateway may write events in its
// Gateway's namespace only: the Gateway's always reaches its owners); the
// BackendTLSPolicy of a policy's CA bundle.
func expiryTargets(snap *snapshot.Snapshot, d ir.CertificateDate) []runtime.Object {
	split := func(s string) types.NamespacedName {
		ns, name, _ := strings.Cut(s, "/")
		return types.NamespacedName{Namespace: ns, Name: name}
	}
	var out []runtime.Object
	if d.Use == ir.UseCA && d.Kind == "BackendTLSPolicy" {
		for _, p := range snap.BackendTLSPolicies {
			if p.Namespace == d.Namespace && p.Name == d.Name {
				out = append(out, p)
			}
		}
		return out
	}
	gw := split(d.Gateway)
	if d.Use == ir.UseCA {
		gw = types.NamespacedName{Namespace: d.Namespace, Name: d.Name}
	}
	for _, g := range snap.Gateways {
		if nn(g) == gw {
			out = append(out, g)
		}
	}
	if d.ListenerSet != "" {
		for _, ls := range snap.ListenerSets {
			if nn(ls) == split(d.ListenerSet) {
				out = append(out, ls)
			}
		}
	}
	return out
}
