// Package ir holds hagate's intermediate representation: the HAProxy
// configuration as plain, HAProxy-shaped values (frontends, binds, crt-list
// entries, host maps, routing rules, backends, servers, certificates) with no
// Kubernetes types in it. render produces it; templates turn it into files.
//
// Every string in the IR that ends up in a configuration file has been
// validated by render for the context it is written in; templates still
// quote or escape it for that context.
package ir

import (
	"fmt"
	"time"
)

// Config is a whole HAProxy configuration.
type Config struct {
	// Frontends are the HTTP frontends, sorted by port.
	Frontends []*Frontend
	// TCPFrontends are the frontends in TCP mode (SNI routers, TLS
	// terminators of TLSRoutes, TCP ports of TCPRoutes), sorted by port
	// then name.
	TCPFrontends []*TCPFrontend
	// Backends are the upstream server pools, sorted by name.
	Backends []*Backend
	// Certificates are the PEM files (certificate chain then private key)
	// referenced by crt-list entries and servers, sorted by path.
	Certificates []*Certificate
	// CAFiles are the CA bundles binds and servers verify peers with,
	// sorted by path.
	CAFiles []*CAFile
	// CRLFiles are the certificate revocation lists (PEM) binds check
	// client certificates against, sorted by path.
	CRLFiles []*CAFile
	// Dates are the validity periods of the certificates and CA bundles
	// the configuration serves (metrics, alerts), sorted.
	Dates []CertificateDate
	// Closed and Error, when set, are the backends that close the TCP
	// connections no route takes (or whose backendRef does not resolve)
	// and answer 500 to the requests of a backendRef that does not
	// resolve; written after the others.
	Closed, Error *Backend
	// TLSTicketKeys, when set, are the session-ticket keys of the binds
	// that terminate TLS; nil leaves tickets off (no-tls-tickets).
	TLSTicketKeys *TicketKeys
	// Mirroring, when set, mirrors requests (rules with Mirrors).
	Mirroring *Mirroring
}

// Names of the backends that reach no Service.
const (
	// ClosedBackend closes TCP connections.
	ClosedBackend = "hagate-closed"
	// ErrorBackend answers HTTP requests 500.
	ErrorBackend = "hagate-invalid-backend"
)

// Refusal is what a backend answers instead of reaching servers: an HTTP
// status with a text (mode http), or the connection closed (mode tcp).
type Refusal struct {
	Status int
	Text   string
}

// CAFile is a bundle of PEM CA certificates.
type CAFile struct {
	// Path is relative to the configuration root, e.g. "cas/default/gw-443.pem".
	Path string
	// PEM is the file content.
	PEM []byte
	// Origin is what the bundle is for: a Gateway port's client
	// validation, or a BackendTLSPolicy.
	Origin Origin
}

// CertificateDate is the validity of a certificate (its leaf) or of a CA
// bundle (its certificate that expires first) the configuration uses.
type CertificateDate struct {
	// Use is what it is for: UseListener, UseBackendClient or UseCA.
	Use string
	// Kind, Namespace and Name are its Secret's; for UseCA, the object
	// that verifies peers with the bundle (a Gateway, whose Listener is
	// then "port/<port>", or a BackendTLSPolicy).
	Kind, Namespace, Name string
	// Gateway ("namespace/name"), Listener and ListenerSet
	// ("namespace/name", for a ListenerSet's listener) say where a
	// listener or backend client certificate is served.
	Gateway, Listener, ListenerSet string
	// Subject is the certificate's subject (RFC 2253).
	Subject string
	// NotBefore and NotAfter bound its validity.
	NotBefore, NotAfter time.Time
}

// Uses of a CertificateDate.
const (
	UseListener      = "listener"
	UseBackendClient = "backend-client"
	UseCA            = "ca"
)

// Origin names the Gateway API object a piece of configuration comes from,
// so that what HAProxy refuses can be traced to the object responsible
// and reported on it. The zero Origin stands for configuration no single
// object is responsible for.
type Origin struct {
	// Kind is the object's kind: Secret, Gateway, HTTPRoute, GRPCRoute,
	// TLSRoute, TCPRoute or BackendTLSPolicy.
	Kind string
	// Namespace and Name name the object.
	Namespace, Name string
	// Section narrows a Gateway: a listener's name, or "port/<N>" for the
	// client-certificate validation of a port.
	Section string
}

// IsZero reports whether no object is named.
func (o Origin) IsZero() bool { return o == Origin{} }

