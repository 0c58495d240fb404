package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// bindGroup is where listeners are bound: a port on the default bind
// address, or on the addresses a Gateway asks for. Listeners of one group
// share a frontend; groups never share a socket.
type bindGroup struct {
	port int32
	// addrs are canonical IP addresses joined by ","; "" is the default
	// bind address.
	addrs string
}

func (l *listenerCtx) group() bindGroup {
	return bindGroup{port: int32(l.spec.Port), addrs: l.g.addrKey}
}

// name is a frontend name for the group: "<prefix>-<port>", followed by
// the addresses for a Gateway's own.
func (b bindGroup) name(prefix string) string {
	n := fmt.Sprintf("%s-%d", prefix, b.port)
	if b.addrs != "" {
		n += "-" + strings.ReplaceAll(b.addrs, ",", "_")
	}
	return n
}

// socket is the file name of an internal socket of the group,
// "<prefix>-<port><suffix>.sock" (unix socket paths are short: a Gateway's
// addresses become a hash after the port).
func (b bindGroup) socket(prefix, suffix string) string {
	n := fmt.Sprintf("%s-%d", prefix, b.port)
	if b.addrs != "" {
		sum := sha256.Sum256([]byte(b.addrs))
		n += "-" + hex.EncodeToString(sum[:4])
	}
	return n + suffix + ".sock"
}

func (b bindGroup) addresses() []string {
	if b.addrs == "" {
		return nil
	}
	return strings.Split(b.addrs, ",")
}

// resolveAddresses reads the Gateways' spec.addresses, oldest Gateway
// first. IPAddress values are bound (instead of the default bind address)
// when the snapshot does not say they cannot be; an empty value asks for
// the default. Any other type, or a value that is not an IP address, makes
// the Gateway not Accepted (UnsupportedAddress), and it is not served. An
// address that cannot be bound here, or that an older Gateway binds with
// a different set of addresses (two frontends on one socket would share
// its connections at random), is left out and the Gateway is not
// Programmed (AddressNotUsable); its listeners are still served on the
// addresses left, or not at all when none is.
func (t *translator) resolveAddresses() {
	owner := map[string]*gatewayCtx{} // address -> the older Gateway binding it
	for _, g := range t.gateways {
		if t.opts.Provisioned {
			if bad := requestedValid(g.gw); len(bad) > 0 {
				g.addrUnsupported = "Unsupported address(es): " + strings.Join(bad, "; ") + ". The Gateway is not served."
				g.unserved = true
				continue
			}
			t.serviceAddresses(g)
			continue
		}
		var set, unsupported, unusable []string
		asked := false
		for _, a := range g.gw.Spec.Addresses {
			typ := gwapiv1.IPAddressType
			if a.Type != nil {
				typ = *a.Type
			}
			if typ != gwapiv1.IPAddressType {
				unsupported = append(unsupported, fmt.Sprintf("%q of type %s (only IPAddress is supported)", a.Value, typ))
				continue
			}
			if a.Value == "" {
				continue // any address: the default one
			}
			ip, ok := canonicalIP(a.Value)
			if !ok {
				unsupported = append(unsupported, fmt.Sprintf("%q is not an IP address", a.Value))
				continue
			}
			asked = true
			if why, bad := t.snap.UnusableAddresses[ip]; bad {
				unusable = append(unusable, fmt.Sprintf("%s cannot be bound here (%s)", ip, why))
				continue
			}
			if !slices.Contains(set, ip) {
				set = append(set, ip)
			}
		}
		slices.Sort(set)
		key := strings.Join(set, ",")
		kept := set[:0:0]
		for _, ip := range set {
			if o := owner[ip]; o != nil && o.addrKey != key {
				unusable = append(unusable, fmt.Sprintf("%s is bound by the older Gateway %s/%s with other addresses (%s)", ip, o.gw.Namespace, o.gw.Name, o.addrKey))
				continue
			}
			kept = append(kept, ip)
		}
		switch {
		case len(unsupported) > 0:
			g.addrUnsupported = "Unsupported address(es): " + strings.Join(unsupported, "; ") + ". The Gateway is not served."
			g.unserved = true
		case asked && len(kept) == 0:
			g.addrUnusable = "No address of the Gateway can be used: " + strings.Join(unusable, "; ") + ". The Gateway is not served."
			g.unserved = true
		case len(unusable) > 0:
			g.addrUnusable = "Address(es) left out: " + strings.Join(unusable, "; ") + ". The listeners are served on " + strings.Join(kept, ", ") + "."
		}
		if g.unserved {
			continue
		}
		g.addrKey = strings.Join(kept, ",")
		for _, ip := range kept {
			if owner[ip] == nil {
				owner[ip] = g
			}
		}
		for _, ip := range kept {
			g.status.Addresses = append(g.status.Addresses, gwapiv1.GatewayStatusAddress{Type: new(gwapiv1.IPAddressType), Value: ip})
		}
	}
}
