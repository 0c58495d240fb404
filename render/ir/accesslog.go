package ir

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
)

// AccessLog is where HAProxy writes its access log, one line per request
// (option httplog) or connection (option tcplog): AccessLogStdout,
// AccessLogOff, or a syslog server, as ParseAccessLog reads it. The zero
// value is AccessLogStdout.
type AccessLog string

const (
	// AccessLogStdout writes the lines to HAProxy's standard output,
	// unformatted ("log stdout format raw"): the container's log. HAProxy
	// never waits for its output: a line the pipe cannot take at once is
	// dropped and counted (DroppedLogs in "show info").
	AccessLogStdout AccessLog = "stdout"
	// AccessLogOff writes no access log.
	AccessLogOff AccessLog = "off"
)

// defaultSyslogPort is the standard syslog port, HAProxy's default too.
const defaultSyslogPort = 514

// ParseAccessLog reads an access log destination: "off", "stdout" (also
// ""), a syslog server over UDP as an IP address with an optional port
// ("10.0.0.5", "10.0.0.5:5140", "[2001:db8::5]:514"; port 514 when left
// out, an optional "udp@" before it), or the absolute path of a unix
// datagram socket ("/dev/log"). It returns the canonical form.
func ParseAccessLog(s string) (AccessLog, error) {
	switch s {
	case "", string(AccessLogStdout):
		return AccessLogStdout, nil
	case string(AccessLogOff):
		return AccessLogOff, nil
	}
	if strings.HasPrefix(s, "/") {
		if path.Clean(s) != s || strings.ContainsAny(s, " \t\r\n#'\"\\$,") {
			return "", fmt.Errorf("access log %q: a unix socket path must be clean and hold no spaces, quotes, '#', '$', ',' or '\\'", s)
		}
		return AccessLog(s), nil
	}
	addr := strings.TrimPrefix(s, "udp@")
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Port() != 0 && ap.Addr().Zone() == "" {
		return AccessLog(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()), nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")); err == nil && a.Zone() == "" {
		return AccessLog(netip.AddrPortFrom(a.Unmap(), defaultSyslogPort).String()), nil
	}
	return "", fmt.Errorf("access log %q: want off, stdout, a syslog server's IP address with an optional port (UDP, default %d), or the absolute path of a unix datagram socket such as /dev/log", s, defaultSyslogPort)
}

// String is the canonical form ParseAccessLog reads back.
func (a AccessLog) String() string {
	if a == "" {
		return string(AccessLogStdout)
	}
	return string(a)
}

// On reports whether HAProxy writes an access log.
func (a AccessLog) On() bool { return a != AccessLogOff }

// Stdout reports whether the log goes to standard output.
func (a AccessLog) Stdout() bool { return a == "" || a == AccessLogStdout }

// Socket reports whether the log goes to a unix datagram socket.
func (a AccessLog) Socket() bool { return strings.HasPrefix(string(a), "/") }

// Target is the global "log" line's arguments: the destination, then
// format and facility. Syslog gets HAProxy's default format and the
// local0 facility; raw lines to stdout carry neither, and the manual
// suggests "daemon" for them.
func (a AccessLog) Target() string {
	switch {
	case a.Stdout():
		return "stdout format raw daemon"
	case !a.On():
		return ""
	}
	return string(a) + " local0"
}

// Valid checks an AccessLog built without ParseAccessLog: it must be
// in the form ParseAccessLog returns.
func (a AccessLog) Valid() error {
	c, err := ParseAccessLog(string(a))
	if err != nil {
		return err
	}
	if c != a && a != "" {
		return fmt.Errorf("access log %q is not in canonical form (%q): parse it with ParseAccessLog", a, c)
	}
	return nil
}

// AccessLogFormat is the format of the access log lines: HAProxy's own
// (option httplog, option tcplog; the zero value) or JSON.
type AccessLogFormat string

const (
	// AccessLogHAProxy is HAProxy's httplog and tcplog formats.
	AccessLogHAProxy AccessLogFormat = "haproxy"
	// AccessLogJSON is a JSON object per line, naming the listener, the
	// route rule, the backend and server, TLS facts, status, bytes and
	// timers (README: Access logs).
	AccessLogJSON AccessLogFormat = "json"
)

// ParseAccessLogFormat reads "json" or "haproxy" ("" is haproxy).
func ParseAccessLogFormat(s string) (AccessLogFormat, error) {
	switch s {
	case "", string(AccessLogHAProxy):
		return AccessLogHAProxy, nil
	case string(AccessLogJSON):
		return AccessLogJSON, nil
	}
	return "", fmt.Errorf("access log format %q: want json or haproxy", s)
}

// JSON reports whether lines are JSON.
func (f AccessLogFormat) JSON() bool { return f == AccessLogJSON }
