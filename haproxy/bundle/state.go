package bundle

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// State describes, as data, the part of a Bundle's configuration that
// HAProxy's Runtime API can change without a reload: the servers of each
// backend, the lines of each crt-list, the entries of each map, which
// files are certificates and which CA files; and, for the apply engine,
// the addresses haproxy.cfg binds and the folders whose files all belong
// to the Bundle. Whoever makes the Bundle fills it (templates, from the
// IR); it describes the files, it adds none.
//
// File paths are relative to the configuration root, like File.Path.
type State struct {
	// Backends are the backends of haproxy.cfg with their servers, sorted
	// by name; a backend without servers may be left out.
	Backends []Backend
	// Certificates are the paths of the certificate files (chain then
	// private key), sorted.
	Certificates []string
	// CAFiles are the paths of the CA files, sorted.
	CAFiles []string
	// CRLFiles are the paths of the certificate revocation list files,
	// sorted.
	CRLFiles []string
	// DefaultContextFiles are the CA and CRL files a bind's default TLS
	// context checks client certificates with (a crt-list whose default
	// line has only a negative filter, "!*"), sorted. HAProxy 2.6's
	// "commit ssl ca-file" and "commit ssl crl-file" update the contexts
	// of crt-list lines that select certificates by SNI, not that one
	// (tried here: the entry shows as Unused and the old CRL keeps being
	// applied), so a change to these files reloads.
	DefaultContextFiles []string
	// CrtLists are the crt-list files with their lines, sorted by path.
	CrtLists []CrtList
	// Maps are the map files with their entries, sorted by path.
	Maps []Map
	// TicketKeys are the paths of the TLS session-ticket keys files
	// (tls-ticket-keys): one base64 key a line, oldest first.
	TicketKeys []string
	// Binds are the TCP addresses haproxy.cfg binds, each once, sorted,
	// as "host:port" ("127.0.0.1:443", "[::1]:443", ":::443" for every
	// IPv4 and IPv6 address); unix sockets are not listed.
	Binds []string
	// Dirs are folders (with a trailing slash) of which every file is
	// the Bundle's: a file found there that the Bundle does not hold was
	// left by an earlier configuration.
	Dirs []string
}

// Backend is a backend of haproxy.cfg and its server lines.
type Backend struct {
	// Name is the backend's name.
	Name string
	// Servers are its server lines, in file order.
	Servers []Server
}

// Server is one server line of a backend: "server <Name> <Params>".
type Server struct {
	// Name is the server's name.
	Name string
	// Params are the line's arguments after the name, the address
	// first, exactly as haproxy.cfg writes them (paths absolute).
	Params string
}

// Line is the server line as haproxy.cfg writes it, indentation aside.
func (s Server) Line() string { return "server " + s.Name + " " + s.Params }

// CrtList is a crt-list file and its certificate lines.
type CrtList struct {
	// Path is the crt-list's path in the Bundle.
	Path string
	// Lines are the certificate lines, in file order (comments left
	// out). The first line's certificate is the bind's default one.
	Lines []CrtListLine
}

// CrtListLine is one line of a crt-list: a certificate, its SSL options
// and its SNI filters.
type CrtListLine struct {
	// Cert is the certificate's path in the Bundle.
	Cert string
	// Options are the SSL options, each "keyword value", written in
	// brackets; none writes no brackets.
	Options []string
	// SNIFilters are the names the line serves; a name starting with '!'
	// excludes it.
	SNIFilters []string
}

// Text is the line as the crt-list writes it, for a Bundle rendered for
// the configuration root root.
func (l CrtListLine) Text(root string) string {
	var b strings.Builder
	b.WriteString(Abs(root, l.Cert))
	if len(l.Options) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(l.Options, " "))
	}
	for _, f := range l.SNIFilters {
		b.WriteString(" " + f)
	}
	return b.String()
}

// Map is a map file and its entries.
type Map struct {
	// Path is the map's path in the Bundle.
	Path string
	// Entries are the map's entries, in file order (the first match wins
	// for suffix lookups).
	Entries []MapEntry
	// Ordered: haproxy.cfg takes the first match in file order (suffix
	// lookups, map_end), so an entry cannot be added at the end of the
	// running map: the map is replaced whole. Otherwise lookups are exact
	// and the keys unique: entries are added, deleted and set one by one.
	Ordered bool
	// Level orders the maps of a chain of lookups: the values of a map
	// are keys of maps of lower levels (a host finds a virtual host, then
	// a rule, then a backend). Entries are added lowest level first and
	// deleted highest level first, so that a request never finds a key
	// whose next lookup is missing.
	Level int
}

// MapEntry is one line of a map: a key and its value.
type MapEntry struct {
	// Key is the looked-up string.
	Key string
	// Value is the result.
	Value string
}

// Payload is the map's entries as the map file writes them, one
// "key value" line each, comments left out.
func (m Map) Payload() []byte {
	var b bytes.Buffer
	for _, e := range m.Entries {
		fmt.Fprintf(&b, "%s %s\n", e.Key, e.Value)
	}
	return b.Bytes()
}

// Abs is the absolute path of a Bundle path for the configuration root
// root, as haproxy.cfg and the crt-lists write it.
func Abs(root, p string) string { return path.Join(root, p) }