// String is "Kind namespace/name" with "/section" when set.
func (o Origin) String() string {
	s := o.Kind + " " + o.Namespace + "/" + o.Name
	if o.Section != "" {
		s += " " + o.Section
	}
	return s
}

// ListenerOrigin is the Origin of a Gateway listener.
func ListenerOrigin(namespace, gateway, listener string) Origin {
	return Origin{Kind: "Gateway", Namespace: namespace, Name: gateway, Section: listener}
}

// ValidationOrigin is the Origin of the client-certificate validation of
// a Gateway's port.
func ValidationOrigin(namespace, gateway string, port int32) Origin {
	return Origin{Kind: "Gateway", Namespace: namespace, Name: gateway, Section: fmt.Sprintf("port/%d", port)}
}

// SystemCA is the CAFile path that names the system's trust store
// (HAProxy's "@system-ca").
const SystemCA = "@system-ca"

// Protocol is what a frontend speaks on its port.
type Protocol string

const (
	// ProtocolHTTP is plain HTTP/1.1.
	ProtocolHTTP Protocol = "HTTP"
	// ProtocolHTTPS is HTTP over TLS terminated by HAProxy.
	ProtocolHTTPS Protocol = "HTTPS"
)

// Frontend is one listening port: all Gateway listeners on that port.
type Frontend struct {
	// Name is the HAProxy proxy name, e.g. "https-443".
	Name string
	// Port is the TCP port of the listeners.
	Port int32
	// Addresses are the IP addresses to bind (a Gateway's own); empty
	// means the default bind address.
	Addresses []string
	// Socket, when set, is the unix socket (relative to the configuration
	// root) the frontend binds instead of Port, accepting the PROXY
	// protocol: an SNI router in front hands it the connections of its
	// listeners.
	Socket string
	// Protocol is HTTP or HTTPS.
	Protocol Protocol
	// Listeners are the Gateway listeners served on this port, most
	// specific hostname first; for comments and SNI selection.
	Listeners []*Listener
	// TLS is the TLS termination of the bind; nil for plain HTTP.
	TLS *TLSBind

	// HostExact maps an exact request host to a virtual host name.
	HostExact []MapEntry
	// HostSuffix maps a host suffix (".example.com") to a virtual host
	// name, most specific first: the first match wins.
	HostSuffix []MapEntry
	// HostDefault is the virtual host of requests no map entry matches;
	// empty when there is none (the request gets 404).
	HostDefault string
	// HostVar keeps the request's host (lower case, without port) in the
	// variable txn.host, for a redirect that keeps the host or for both
	// host maps; otherwise the one lookup reads the Host header itself.
	HostVar bool

	// SNIExact, SNISuffix and SNIDefault map the TLS SNI to the name of
	// the listener that owns it (HTTPS only), to detect misdirected
	// requests (421). All empty when the port has one listener: no
	// request can be misdirected there.
	SNIExact []MapEntry
	// SNISuffix maps SNI suffixes to listener names, most specific first.
	SNISuffix []MapEntry
	// SNIDefault is the catch-all listener's name, if any.
	SNIDefault string

	// Matches select a route rule, in precedence order: the first match
	// wins. They are the matches of virtual hosts with a condition other
	// than the path (method, header, query parameter, regular
	// expression); the plain path matches of the other virtual hosts are
	// in PathExact and PathPrefix.
	Matches []*Match
	// PathExact maps "<virtual host>|<path>" to the rule of an Exact path
	// match (the first in precedence order), or to its backend for a
	// BackendByMap rule: one lookup instead of a line per match.
	PathExact []MapEntry
	// PathPrefix maps "<virtual host>|<prefix>" to the rule of a
	// PathPrefix match (prefix without trailing slash, "" for "/"), or to
	// its backend for a BackendByMap rule, looked up with the request
	// path's first PrefixDepth, then fewer, segments: the longest prefix
	// wins.
	PathPrefix []MapEntry
	// PrefixDepth is the most path segments of a PathPrefix key.
	PrefixDepth int
	// BackendByMap is set when some rules are BackendByMap: the request's
	// rule variable then names the backend itself, and one use_backend
	// line sends the request there.
	BackendByMap bool
	// RuleNames: the rule variable of a BackendByMap rule is
	// "<rule>|<backend>" (render.Options.RuleNames).
	RuleNames bool
	// ForwardedProto is the X-Forwarded-Proto sent to backends.
	ForwardedProto string
	// Rules are the route rules Matches select, sorted by name.
	Rules []*Rule
}

