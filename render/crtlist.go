package render

import (
	"fmt"
	"slices"
	"strings"

	"hagate.io/hagate/render/ir"
)

// catchAllFilter is the SNI filter of the default certificate's crt-list
// line: a negative filter only, so the certificate's own names are not
// indexed and it is served only when no other line matches.
const catchAllFilter = "!*"

// tlsBind builds the crt-list of a port. The catch-all listener's first
// certificate comes first, as the default certificate, with a negative
// filter only so that its own names never select it; its other
// certificates are served for their names that no other listener owns.
// Every named listener's certificates follow, with the listener hostname as
// SNI filter. Certificates become files of the configuration here, once
// their listener is known to be served.
func (t *translator) tlsBind(ls []*listenerCtx, alpn []string) *ir.TLSBind {
	b := &ir.TLSBind{StrictSNI: true, ALPN: alpn}
	idx := newListenerIndex(ls)
	use := func(c *servedCert) string {
		t.certs[c.file.Path] = c.file
		return c.file.Path
	}
	for _, l := range ls {
		if l.hostname != "" || l != idx.catchAll {
			continue
		}
		b.StrictSNI = false
		for i, c := range l.certs {
			if i == 0 {
				b.CrtList = append(b.CrtList, ir.CrtListEntry{
					Comment:    fmt.Sprintf("listener %s (no hostname): the default certificate", l.name),
					Cert:       use(c),
					SNIFilters: []string{catchAllFilter},
					Options:    l.tlsOptions,
					Origin:     l.origin(),
				})
				// Its names another certificate of the listener also
				// has (an RSA and an ECDSA certificate for the same
				// names) are indexed too: HAProxy then chooses by what
				// the client supports.
				if shared := sharedNames(c, l.certs[1:], l, idx); len(shared) > 0 {
					b.CrtList = append(b.CrtList, ir.CrtListEntry{
						Comment:    fmt.Sprintf("listener %s (no hostname): the default certificate for the names another of its certificates has (dual key types)", l.name),
						Cert:       c.file.Path,
						SNIFilters: shared,
						Options:    l.tlsOptions,
						Origin:     l.origin(),
					})
				}
				continue
			}
			var names []string
			for _, n := range c.names {
				n = strings.ToLower(n)
				if validHostname(n) && idx.owner(n) == l {
					names = append(names, n)
				}
			}
			if len(names) == 0 {
				continue
			}
			b.CrtList = append(b.CrtList, ir.CrtListEntry{
				Comment:    fmt.Sprintf("listener %s (no hostname): for its names no other listener owns", l.name),
				Cert:       use(c),
				SNIFilters: names,
				Options:    l.tlsOptions,
				Origin:     l.origin(),
			})
		}
	}
	for _, l := range ls {
		if l.hostname == "" {
			continue
		}
		for _, c := range l.certs {
			e := ir.CrtListEntry{
				Comment:    fmt.Sprintf("listener %s", l.name),
				Cert:       use(c),
				SNIFilters: []string{l.hostname},
				Options:    l.tlsOptions,
				Origin:     l.origin(),
			}
			if deeper := deeperNames(l, c, idx); len(deeper) > 0 {
				e.Comment += ", with the names of its certificate more than one label below " + l.hostname[2:]
				e.SNIFilters = append(e.SNIFilters, deeper...)
			}
			b.CrtList = append(b.CrtList, e)
		}
	}
	b.CrtList = splitCrtListLines(b.CrtList)
	return b
}

// HAProxy 2.6 refuses a crt-list line of more than 2,047 words or 65,535
// characters ("too many args", "line too long"), and the Runtime API takes
// a line in one command of at most its buffer size (16 kB by default).
// Lines are kept well below all three.
const (
	maxLineFilters     = 1000
	maxLineFilterBytes = 12 << 10
)

// splitCrtListLines splits lines with too many SNI filters into several
// lines of the same certificate and options, each with part of the
// filters: HAProxy selects the certificate for any of them, as for one
// line.
func splitCrtListLines(in []ir.CrtListEntry) []ir.CrtListEntry {
	var out []ir.CrtListEntry
	for _, e := range in {
		var parts [][]string
		var cur []string
		size := 0
		for _, f := range e.SNIFilters {
			if len(cur) > 0 && (len(cur) == maxLineFilters || size+len(f)+1 > maxLineFilterBytes) {
				parts = append(parts, cur)
				cur, size = nil, 0
			}
			cur = append(cur, f)
			size += len(f) + 1
		}
		parts = append(parts, cur)
		if len(parts) == 1 {
			out = append(out, e)
			continue
		}
		for i, p := range parts {
			x := e
			x.SNIFilters = p
			x.Comment = fmt.Sprintf("%s (line %d of %d: its names are split to keep each line within HAProxy's limits)", e.Comment, i+1, len(parts))
			out = append(out, x)
		}
	}
	return out
}

// deeperNames are the names of a wildcard listener's certificate that the
// listener's hostname covers (any number of labels, as the Gateway API
// reads "*.example.com") but HAProxy's crt-list filter of the same
// spelling does not (one label): "a.b.example.com", "*.b.example.com".
// Each becomes a filter of its own, unless a more specific listener of the
// port owns it. A client only accepts these names from the certificate
// anyway, so the SNIs below the wildcard a certificate is valid for select
// it, and no other.
func deeperNames(l *listenerCtx, c *servedCert, idx *listenerIndex) []string {
	if !isWildcard(l.hostname) {
		return nil
	}
	suffix := l.hostname[1:] // ".example.com"
	var out []string
	for _, n := range c.names {
		n = strings.ToLower(n)
		if n == l.hostname || !validHostname(n) || !covers(l.hostname, n) || idx.owner(n) != l {
			continue
		}
		if i := strings.IndexByte(n, '.'); !isWildcard(n) && n[i:] == suffix {
			continue // one label below: the wildcard filter matches it
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// sharedNames are the names of c, owned by l, that a certificate of
// others also has.
func sharedNames(c *servedCert, others []*servedCert, l *listenerCtx, idx *listenerIndex) []string {
	var out []string
	for _, n := range c.names {
		n = strings.ToLower(n)
		if !validHostname(n) || idx.owner(n) != l || slices.Contains(out, n) {
			continue
		}
		for _, o := range others {
			if slices.ContainsFunc(o.names, func(m string) bool { return strings.EqualFold(m, n) }) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}
