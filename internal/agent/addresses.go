package agent

import (
	"errors"
	"net"
	"net/netip"
	"syscall"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/internal/snapshot"
)

// checkAddresses records in snap the Gateway addresses (spec.addresses of
// type IPAddress) this host cannot bind: it binds each one on an ephemeral
// port and lets go at once. render leaves those out (AddressNotUsable).
func checkAddresses(snap *snapshot.Snapshot) {
	snap.UnusableAddresses = nil
	seen := map[string]bool{}
	for _, g := range snap.Gateways {
		for _, a := range g.Spec.Addresses {
			if a.Type != nil && *a.Type != gwapiv1.IPAddressType {
				continue
			}
			ip, err := netip.ParseAddr(a.Value)
			if err != nil || ip.Zone() != "" {
				continue
			}
			key := ip.Unmap().String()
			if seen[key] {
				continue
			}
			seen[key] = true
			if why := bindable(ip.Unmap()); why != "" {
				if snap.UnusableAddresses == nil {
					snap.UnusableAddresses = map[string]string{}
				}
				snap.UnusableAddresses[key] = why
			}
		}
	}
}

// bindable says why ip cannot be bound here ("" when it can).
func bindable(ip netip.Addr) string {
	l, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return "not an address of this host"
		}
		return err.Error()
	}
	l.Close()
	return ""
}
