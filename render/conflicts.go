package render

import (
	"fmt"
	"sort"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// resolveConflicts marks listeners that share a port but not a protocol,
// or a port, protocol and hostname. Within a Gateway every listener of a
// conflict is rejected; across Gateways the older Gateway keeps the port.
func (t *translator) resolveConflicts() {
	claimed := map[bindGroup][]*listenerCtx{} // listeners of older Gateways, by port and addresses
	for _, g := range t.gateways {
		if g.unserved {
			continue // claims nothing: its addresses are not usable
		}
		mine := map[bindGroup][]*listenerCtx{}
		for _, l := range g.listeners {
			if l.accepted {
				mine[l.group()] = append(mine[l.group()], l)
			}
		}
		for bg, ls := range mine {
			port := bg.port
			// Within the Gateway.
			fams, protos := map[string]bool{}, map[string]bool{}
			for _, l := range ls {
				fams[l.family()] = true
				protos[string(l.spec.Protocol)] = true
			}
			if len(fams) > 1 {
				what := "plain HTTP and TLS listeners"
				if fams["TCP"] {
					what = "TCP and other listeners"
				}
				for _, l := range ls {
					t.conflict(l, gwapiv1.ListenerReasonProtocolConflict,
						fmt.Sprintf("Port %d carries %s (%s) in this Gateway; none of them is served.", port, what, strings.Join(sortedKeys(protos), ", ")))
				}
				continue
			}
			seen := map[string][]*listenerCtx{}
			for _, l := range ls {
				seen[l.hostname] = append(seen[l.hostname], l)
			}
			for h, same := range seen {
				if len(same) < 2 {
					continue
				}
				if same[0].kind == lkTCP {
					for _, l := range same {
						t.conflict(l, gwapiv1.ListenerReasonProtocolConflict, tcpListenersConflict(listenerNames(same), port))
					}
					continue
				}
				for _, l := range same {
					t.conflict(l, gwapiv1.ListenerReasonHostnameConflict,
						fmt.Sprintf("Listeners %s on port %d have the same hostname %q; none of them is served.", listenerNames(same), port, h))
				}
			}
			// Against older Gateways.
			for _, l := range ls {
				if !l.conflicted {
					t.conflictWithClaimed(l, claimed[bg], " of an older Gateway")
				}
			}
		}
		for _, l := range g.listeners {
			if l.accepted && !l.conflicted {
				claimed[l.group()] = append(claimed[l.group()], l)
			}
		}
		// The listeners of its ListenerSets come after the Gateway's own
		// and those of older ListenerSets (and, within a ListenerSet,
		// after its earlier listeners): the first one keeps the port or
		// hostname.
		for _, s := range g.sets {
			for _, l := range s.listeners {
				if !l.accepted {
					continue
				}
				t.conflictWithClaimed(l, claimed[l.group()], ", which takes precedence (the Gateway's own listeners, then ListenerSets oldest first)")
				if !l.conflicted {
					claimed[l.group()] = append(claimed[l.group()], l)
				}
			}
		}
	}
}

// conflictWithClaimed marks l conflicted when a listener that claimed its
// port before (why says why that one wins) speaks another protocol,
// validates client certificates differently, or has the same hostname.
func (t *translator) conflictWithClaimed(l *listenerCtx, claimed []*listenerCtx, why string) {
	port := l.spec.Port
	for _, o := range claimed {
		if o.family() != l.family() {
			t.conflict(l, gwapiv1.ListenerReasonProtocolConflict,
				fmt.Sprintf("Port %d is already used with protocol %s by listener %s%s.", port, o.spec.Protocol, o.name, why))
			return
		}
		if o.kind == lkHTTPS && l.kind == lkHTTPS && o.validation.key() != l.validation.key() {
			t.conflict(l, gwapiv1.ListenerReasonProtocolConflict,
				fmt.Sprintf("Port %d already validates client certificates differently for listener %s%s: validation is per port.", port, o.name, why))
			return
		}
		if l.kind == lkTCP {
			t.conflict(l, gwapiv1.ListenerReasonProtocolConflict,
				fmt.Sprintf("Port %d is already served by TCP listener %s%s: a TCP port carries one listener.", port, o.name, why))
			return
		}
		if o.hostname == l.hostname {
			t.conflict(l, gwapiv1.ListenerReasonHostnameConflict,
				fmt.Sprintf("Hostname %q on port %d is already served by listener %s%s.", l.hostname, port, o.name, why))
			return
		}
	}
}

func (t *translator) conflict(l *listenerCtx, reason gwapiv1.ListenerConditionReason, msg string) {
	if l.conflicted {
		return
	}
	l.conflicted = true
	l.record(gwapiv1.ListenerConditionConflicted, rankConflicted, reason, msg)
	l.record(gwapiv1.ListenerConditionAccepted, rankConflicted, reason, "The listener conflicts with another listener on its port; see the Conflicted condition.")
	l.record(gwapiv1.ListenerConditionProgrammed, rankConflicted, reason, "The listener conflicts with another listener on its port and is not served.")
}

func listenerNames(ls []*listenerCtx) string {
	var names []string
	for _, l := range ls {
		names = append(names, string(l.spec.Name))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// detectOverlaps finds TLS listeners sharing a port whose hostnames
// overlap (one matches names of the other): a client may reuse a
// connection made for one to reach the other.
func (t *translator) detectOverlaps() {
	byGroup := map[bindGroup][]*listenerCtx{}
	for _, l := range t.listeners {
		if l.accepted && !l.conflicted && l.terminates() {
			byGroup[l.group()] = append(byGroup[l.group()], l)
		}
	}
	for _, ls := range byGroup {
		for _, a := range ls {
			for _, b := range ls {
				if a != b && (covers(a.hostname, b.hostname) || covers(b.hostname, a.hostname)) {
					a.overlaps = append(a.overlaps, b.name)
				}
			}
		}
	}
}
