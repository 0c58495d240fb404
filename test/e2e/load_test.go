package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// load is clients sending HTTPS requests in a loop, without retrying, half
// on keep-alive connections and half on a new connection each, until
// stopped: the traffic that must not fail while hagate changes HAProxy.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string // the first few, for the test's message
	stop       chan struct{}
	wg         sync.WaitGroup
}

// loadOptions say what the clients send and what a good answer is.
type loadOptions struct {
	// Clients is how many clients run (default 4).
	Clients int
	// TLS is the clients' TLS configuration (ServerName, RootCAs).
	TLS *tls.Config
	// URL returns the URL of a client's n-th request.
	URL func(n int) string
	// Check returns why an answer is wrong ("" when it is good); nil
	// takes status 200 as good. The body is closed after it.
	Check func(*http.Response) string
}

func startLoad(o loadOptions) *load {
	if o.Clients == 0 {
		o.Clients = 4
	}
	l := &load{stop: make(chan struct{})}
	for i := 0; i < o.Clients; i++ {
		l.wg.Add(1)
		go func(i int, keepAlive bool) {
			defer l.wg.Done()
			tr := &http.Transport{TLSClientConfig: o.TLS.Clone(), DisableKeepAlives: !keepAlive}
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			defer c.CloseIdleConnections()
			for n := i; ; n += o.Clients {
				select {
				case <-l.stop:
					return
				default:
				}
				url := o.URL(n)
				why := ""
				resp, err := c.Get(url)
				switch {
				case err != nil:
					why = err.Error()
				case o.Check != nil:
					why = o.Check(resp)
				case resp.StatusCode != 200:
					why = fmt.Sprintf("status %d", resp.StatusCode)
				}
				if resp != nil {
					resp.Body.Close()
				}
				if why == "" {
					l.ok.Add(1)
					continue
				}
				l.failed.Add(1)
				l.mu.Lock()
				if len(l.failures) < 10 {
					l.failures = append(l.failures, fmt.Sprintf("%s %s (keep-alive %v): %s", time.Now().Format("15:04:05.000"), url, keepAlive, why))
				}
				l.mu.Unlock()
			}
		}(i, i%2 == 0)
	}
	return l
}

// Stop ends the load and returns the answers counted, good and bad, and
// the first failures.
func (l *load) Stop() (ok, failed int64, failures []string) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed.Load(), l.failures
}
