package propagation

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hagate.io/hagate/internal/testutil/backend"
)

// Client kinds of the background load, in report order.
const (
	kindH1TCP  = "h1-keepalive-tcp"
	kindH1TLS  = "h1-keepalive-tls"
	kindH2     = "h2-tls"
	kindNewTCP = "newconn-tcp"
	kindNewTLS = "newconn-tls"
)

var loadKinds = []string{kindH1TCP, kindH1TLS, kindH2, kindNewTCP, kindNewTLS}

const (
	// Each client sends one request, waits for the answer, then pauses
	// between paceMin and paceMax: about 130 requests/s per client.
	paceMin = 5 * time.Millisecond
	paceMax = 10 * time.Millisecond
	// ioTimeout bounds a dial, a handshake and one request's exchange.
	ioTimeout = 10 * time.Second
	// keepFailures is how many failures are kept, with their time and
	// error, per client kind.
	keepFailures = 10
)

// clientStats count one client kind's requests.
type clientStats struct {
	requests atomic.Int64 // sent (a failed dial counts as a request sent and failed)
	failed   atomic.Int64 // no answer, or an answer other than 200
	resets   atomic.Int64 // of failed: the connection reset or closed before a full answer
	closes   atomic.Int64 // answers with Connection: close on a keep-alive client (not failures)
	conns    atomic.Int64 // connections opened
	mu       sync.Mutex
	failures []string
}

func (s *clientStats) fail(what string, reset bool) {
	s.failed.Add(1)
	if reset {
		s.resets.Add(1)
	}
	s.mu.Lock()
	if len(s.failures) < keepFailures {
		s.failures = append(s.failures, time.Now().Format("15:04:05.000")+" "+what)
	}
	s.mu.Unlock()
}

// load is the background traffic: clients that never retry, each paced,
// against routes that exist all along.
type load struct {
	stats  map[string]*clientStats
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// loadTarget says where the load goes.
type loadTarget struct {
	httpAddr, httpsAddr string
	roots               *x509.CertPool
	routes              int // hosts r0 .. r<routes-1>.example.com
}

func (t loadTarget) host() string { return baseHost(rand.IntN(t.routes)) }

// startLoad starts 2 keep-alive HTTP/1.1 clients on the HTTP listener, 2
// on the HTTPS listener, 2 HTTP/2 clients, and 2 clients opening a
// connection per request (one plain, one TLS).
func startLoad(t loadTarget) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{stats: map[string]*clientStats{}, cancel: cancel}
	for _, k := range loadKinds {
		l.stats[k] = &clientStats{}
	}
	run := func(f func()) {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); f() }()
	}
	for range 2 {
		run(func() { rawClient(ctx, t, l.stats[kindH1TCP], false, true) })
		run(func() { rawClient(ctx, t, l.stats[kindH1TLS], true, true) })
		run(func() { h2Client(ctx, t, l.stats[kindH2]) })
	}
	run(func() { rawClient(ctx, t, l.stats[kindNewTCP], false, false) })
	run(func() { rawClient(ctx, t, l.stats[kindNewTLS], true, false) })
	return l
}

// stop ends the load and waits for the clients.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// pause waits a paced interval; false when ctx is done.
func pause(ctx context.Context) bool {
	d := paceMin + rand.N(paceMax-paceMin)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// isReset says whether err is the connection going away under a
// request: reset, broken pipe, or closed (EOF) before a full answer.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// rawClient speaks HTTP/1.1 on a net.Conn of its own: it writes the
// request bytes and reads the answer with http.ReadResponse, so nothing
// retries a request behind its back (net/http's Transport resends an
// idempotent request that fails on a reused connection, which would hide
// exactly what is measured here). keepAlive keeps the connection until
// HAProxy answers Connection: close (then it opens a new one: that is
// correct, not a failure); otherwise each request has its own connection
// and says Connection: close. Over TLS the host (SNI and Host) is chosen
// per connection; over plain TCP per request.
func rawClient(ctx context.Context, t loadTarget, s *clientStats, useTLS, keepAlive bool) {
	var (
		conn net.Conn
		br   *bufio.Reader
		host string
		used int // requests sent on conn
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	closeConn := func() {
		if conn != nil {
			conn.Close()
			conn = nil
		}
	}
	for n := 0; pause(ctx); n++ {
		s.requests.Add(1)
		if conn == nil {
			host = t.host()
			c, err := dial(ctx, t, useTLS, host)
			if err != nil {
				if ctx.Err() != nil {
					s.requests.Add(-1)
					return
				}
				s.fail("dial: "+err.Error(), isReset(err))
				continue
			}
			s.conns.Add(1)
			conn, br, used = c, bufio.NewReader(c), 0
		} else if !useTLS {
			host = t.host()
		}
		closeHdr := ""
		if !keepAlive {
			closeHdr = "Connection: close\r\n"
		}
		req := fmt.Sprintf("GET /bg/%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: hagate-propagation-bench\r\n%s\r\n", n, host, closeHdr)
		_ = conn.SetDeadline(time.Now().Add(ioTimeout))
		used++
		var resp *http.Response
		_, err := io.WriteString(conn, req)
		if err == nil {
			resp, err = http.ReadResponse(br, nil)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			s.fail(fmt.Sprintf("GET %s (request %d on its connection): %v", host, used, err), isReset(err))
			closeConn()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			s.fail(fmt.Sprintf("GET %s: status %d", host, resp.StatusCode), false)
		}
		if !keepAlive || resp.Close {
			if keepAlive {
				s.closes.Add(1)
			}
			closeConn()
		}
	}
}

func dial(ctx context.Context, t loadTarget, useTLS bool, host string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	if !useTLS {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", t.httpAddr)
	}
	d := tls.Dialer{Config: &tls.Config{ServerName: host, RootCAs: t.roots, NextProtos: []string{"http/1.1"}}}
	return d.DialContext(ctx, "tcp", t.httpsAddr)
}

// h2Client sends requests over HTTP/2 (TLS, ALPN h2) with net/http, on
// one host so on one connection (opened again when it goes away). Any
// error or non-200 answer is a failure.
func h2Client(ctx context.Context, t loadTarget, s *clientStats) {
	c := backend.NewClient(backend.ClientOptions{HTTP2: true, RootCAs: t.roots, DialAddr: t.httpsAddr})
	defer c.CloseIdleConnections()
	_, port, _ := net.SplitHostPort(t.httpsAddr)
	host := t.host()
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			s.conns.Add(1)
		}
	}}
	tctx := httptrace.WithClientTrace(ctx, trace)
	for n := 0; pause(ctx); n++ {
		s.requests.Add(1)
		req, err := http.NewRequestWithContext(tctx, http.MethodGet, fmt.Sprintf("https://%s:%s/bg/%d", host, port, n), nil)
		if err != nil {
			panic(err)
		}
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		switch {
		case err != nil && ctx.Err() != nil:
			s.requests.Add(-1)
			return
		case err != nil:
			s.fail(fmt.Sprintf("GET %s: %v", host, err), isReset(err) || strings.Contains(err.Error(), "connection reset"))
		case resp.StatusCode != http.StatusOK:
			s.fail(fmt.Sprintf("GET %s: status %d (%s)", host, resp.StatusCode, resp.Proto), false)
		}
	}
}
