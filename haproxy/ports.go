package haproxy

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"

	"hagate.io/hagate/haproxy/bundle"
)

// Binds are the TCP addresses a Bundle's haproxy.cfg binds, as
// "host:port" ("127.0.0.1:443", "[::1]:443", ":::443" for every address),
// unix sockets aside: those its State lists, or for a Bundle read from
// disk (no State), those its bind lines name.
func Binds(b *bundle.Bundle) map[string]bool {
	out := map[string]bool{}
	if b == nil {
		return out
	}
	if b.State != nil {
		for _, a := range b.State.Binds {
			out[a] = true
		}
		return out
	}
	f := b.Get(bundle.ConfigFile)
	if f == nil {
		return out
	}
	return bindsOf(f.Content)
}

// bindsOf reads the bind addresses of a haproxy.cfg hagate did not render
// in this process (read from disk): every "bind" line's first word, unix
// sockets aside; a bind line with several addresses gives each.
func bindsOf(cfg []byte) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(string(cfg), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "bind" || strings.Contains(fields[1], "@") {
			continue
		}
		for _, a := range strings.Split(fields[1], ",") {
			out[a] = true
		}
	}
	return out
}

// BindsOfFile reads the bind addresses of a haproxy.cfg on disk (what an
// HAProxy started earlier runs); none when it cannot be read.
func BindsOfFile(path string) map[string]bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return map[string]bool{}
	}
	return bindsOf(data)
}

// SplitBind parses a bind address as Binds writes it: host ("" for
// every address, ":::443") and port.
func SplitBind(addr string) (host string, port int, err error) {
	if strings.HasPrefix(addr, ":::") {
		p, err := strconv.Atoi(strings.TrimPrefix(addr, ":::"))
		return "", p, err
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", 0, err
	}
	return ap.Addr().Unmap().String(), int(ap.Port()), nil
}

// ProbeBind tries to bind a TCP address as HAProxy would (SO_REUSEADDR
// and SO_REUSEPORT; ":::443" on every IPv6 and IPv4 address), without
// listening, and lets go at once: it fails when another process holds
// the address (or it is not this host's). Not listening matters: a
// listening probe on a port HAProxy serves would join its SO_REUSEPORT
// group and could take, then reset, a client's connection.
func ProbeBind(addr string) error {
	host, port, err := SplitBind(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if port < 1 || port > 65535 {
		return fmt.Errorf("address %q: port out of range", addr)
	}
	var sa syscall.Sockaddr
	family := syscall.AF_INET6
	switch {
	case host == "":
		sa = &syscall.SockaddrInet6{Port: port}
	default:
		ip := netip.MustParseAddr(host)
		if ip.Is4() {
			family = syscall.AF_INET
			sa = &syscall.SockaddrInet4{Port: port, Addr: ip.As4()}
		} else {
			sa = &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}
		}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if family == syscall.AF_INET6 && host == "" {
		// v4v6: the IPv4 addresses too, whatever net.ipv6.bindv6only says.
		if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0); err != nil {
			return err
		}
	}
	for _, opt := range []int{syscall.SO_REUSEADDR, 0xf /* SO_REUSEPORT */} {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, opt, 1); err != nil {
			return err
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return err
	}
	return nil
}

// checkNewPorts tries every address the next configuration binds and the
// running one does not: HAProxy's reload would fail on a port another
// process holds, and 2.6 pauses the running listeners for seconds while
// it retries. The agent predicts this before rendering; this is the last
// guard against a port taken in between.
func checkNewPorts(cur, next *bundle.Bundle) error {
	old := Binds(cur)
	for addr := range Binds(next) {
		if old[addr] {
			continue
		}
		if err := ProbeBind(addr); err != nil {
			return &PortError{Address: addr, Err: err}
		}
	}
	return nil
}

// PortError is an address the next configuration binds that cannot be
// bound.
type PortError struct {
	// Address is the bind address, as Binds gives it.
	Address string
	Err     error
}

func (e *PortError) Error() string {
	return fmt.Sprintf("address %s cannot be bound (in use by another process, or not permitted); the new configuration is not loaded and HAProxy keeps serving the last good one: %v", e.Address, e.Err)
}

func (e *PortError) Unwrap() error { return e.Err }
