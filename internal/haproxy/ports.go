package haproxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"

	"hagate.io/hagate/internal/bundle"
)

// binds are the TCP addresses haproxy.cfg binds ("127.0.0.1:443",
// ":::443"), unix sockets aside.
func binds(b *bundle.Bundle) map[string]bool {
	out := map[string]bool{}
	if b == nil {
		return out
	}
	f := b.Get(bundle.ConfigFile)
	if f == nil {
		return out
	}
	for _, line := range strings.Split(string(f.Content), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "bind" || strings.Contains(fields[1], "@") {
			continue
		}
		out[fields[1]] = true
	}
	return out
}

// checkNewPorts tries to bind, and at once releases, every address the
// next configuration binds and the running one does not: HAProxy's reload
// would fail on a port another process holds, and 2.6 pauses the running
// listeners for seconds while it retries.
func checkNewPorts(cur, next *bundle.Bundle) error {
	old := binds(cur)
	if cur == nil {
		old = map[string]bool{}
	}
	for addr := range binds(next) {
		if old[addr] {
			continue
		}
		network, host := "tcp", addr
		// ":::443" is every IPv6 (and, with v4v6, IPv4) address.
		if strings.HasPrefix(addr, ":::") {
			network, host = "tcp", "[::]:"+strings.TrimPrefix(addr, ":::")
		}
		// HAProxy binds with SO_REUSEPORT: so does the probe, so that a
		// port HAProxy itself holds (a restarted hagate attaching to it)
		// is not taken for another process's.
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
		ln, err := lc.Listen(context.Background(), network, host)
		if err != nil {
			return fmt.Errorf("address %s cannot be bound (in use by another process, or not permitted); the new configuration is not loaded and HAProxy keeps serving the last good one: %w", addr, err)
		}
		ln.Close()
	}
	return nil
}
