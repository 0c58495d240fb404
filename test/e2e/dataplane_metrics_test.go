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
	// Its idle connections closed at the end: HAProxy's soft stop waits
	// for an idle keep-alive connection (option idle-close-on-response).
	scraper := &http.Client{Transport: &http.Transport{}}
	defer scraper.CloseIdleConnections()
	backendTotal := func() (float64, bool) {
		resp, err := scraper.Get("http://" + addr + "/metrics")
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
	// HAProxy counts a response when its stream ends, which may be just
	// after the client has read it: the counter is read once it has
	// settled (the same value twice, 200 ms apart), before and after.
	settled := func() (float64, bool) {
		var v float64
		_, ok := eventually(20*time.Second, func() bool {
			a, ok1 := backendTotal()
			time.Sleep(200 * time.Millisecond)
			b, ok2 := backendTotal()
			v = b
			return ok1 && ok2 && a == b
		})
		return v, ok
	}
	before, ok := settled()
	if !ok {
		t.Fatal("the exporter does not report backend default_web_80")
	}
	const n = 25
	for i := 0; i < n; i++ {
		if s := e.get("default.example.com", "/"); s != 200 {
			t.Fatalf("request %d: %d", i, s)
		}
	}
	after, _ := settled()
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
