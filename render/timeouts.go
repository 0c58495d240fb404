package render

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// durationFormat is a Gateway API Duration (GEP-2257).
var durationFormat = regexp.MustCompile(`^([0-9]{1,5}(h|m|s|ms)){1,4}$`)

// noTimeout is HAProxy's longest timeout (about 24.8 days fit its
// milliseconds): a zero Gateway API duration disables the timeout, and
// the spec says to take the longest possible value where that cannot be.
const noTimeout = "24d"

// parseDuration reads a Gateway API Duration.
func parseDuration(field string, d gwapiv1.Duration) (time.Duration, error) {
	s := string(d)
	if !durationFormat.MatchString(s) {
		return 0, fmt.Errorf("%s %q is not a Gateway API duration (such as 500ms, 10s, 1h30m)", field, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %v", field, s, err)
	}
	return v, nil
}

// compileTimeouts turns rules[].timeouts into the server timeout of the
// rule's requests: HAProxy answers 504 when the backend stays silent that
// long (before its response, or between two parts of it). The shorter of
// request and backendRequest applies (each backend attempt is bounded by
// backendRequest, and the whole by request); "0s" disables a timeout.
func compileTimeouts(to *gwapiv1.HTTPRouteTimeouts) (string, error) {
	var req, be time.Duration
	var err error
	if to.Request != nil {
		if req, err = parseDuration("timeouts.request", *to.Request); err != nil {
			return "", err
		}
	}
	if to.BackendRequest != nil {
		if be, err = parseDuration("timeouts.backendRequest", *to.BackendRequest); err != nil {
			return "", err
		}
	}
	if to.Request != nil && to.BackendRequest != nil && req > 0 && (be == 0 || be > req) {
		return "", fmt.Errorf("timeouts.backendRequest (%s) is longer than timeouts.request (%s)", *to.BackendRequest, *to.Request)
	}
	var d time.Duration
	switch {
	case to.BackendRequest != nil && be > 0:
		d = be
	case to.Request != nil && req > 0:
		d = req
	case to.Request == nil && to.BackendRequest == nil:
		return "", nil
	default:
		return noTimeout, nil
	}
	return haproxyDuration(d), nil
}

// haproxyDuration writes d in HAProxy's units, as a person would.
func haproxyDuration(d time.Duration) string {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	switch {
	case ms%3600000 == 0:
		return strconv.FormatInt(ms/3600000, 10) + "h"
	case ms%60000 == 0:
		return strconv.FormatInt(ms/60000, 10) + "m"
	case ms%1000 == 0:
		return strconv.FormatInt(ms/1000, 10) + "s"
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// ruleTimeouts gives the backends of a rule with a timeout a line that
// applies it to that rule's requests only.
func (t *translator) ruleTimeouts(r *ir.Rule) {
	if r.Timeout == "" {
		return
	}
	for _, wb := range r.Backends {
		b := t.backends[wb.Backend]
		if b == nil {
			continue
		}
		rt := ir.RuleTimeout{Rule: r.Name, Server: r.Timeout}
		i, found := slices.BinarySearchFunc(b.Timeouts, rt, func(a, b ir.RuleTimeout) int { return strings.Compare(a.Rule, b.Rule) })
		if !found {
			b.Timeouts = slices.Insert(b.Timeouts, i, rt)
		}
	}
}
