package templates

import "strings"

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
// the SNI and variables by the json converter.
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
	`"status":%ST`,
	`"bytes_in":%U`,
	`"bytes_out":%B`,
	`"sni":"%[ssl_fc_sni,json(utf8s)]"`,
	`"tls_version":"%sslv"`,
	`"tls_cipher":"%sslc"`,
	`"client_cert_verify":"%[ssl_c_verify]"`,
	`"timers_ms":{"request":%TR,"queue":%Tw,"connect":%Tc,"response":%Tr,"total":%Ta}`,
	`"termination":"%tsc"`,
)

// jsonTCPLog is the JSON access log format of TCP connections.
var jsonTCPLog = jsonLog(
	`"time":"%T"`,
	`"client":"%ci"`,
	`"client_port":%cp`,
	`"frontend":"%f"`,
	`"backend":"%b"`,
	`"server":"%s"`,
	`"sni":"%[ssl_fc_sni,json(utf8s)]"`,
	`"tls_version":"%sslv"`,
	`"bytes_in":%U`,
	`"bytes_out":%B`,
	`"timers_ms":{"queue":%Tw,"connect":%Tc,"total":%Tt}`,
	`"termination":"%ts"`,
)
