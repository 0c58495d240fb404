package templates

import (
	"fmt"
	"strings"

	"hagate.io/hagate/render/ir"
)

// A CORS preflight is an OPTIONS request with Origin and
// Access-Control-Request-Method.
const corsPreflight = "METH_OPTIONS { req.hdr(origin) -m found } { req.hdr(access-control-request-method) -m found }"

// corsRequestLines are a rule's CORS lines before it forwards (cond
// selects the rule): the allowed Origin is kept in txn.cors_origin, and
// preflights are answered here, with the CORS headers for an allowed
// origin and without them otherwise.
func corsRequestLines(c *ir.CORS, cond string) []string {
	allowed := "{ req.fhdr(origin) -m found }"
	if !c.AnyOrigin {
		allowed = "{ req.fhdr(origin) -m reg -i " + pattern(c.OriginRegex) + " }"
	}
	lines := []string{
		fmt.Sprintf("http-request set-var(txn.cors_origin) req.fhdr(origin) if %s %s", cond, allowed),
	}
	hdrs := []string{"hdr Access-Control-Allow-Origin %[var(txn.cors_origin)]", "hdr Vary Origin"}
	switch {
	case c.AnyMethod:
		hdrs = append(hdrs, "hdr Access-Control-Allow-Methods %[req.fhdr(access-control-request-method)]")
	case len(c.AllowMethods) > 0:
		hdrs = append(hdrs, "hdr Access-Control-Allow-Methods "+LogFormat(strings.Join(c.AllowMethods, ", ")))
	}
	if len(c.ExposeHeaders) > 0 {
		hdrs = append(hdrs, "hdr Access-Control-Expose-Headers "+LogFormat(strings.Join(c.ExposeHeaders, ", ")))
	}
	hdrs = append(hdrs, fmt.Sprintf("hdr Access-Control-Max-Age %d", c.MaxAge))
	if c.Credentials {
		hdrs = append(hdrs, "hdr Access-Control-Allow-Credentials true")
	}
	preflight := fmt.Sprintf("%s %s { var(txn.cors_origin) -m found }", cond, corsPreflight)
	ret := func(extra []string, more string) string {
		return "http-request return status 204 " + strings.Join(append(append([]string(nil), hdrs...), extra...), " ") + " if " + preflight + more
	}
	switch {
	case c.AnyHeader:
		// Echo the headers asked for; none asked, none sent.
		lines = append(lines,
			ret([]string{"hdr Access-Control-Allow-Headers %[req.fhdr(access-control-request-headers)]"}, " { req.fhdr(access-control-request-headers) -m found }"),
			ret(nil, ""))
	case len(c.AllowHeaders) > 0:
		lines = append(lines, ret([]string{"hdr Access-Control-Allow-Headers " + LogFormat(strings.Join(c.AllowHeaders, ", "))}, ""))
	default:
		lines = append(lines, ret(nil, ""))
	}
	// From an origin not allowed: answered, without CORS headers.
	lines = append(lines, fmt.Sprintf("http-request return status 204 hdr Vary Origin if %s %s", cond, corsPreflight))
	return lines
}

// corsResponseLines add the CORS headers to the responses of allowed
// origins' requests (preflights are answered before).
func corsResponseLines(c *ir.CORS, cond string) []string {
	ok := cond + " { var(txn.cors_origin) -m found }"
	lines := []string{"http-response set-header Access-Control-Allow-Origin %[var(txn.cors_origin)] if " + ok}
	if c.Credentials {
		lines = append(lines, "http-response set-header Access-Control-Allow-Credentials true if "+ok)
	}
	if len(c.ExposeHeaders) > 0 {
		lines = append(lines, "http-response set-header Access-Control-Expose-Headers "+LogFormat(strings.Join(c.ExposeHeaders, ", "))+" if "+ok)
	}
	// The answer depends on Origin, for every request of the rule.
	return append(lines, "http-response add-header Vary Origin if "+cond)
}
