package e2e

import (
	"testing"
	"time"

	"hagate.io/hagate/internal/testutil/backend"
)

const timeoutRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: timeouts, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /short}}]
    timeouts: {request: 1s}
    backendRefs: [{name: slow, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /backend}}]
    timeouts: {request: 10s, backendRequest: 1s}
    backendRefs: [{name: slow, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /unbounded}}]
    timeouts: {request: 0s}
    backendRefs: [{name: slow, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /default}}]
    backendRefs: [{name: slow, port: 80}]
`

// Per-rule timeouts on one frontend and one backend: a request of a rule
// whose backend answers later than the rule's timeout ends with 504, one
// that answers in time with 200; the other rules of the same backend keep
// their own timeouts (or the default).
func TestRouteTimeouts(t *testing.T) {
	e := startRun(t)
	slow := backend.Start(t, "slow")
	e.write("slow.yaml", runService, map[string]any{"Name": "slow", "Port": slow.Port})
	e.write("timeouts.yaml", timeoutRoute, nil)
	if _, ok := eventually(20*time.Second, func() bool { return e.backendName("default.example.com", "/unbounded") == "slow" }); !ok {
		t.Fatal("the route with timeouts is not served")
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/short", 200},
		{"/short?delay=3s", 504},
		{"/backend?delay=3s", 504},
		{"/backend", 200},
		{"/unbounded?delay=3s", 200},
		{"/default?delay=3s", 200},
	} {
		start := time.Now()
		got := e.get("default.example.com", tc.path)
		t.Logf("%s: %d after %s", tc.path, got, time.Since(start).Round(time.Millisecond))
		if got != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, got, tc.want)
		}
	}
}
