package propagation

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestRawClientCounts checks that the keep-alive raw client counts what
// the benchmark says it counts, against a server that ends every
// connection after one answer: half the time saying Connection: close
// (correct: the client opens a new connection, no failure), half the time
// closing the idle connection under the client (its next request fails,
// as a reset). net/http's client would retry the latter and see nothing.
func TestRawClientCounts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				req.Body.Close()
				hdr := ""
				if n%2 == 0 {
					hdr = "Connection: close\r\n"
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n%s\r\nok", hdr)
			}()
		}
	}()

	var s clientStats
	// Cancelled, as the benchmark stops its load (a deadline would end a
	// dial as a timeout a moment before the context says it is done).
	ctx, cancel := context.WithCancel(context.Background())
	defer time.AfterFunc(500*time.Millisecond, cancel).Stop()
	rawClient(ctx, loadTarget{httpAddr: l.Addr().String(), routes: 10}, &s, false, true)

	req, failed, resets, closes := s.requests.Load(), s.failed.Load(), s.resets.Load(), s.closes.Load()
	t.Logf("requests %d, failed %d, resets %d, Connection: close %d, connections %d; first failures: %q", req, failed, resets, closes, s.conns.Load(), s.failures)
	if failed == 0 || closes == 0 {
		t.Errorf("want both failures and Connection: close answers")
	}
	if resets != failed {
		t.Errorf("%d of %d failures counted as resets, want all", resets, failed)
	}
	if ok := req - failed; ok < failed {
		t.Errorf("%d answered, %d failed: every connection should answer once", ok, failed)
	}
}