// TCPFrontend is a port, or part of one, served in TCP mode: an SNI
// router that reads the ClientHello without terminating TLS (TLS
// passthrough, or the entry of a port mixing passthrough and terminated
// TLS), a TLS terminator that forwards the decrypted stream, or a plain
// TCP port that forwards connections unread (TCPRoute).
type TCPFrontend struct {
	// Name is the HAProxy proxy name.
	Name string
	// Comment says what the frontend does.
	Comment string
	// Port is the TCP port of the listeners.
	Port int32
	// Addresses are the IP addresses to bind (a Gateway's own); empty
	// means the default bind address.
	Addresses []string
	// Socket, when set, is the unix socket the frontend binds instead of
	// Port, accepting the PROXY protocol.
	Socket string
	// Listeners are the Gateway listeners served, most specific first.
	Listeners []*Listener
	// TLS, when set, terminates TLS with these certificates and routes on
	// the SNI of the handshake; when nil the frontend inspects the
	// ClientHello and routes on its SNI, unless Plain.
	TLS *TLSBind
	// Plain: the port is plain TCP (a TCP listener): connections are not
	// read, and all go to Default.
	Plain bool
	// Routes select backends by SNI, most specific first: the first match
	// wins.
	Routes []*SNIRoute
	// Default takes connections no route matches (and those without
	// SNI; every connection of a Plain frontend); ClosedBackend when no
	// listener takes them.
	Default *SNIRoute
}

// SNIRoute sends the connections of one SNI name or suffix to backends.
type SNIRoute struct {
	// Comment names the listener and route.
	Comment string
	// Listener is the listener's name ("namespace/gateway/listener"),
	// empty for the connections no listener takes.
	Listener string
	// SNI is an exact name or "*.suffix" (any number of labels).
	SNI string
	// Backends share the connections by weight (ClosedBackend: they are
	// closed).
	Backends []WeightedBackend
	// Origin is the TLSRoute (TCPRoute), zero for a listener's closed
	// names.
	Origin Origin
}

// Listener is one Gateway listener as its frontend serves it.
type Listener struct {
	// Name is "namespace/gateway/listener"; virtual host names start with
	// it.
	Name string
	// Hostname is the listener hostname: exact, "*.suffix", or empty for
	// the catch-all.
	Hostname string
}

// MapEntry is one line of an HAProxy map file.
type MapEntry struct {
	// Key is the looked-up string (lower-case host, or ".suffix").
	Key string
	// Value is the result.
	Value string
}

// TLSBind is the TLS part of a frontend's bind line.
type TLSBind struct {
	// CrtList are the crt-list lines, in file order. The first line's
	// certificate is the default certificate of the bind.
	CrtList []CrtListEntry
	// StrictSNI rejects handshakes whose SNI matches no line; set when the
	// port has no catch-all listener.
	StrictSNI bool
	// ALPN is the list of protocols offered, e.g. h2, http/1.1.
	ALPN []string
	// ClientCA, when set, is the CAFile path client certificates are
	// verified against (frontend validation, for the whole port).
	ClientCA string
	// ClientCRL, when set, is the CRLFile path client certificates are
	// checked against (revoked ones fail verification).
	ClientCRL string
	// ClientOptional accepts connections without a valid client
	// certificate (AllowInsecureFallback): verification errors are
	// ignored and passed on in request headers.
	ClientOptional bool
}

// CrtListEntry is one crt-list line: a certificate and the SNI names it is
// served for.
type CrtListEntry struct {
	// Comment explains the line (listener and Secret).
	Comment string
	// Cert is the certificate's path relative to the configuration root.
	Cert string
	// SNIFilters are the names this line serves ("foo.example.com",
	// "*.example.com"); a name starting with '!' excludes it.
	SNIFilters []string
	// Options are the line's SSL options, each "keyword value"
	// ("ssl-min-ver TLSv1.3"), from the listener's TLS options.
	Options []string
	// Origin is the listener the line serves.
	Origin Origin
}

// Place is where a rule or match sits in its route: the rule's index and
// name (sectionName, may be empty) and the match's index (-1 for a rule).
// With the Origin it names every line a rule or match writes.
type Place struct {
	Rule     int
	RuleName string
	Match    int
}

