package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render/snapshot"
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

// ports remembers the listen addresses another process holds, so that
// each render tries them again (cheaply) instead of rendering twice.
type ports struct {
	// def is the default bind address (canonical), "" for all.
	def  string
	busy map[snapshot.ListenAddress]string
}

func newPorts(bindAddress string) *ports {
	def := ""
	if a, err := netip.ParseAddr(bindAddress); err == nil {
		def = a.Unmap().String()
	}
	return &ports{def: def, busy: map[snapshot.ListenAddress]string{}}
}

// recheck records in snap the remembered busy addresses that are still
// busy, and forgets those that are free again.
func (p *ports) recheck(snap *snapshot.Snapshot) {
	snap.UnusablePorts = nil
	for la := range p.busy {
		if err := haproxy.ProbeBind(p.bindOf(la)); err != nil {
			p.mark(snap, la, err)
			continue
		}
		delete(p.busy, la)
	}
}

// probe tries every address b binds that running does not (a port HAProxy
// already holds is left alone); it records the busy ones in snap and
// reports whether there was any.
func (p *ports) probe(snap *snapshot.Snapshot, b *bundle.Bundle, running map[string]bool) bool {
	found := false
	for addr := range haproxy.Binds(b) {
		if running[addr] {
			continue
		}
		err := haproxy.ProbeBind(addr)
		if err == nil {
			continue
		}
		for _, la := range p.listenOf(addr) {
			p.mark(snap, la, err)
			found = true
		}
	}
	return found
}

// portError records a bind the engine found busy at the last moment.
func (p *ports) portError(snap *snapshot.Snapshot, pe *haproxy.PortError) {
	for _, la := range p.listenOf(pe.Address) {
		p.mark(snap, la, pe.Err)
	}
}

func (p *ports) mark(snap *snapshot.Snapshot, la snapshot.ListenAddress, err error) {
	why := err.Error()
	if errors.Is(err, syscall.EADDRINUSE) {
		why = "another process holds it"
	}
	p.busy[la] = why
	if snap.UnusablePorts == nil {
		snap.UnusablePorts = map[snapshot.ListenAddress]string{}
	}
	snap.UnusablePorts[la] = why
}

// listenOf maps a bind address back to the listen addresses render knows:
// the default bind address is "".
func (p *ports) listenOf(addr string) []snapshot.ListenAddress {
	host, port, err := haproxy.SplitBind(addr)
	if err != nil {
		return nil
	}
	out := []snapshot.ListenAddress{{Address: host, Port: int32(port)}}
	if host != "" && host == p.def {
		out = append(out, snapshot.ListenAddress{Port: int32(port)})
	}
	return out
}

// bindOf is the bind address of a listen address, as templates write it.
func (p *ports) bindOf(la snapshot.ListenAddress) string {
	host := la.Address
	if host == "" {
		host = p.def
	}
	if host == "" {
		return fmt.Sprintf(":::%d", la.Port)
	}
	return netip.AddrPortFrom(netip.MustParseAddr(host), uint16(la.Port)).String()
}
