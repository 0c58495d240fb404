package templates

import (
	"strings"

	"hagate.io/hagate/render/ir"
)

// jsonLog quotes a JSON log format for haproxy.cfg: the whole in double
// quotes, a double quote inside written \".
func jsonLog(fields ...string) string {
	s := "{" + strings.Join(fields, ",") + "}"
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// jsonHTTPLog is the JSON access log format of HTTP requests. Names
// hagate writes (frontends, backends, servers) need no escaping; what a
// client sends is escaped: the method and path by the +E flag (", \ and ]
// behind a backslash; HAProxy writes other unprintable bytes as #XX),
// the SNI, the User-Agent (captured by every HTTP frontend in JSON mode),
// the client certificate's subject and variables by the json converter.
var jsonHTTPLog = jsonLog(
	`"time":"%T"`,
	`"client":"%ci"`,
	`"client_port":%cp`,
	`"frontend":"%f"`,
	`"listener":"%[var(txn.vhost),field(1,@),json(utf8s)]"`,
	`"host":"%[var(txn.vhost),field(2,@),json(utf8s)]"`,
	`"rule":"%[var(txn.rule),field(1,|),json(utf8s)]"`,
	`"backend":"%b"`,
	`"server":"%s"`,
	`"method":"%{+E}HM"`,
	`"path":"%{+E}HP"`,
	`"user_agent":"%[capture.req.hdr(0),json(utf8s)]"`,
	`"status":%ST`,
	`"bytes_in":%U`,
	`"bytes_out":%B`,
	`"sni":"%[ssl_fc_sni,json(utf8s)]"`,
	`"tls_version":"%sslv"`,
	`"tls_cipher":"%sslc"`,
	`"client_cert_subject":"%[ssl_c_s_dn,json(utf8s)]"`,
	`"client_cert_verify":"%[ssl_c_verify]"`,
	`"timers_ms":{"request":%TR,"queue":%Tw,"connect":%Tc,"response":%Tr,"total":%Ta}`,
	`"termination":"%tsc"`,
)

// jsonTCPLog is the JSON access log format of TCP connections. The
// listener, route and SNI come from the variables the TCP frontends set in
// JSON mode (the tcpLogVars template): the SNI of a passthrough connection
// is read from its ClientHello.
var jsonTCPLog = jsonLog(
	`"time":"%T"`,
	`"client":"%ci"`,
	`"client_port":%cp`,
	`"frontend":"%f"`,
	`"listener":"%[var(txn.route),field(1,|),json(utf8s)]"`,
	`"route":"%[var(txn.route),field(2,|),json(utf8s)]"`,
	`"backend":"%b"`,
	`"server":"%s"`,
	`"sni":"%[var(txn.sni),json(utf8s)]"`,
	`"tls_version":"%sslv"`,
	`"tls_cipher":"%sslc"`,
	`"bytes_in":%U`,
	`"bytes_out":%B`,
	`"timers_ms":{"queue":%Tw,"connect":%Tc,"total":%Tt}`,
	`"termination":"%ts"`,
)

// logRoute is the value of txn.route for the JSON access log:
// "<listener>|<Kind>/<namespace>/<name>" of the route, "<listener>|" for a
// connection no route takes (closed, or handed to the frontend that
// terminates the listener).
func logRoute(r *ir.SNIRoute) string {
	v := r.Listener + "|"
	if r.Origin.Kind != "" {
		v += r.Origin.Kind + "/" + r.Origin.Namespace + "/" + r.Origin.Name
	}
	return v
}