// Match is one route match: when its conditions hold on a request of its
// virtual host, the request goes to Rule.
type Match struct {
	// Place is the match's rule and index in its route (Origin).
	Place Place
	// VHost is the virtual host the match belongs to.
	VHost string
	// PathExact, when set, is the exact path required.
	PathExact string
	// PathPrefix, when set, is the path prefix required, matched element
	// by element ("/a" matches "/a" and "/a/b", not "/ab"); without a
	// trailing slash, and never "/" (which matches everything).
	PathPrefix string
	// PathRegex, when set, is a regular expression the path must match.
	PathRegex string
	// Method, when set, is the HTTP method required.
	Method string
	// Headers are header conditions, all required.
	Headers []StringMatch
	// QueryParams are query parameter conditions, all required.
	QueryParams []StringMatch
	// Rule is the name of the rule selected, or the name of its backend
	// for a BackendByMap rule.
	Rule string
	// Origin is the route of the match.
	Origin Origin
}

// StringMatch is a condition on a named request value.
type StringMatch struct {
	// Name is the header or query parameter name.
	Name string
	// Value is the exact value, or the regular expression.
	Value string
	// Regex says Value is a regular expression.
	Regex bool
}

// Rule is what happens to a request once a match selected it.
type Rule struct {
	// Name identifies the rule: "namespace/route/index".
	Name string
	// Place is the rule's index and name in its route (Origin).
	Place Place
	// Redirect, when set, answers with a redirect and nothing else.
	Redirect *Redirect
	// Rewrite, when set, changes the request's host and path before it
	// is forwarded.
	Rewrite *Rewrite
	// CORS, when set, answers CORS preflight requests and adds the CORS
	// headers to the responses of allowed origins.
	CORS *CORS
	// RequestHeaders modify the request before it is forwarded.
	RequestHeaders *HeaderModifier
	// ResponseHeaders modify the response before it is returned.
	ResponseHeaders *HeaderModifier
	// Backends share the requests by weight. Empty: the rule answers 500.
	Backends []WeightedBackend
	// Timeout is the rule's server timeout (rules[].timeouts), an HAProxy
	// duration; its backends apply it. Empty: the defaults'.
	Timeout string
	// Mirrors copy the rule's forwarded requests to other backends
	// (RequestMirror filters), in filter order.
	Mirrors []Mirror
	// BackendByMap: the rule does nothing but send requests to its one
	// backend (no redirect, rewrite, CORS or header filter); the map
	// entries and matches that select it give that backend's name, and
	// it writes no line of its own.
	BackendByMap bool
	// Origin is the route of the rule.
	Origin Origin
}

// Redirect is an HTTP redirect answered by HAProxy.
type Redirect struct {
	// Scheme is the target scheme ("http" or "https"), empty to keep the
	// request's.
	Scheme string
	// Hostname is the target host, empty to keep the request's.
	Hostname string
	// Port is the port to write after the host; 0 writes none.
	Port int32
	// PathModifier, when set, changes the path of the location.
	PathModifier
	// Code is the HTTP status code (301, 302, 303, 307, 308).
	Code int
}

// PathModifier replaces a request's path, whole or its matched prefix.
// The zero value keeps the path.
type PathModifier struct {
	// FullPath replaces the whole path when set.
	FullPath string
	// PrefixReplace says the matched path prefix is replaced with
	// PrefixTo.
	PrefixReplace bool
	// Prefixes are the rule's PathPrefix matches (as Match.PathPrefix:
	// without trailing slash, "" for "/"), longest first; only letters,
	// digits and "/._~-".
	Prefixes []string
	// PrefixTo replaces the matched prefix; without trailing slash, ""
	// for "/".
	PrefixTo string
}

// CORS is a rule's cross-origin resource sharing policy (the CORS filter).
type CORS struct {
	// AnyOrigin allows every origin; otherwise OriginRegex, a regular
	// expression matched case-insensitively against the whole Origin
	// header, selects the allowed ones.
	AnyOrigin   bool
	OriginRegex string
	// AllowMethods, AllowHeaders and ExposeHeaders are the header values'
	// items; AnyMethod and AnyHeader echo what the preflight request asks
	// for.
	AllowMethods  []string
	AnyMethod     bool
	AllowHeaders  []string
	AnyHeader     bool
	ExposeHeaders []string
	// MaxAge is Access-Control-Max-Age, in seconds.
	MaxAge int32
	// Credentials sends Access-Control-Allow-Credentials: true.
	Credentials bool
}

