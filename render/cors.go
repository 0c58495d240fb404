package render

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// corsOriginRE is the CRD's pattern for an allowed origin: "*", or
// http(s)://host[:port] where the host may start with "*." or be "*".
var corsOriginRE = regexp.MustCompile(`^(?:\*|(https?)://((?:\*\.)?(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(?::([0-9]{1,5}))?)$`)

// corsHeaderRE keeps the header names of a CORS filter to what HAProxy
// writes without quoting.
var corsHeaderRE = regexp.MustCompile(`^[A-Za-z0-9_.+-]+$`)

var corsMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// corsDefaultMaxAge is the Access-Control-Max-Age the API defaults to.
const corsDefaultMaxAge = 5

// compileCORS checks a CORS filter and turns it into the rule's CORS
// answer: the allowed origins as one case-insensitive regular expression
// over the Origin header, and the header values.
func compileCORS(f *gwapiv1.HTTPCORSFilter) (*ir.CORS, error) {
	if f == nil {
		return nil, fmt.Errorf("CORS filter has no configuration")
	}
	c := &ir.CORS{MaxAge: f.MaxAge, Credentials: f.AllowCredentials != nil && *f.AllowCredentials}
	if c.MaxAge <= 0 {
		c.MaxAge = corsDefaultMaxAge
	}
	var alts []string
	for _, o := range f.AllowOrigins {
		m := corsOriginRE.FindStringSubmatch(string(o))
		if m == nil {
			return nil, fmt.Errorf("CORS origin %q is not \"*\" or http(s)://host[:port]", o)
		}
		if m[0] == "*" {
			c.AnyOrigin = true
			continue
		}
		scheme, host, port := m[1], strings.ToLower(m[2]), m[3]
		var hre string
		switch {
		case host == "*":
			hre = `[a-z0-9.-]+`
		case strings.HasPrefix(host, "*."):
			// "*" takes any number of labels to its left.
			hre = `[a-z0-9.-]+` + dotsQuoted(host[1:])
		default:
			hre = dotsQuoted(host)
		}
		def := map[string]string{"http": "80", "https": "443"}[scheme]
		switch port {
		case "":
			hre += "(:" + def + ")?"
		case def:
			hre += "(:" + def + ")?"
		default:
			hre += ":" + port
		}
		alts = append(alts, scheme+"://"+hre)
	}
	if !c.AnyOrigin {
		if len(alts) == 0 {
			return nil, fmt.Errorf("CORS filter allows no origin")
		}
		slices.Sort(alts)
		c.OriginRegex = "^(" + strings.Join(slices.Compact(alts), "|") + ")$"
	}
	for _, m := range f.AllowMethods {
		switch {
		case m == "*":
			c.AnyMethod = true
		case slices.Contains(corsMethods, string(m)):
			c.AllowMethods = append(c.AllowMethods, string(m))
		default:
			return nil, fmt.Errorf("CORS method %q is not an HTTP method or \"*\"", m)
		}
	}
	var err error
	if c.AllowHeaders, c.AnyHeader, err = corsHeaders("allowed", f.AllowHeaders); err != nil {
		return nil, err
	}
	var anyExposed bool
	if c.ExposeHeaders, anyExposed, err = corsHeaders("exposed", f.ExposeHeaders); err != nil {
		return nil, err
	}
	// "*" exposes every header, but not to requests with credentials,
	// for which it must not be sent.
	if anyExposed && !c.Credentials {
		c.ExposeHeaders = []string{"*"}
	}
	return c, nil
}

// corsHeaders checks a list of header names; "*" sets any.
func corsHeaders(what string, hs []gwapiv1.HTTPHeaderName) (names []string, any bool, err error) {
	for _, h := range hs {
		switch {
		case h == "*":
			any = true
		case corsHeaderRE.MatchString(string(h)):
			names = append(names, string(h))
		default:
			return nil, false, fmt.Errorf("CORS %s header %q must be letters, digits and _.+-", what, h)
		}
	}
	return names, any, nil
}

// dotsQuoted writes a host name's dots as "[.]" (no backslash, which no
// argument parser may strip).
func dotsQuoted(s string) string { return strings.ReplaceAll(s, ".", "[.]") }
