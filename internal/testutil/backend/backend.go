// Package backend provides test HTTP backends on 127.0.0.1 that echo each
// request back as JSON (like the Gateway API conformance echo server), an
// HTTP client that dials a fixed address whatever the URL names, and a TLS
// handshake probe that reports which certificate a server presents.
package backend

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

const (
	requestTimeout   = 10 * time.Second
	handshakeTimeout = 5 * time.Second
)

// Server is a running echo backend.
type Server struct {
	// Name is the name the backend reports in every answer.
	Name string
	// Addr is the listening address, "127.0.0.1:port".
	Addr string
	// Port is the listening port.
	Port int
	// URL is "http://127.0.0.1:port".
	URL string
}

// Start runs a plain HTTP/1.1 echo backend called name on 127.0.0.1 (a free
// port) and closes it when the test ends. Every request is answered by
// Handler(name).
func Start(t testing.TB, name string) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("backend %s: listen: %v", name, err)
	}
	srv := &http.Server{Handler: Handler(name), ReadHeaderTimeout: requestTimeout}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l) // returns http.ErrServerClosed on Close
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	port := l.Addr().(*net.TCPAddr).Port
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return &Server{Name: name, Addr: addr, Port: port, URL: "http://" + addr}
}

// Echo is what an echo backend answers: the request as the backend saw it.
type Echo struct {
	// Name is the backend's name.
	Name string `json:"name"`
	// Method is the request method.
	Method string `json:"method"`
	// Host is the request's Host header (r.Host).
	Host string `json:"host"`
	// Path is the request path (r.URL.Path).
	Path string `json:"path"`
	// RawQuery is the query string without "?".
	RawQuery string `json:"rawQuery"`
	// Proto is the protocol version, e.g. "HTTP/1.1".
	Proto string `json:"proto"`
	// Headers are the request headers.
	Headers http.Header `json:"headers"`
	// TLS reports whether the request reached the backend over TLS.
	TLS bool `json:"tls"`
}

// Handler answers every request with 200, Content-Type application/json and
// the request as an Echo, after the query parameter delay (a Go duration,
// at most 30s) when given, as the conformance suite's echo backend does.
// Use it to build other backends (TLS, HTTP/2) with net/http/httptest.
func Handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("delay")); err == nil && d > 0 {
			select {
			case <-time.After(min(d, 30*time.Second)):
			case <-r.Context().Done():
				return
			}
		}
		body, err := json.Marshal(Echo{
			Name:     name,
			Method:   r.Method,
			Host:     r.Host,
			Path:     r.URL.Path,
			RawQuery: r.URL.RawQuery,
			Proto:    r.Proto,
			Headers:  r.Header,
			TLS:      r.TLS != nil,
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

// Get sends a GET for url with c, setting the Host header to host when it is
// not empty and adding header. It fails the test when the request cannot be
// made; to test failures (refused handshakes, resets) call c.Do directly.
//
// The response body has been read and closed; resp.Body replays it. The Echo
// is decoded when the answer is a 200 application/json Echo from a backend,
// and is nil otherwise (an HAProxy-generated response, a redirect, ...).
//
// Get never follows redirects: it sends with a copy of c whose CheckRedirect
// returns http.ErrUseLastResponse, as NewClient's clients do anyway, so a
// redirect is returned as is. A nil c means NewClient(ClientOptions{}).
func Get(t testing.TB, c *http.Client, url string, host string, header http.Header) (*http.Response, *Echo) {
	t.Helper()
	if c == nil {
		c = NewClient(ClientOptions{})
	}
	nc := *c
	nc.CheckRedirect = noRedirect
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if host != "" {
		req.Host = host
	}
	resp, err := nc.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %q): %v", url, host, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s (Host %q): read body: %v", url, host, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, decodeEcho(resp, body)
}

func decodeEcho(resp *http.Response, body []byte) *Echo {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil
	}
	var e Echo
	if err := json.Unmarshal(body, &e); err != nil || e.Name == "" {
		return nil
	}
	return &e
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ClientOptions configures NewClient.
type ClientOptions struct {
	// ServerName is the TLS SNI; empty means the URL's host (Go's default).
	ServerName string
	// RootCAs verify the server; nil means the system store.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any server certificate.
	InsecureSkipVerify bool
	// DialAddr, when set, is dialled for every request whatever the URL
	// says, e.g. "127.0.0.1:8443" for https://foo.example.com/.
	DialAddr string
	// HTTP2 makes the client speak only HTTP/2: h2 via ALPN over TLS,
	// prior-knowledge h2c over plain TCP. Otherwise it speaks only HTTP/1.1.
	HTTP2 bool
	// Certificates are client certificates offered to the server. Go sends
	// one only if the server's CertificateRequest names its CA; see
	// AlwaysSendCertificate.
	Certificates []tls.Certificate
	// AlwaysSendCertificate sends the first of Certificates whatever CAs
	// the server asks for, as curl or a browser would (to test a
	// certificate the server must refuse or report).
	AlwaysSendCertificate bool
	// MaxVersion caps the TLS version (e.g. tls.VersionTLS12); 0 means Go's
	// default.
	MaxVersion uint16
}

// NewClient returns a client for tests: no proxy from the environment, no
// redirects followed (CheckRedirect returns http.ErrUseLastResponse), a 10s
// timeout, and the TLS, dial and protocol settings in opts.
func NewClient(opts ClientOptions) *http.Client {
	dialer := &net.Dialer{Timeout: handshakeTimeout}
	dial := dialer.DialContext
	if opts.DialAddr != "" {
		dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, opts.DialAddr)
		}
	}
	var protos http.Protocols
	if opts.HTTP2 {
		protos.SetHTTP2(true)
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:       nil, // never an HTTP(S)_PROXY from the environment
			DialContext: dial,
			TLSClientConfig: &tls.Config{
				ServerName:           opts.ServerName,
				RootCAs:              opts.RootCAs,
				InsecureSkipVerify:   opts.InsecureSkipVerify,
				Certificates:         opts.Certificates,
				GetClientCertificate: alwaysSend(opts),
				MaxVersion:           opts.MaxVersion,
			},
			TLSHandshakeTimeout: handshakeTimeout,
			Protocols:           &protos,
		},
		CheckRedirect: noRedirect,
		Timeout:       requestTimeout,
	}
}

// alwaysSend returns a GetClientCertificate that sends the first
// certificate unconditionally, when the options ask for it.
func alwaysSend(opts ClientOptions) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if !opts.AlwaysSendCertificate || len(opts.Certificates) == 0 {
		return nil
	}
	c := opts.Certificates[0]
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
}

// TLSHandshake dials addr, performs a TLS handshake sending SNI serverName
// (none when empty) and returns the leaf certificate the server presented,
// or the dial or handshake error. It gives up after 5s.
//
// cfg (may be nil) is copied; its ServerName is replaced by serverName.
// Without cfg.RootCAs the server certificate is not verified. With RootCAs
// the chain is verified, and the host name too unless serverName is empty.
//
// With TLS 1.3 a server that rejects the client's certificate says so only
// after the handshake, so a nil error here does not prove the client
// certificate was accepted.
func TLSHandshake(addr, serverName string, cfg *tls.Config) (*x509.Certificate, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	cfg.ServerName = serverName
	switch {
	case cfg.InsecureSkipVerify:
		// The caller asked for no verification.
	case cfg.RootCAs == nil:
		cfg.InsecureSkipVerify = true
	case serverName == "":
		// Go insists on a name to verify; verify the chain alone.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("server presented no certificate")
	}
	return certs[0], nil
}