// Rewrite changes the request before it is forwarded (the URLRewrite
// filter).
type Rewrite struct {
	// Hostname, when set, replaces the Host header.
	Hostname string
	// Path changes the path; the query string is kept.
	Path PathModifier
}

// HeaderModifier sets, adds and removes headers.
type HeaderModifier struct {
	// Set replaces every value of a header.
	Set []Header
	// Add appends a value.
	Add []Header
	// Remove deletes headers by name.
	Remove []string
}

// Header is a header name and value.
type Header struct {
	// Name is the header name.
	Name string
	// Value is the literal value.
	Value string
}

// WeightedBackend is one share of a rule's requests.
type WeightedBackend struct {
	// Backend is the backend name: a Service port's, or ErrorBackend
	// (HTTP) or ClosedBackend (TCP) for a backendRef that does not
	// resolve.
	Backend string
	// Weight is the share, relative to the rule's other backends; > 0.
	Weight int32
	// RequestHeaders and ResponseHeaders modify the requests of this share
	// and their responses (filters on the backendRef), after the rule's.
	RequestHeaders  *HeaderModifier
	ResponseHeaders *HeaderModifier
}

// Mode is an HAProxy proxy mode.
type Mode string

const (
	// ModeHTTP proxies HTTP requests.
	ModeHTTP Mode = "http"
	// ModeTCP proxies TCP streams.
	ModeTCP Mode = "tcp"
)

// Backend is a pool of servers: one Service port, spoken one way.
type Backend struct {
	// Name is the HAProxy proxy name, e.g. "default_web_8080".
	Name string
	// Mode is http or tcp.
	Mode Mode
	// H2 speaks HTTP/2 to the servers (gRPC, h2c, or h2 over TLS).
	H2 bool
	// TLS, when set, makes every server connect with TLS and verify the
	// server's certificate (BackendTLSPolicy).
	TLS *UpstreamTLS
	// Unusable, when set, says why the backend must not reach its
	// servers (a BackendTLSPolicy that cannot be applied): it has no
	// server and answers with Refuse.
	Unusable string
	// Refuse, when set, is what the backend answers instead of reaching
	// servers.
	Refuse *Refusal
	// Comment names the Service and port.
	Comment string
	// Servers are the ready endpoints, sorted by address.
	Servers []Server
	// Timeouts are the server timeouts of route rules that send here
	// (rules[].timeouts), sorted by rule.
	Timeouts []RuleTimeout
	// MirrorTimeout, when set, marks a backend of mirrored copies only
	// (see Mirroring): its connect and server timeouts, an HAProxy
	// duration.
	MirrorTimeout string
}

// RuleTimeout is the server timeout of the requests of one rule.
type RuleTimeout struct {
	// Rule is the rule's name (its txn.rule value).
	Rule string
	// Server is an HAProxy duration ("500ms", "2s", "24d": none).
	Server string
}

// UpstreamTLS is how servers of a backend speak TLS.
type UpstreamTLS struct {
	// CAFile is the CA bundle path (relative to the root), or SystemCA.
	CAFile string
	// SNI is the server name sent.
	SNI string
	// SANs, when set, are subject alternative names of which the server
	// certificate must hold at least one, each as the hex of its DER
	// encoding (GeneralName tag, length, value); checked on the response.
	// (The certificate is always checked against SNI in the handshake.)
	SANs []SANCheck
	// ClientCert, when set, is the certificate path presented to servers
	// (the Gateway's backend client certificate).
	ClientCert string
	// PolicyName names the BackendTLSPolicy, for comments.
	PolicyName string
	// Origin is the BackendTLSPolicy.
	Origin Origin
}

// SANCheck is one acceptable subject alternative name.
type SANCheck struct {
	// Display is the name as written in the policy.
	Display string
	// DERHex is the upper-case hex of its DER GeneralName encoding.
	DERHex string
}

// Server is one endpoint of a backend.
type Server struct {
	// Name is the server name, stable for one address.
	Name string
	// Address is the IPv4 or IPv6 address.
	Address string
	// Port is the TCP port.
	Port int32
	// Socket, when set, is a unix socket (relative to the configuration
	// root) of an internal frontend, reached with the PROXY protocol v2
	// instead of Address and Port.
	Socket string
}

// Certificate is a PEM file: certificate chain then private key.
type Certificate struct {
	// Path is relative to the configuration root, e.g.
	// "certs/default/foo.pem".
	Path string
	// PEM is the file content.
	PEM []byte
	// Origin is the Secret the certificate comes from.
	Origin Origin
}
