package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/internal/testutil/haproxytest"
)

// HAProxy's own exporter, on its own port: after traffic, the counter of
// the route's backend has moved by the number of requests sent.
func TestDataPlaneMetrics(t *testing.T) {
	port := haproxytest.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	e := startRunWith(t, func(o *agent.Options) { o.HAProxyMetricsAddress = addr })
	backendTotal := func() (float64, bool) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, `haproxy_backend_http_responses_total{proxy="default_web_80",code="2xx"}`) {
				v, err := strconv.ParseFloat(strings.Fields(l)[1], 64)
				return v, err == nil
			}
		}
		return 0, false
	}
	var before float64
	if _, ok := eventually(20*time.Second, func() bool {
		var ok bool
		before, ok = backendTotal()
		return ok
	}); !ok {
		t.Fatal("the exporter does not report backend default_web_80")
	}
	const n = 25
	for i := 0; i < n; i++ {
		if s := e.get("default.example.com", "/"); s != 200 {
			t.Fatalf("request %d: %d", i, s)
		}
	}
	after, _ := backendTotal()
	if after-before != n {
		t.Errorf("haproxy_backend_http_responses_total of default_web_80 moved by %v, want %d", after-before, n)
	}
	// The traffic port does not answer /metrics.
	if s := e.get("default.example.com", "/metrics"); s == 200 {
		if name := e.backendName("default.example.com", "/metrics"); name != "web" {
			t.Errorf("/metrics on the traffic port reached %q, want the route's backend", name)
		}
	}
}
