package backend

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"hagate.io/hagate/internal/testutil/pki"
)

func TestStartGetRoundTrip(t *testing.T) {
	s := Start(t, "backend-a")
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") || s.URL != "http://"+s.Addr || s.Port == 0 {
		t.Fatalf("Server = %+v", s)
	}
	c := NewClient(ClientOptions{})
	resp, e := Get(t, c, s.URL+"/some/path?a=1&b=2", "foo.example.com", http.Header{"X-Test": {"one", "two"}})
	if resp.StatusCode != 200 || e == nil {
		t.Fatalf("GET = %d, echo %v", resp.StatusCode, e)
	}
	want := Echo{Name: "backend-a", Method: "GET", Host: "foo.example.com", Path: "/some/path",
		RawQuery: "a=1&b=2", Proto: "HTTP/1.1"}
	got := *e
	got.Headers = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("echo = %+v, want %+v", got, want)
	}
	if v := e.Headers.Values("X-Test"); len(v) != 2 || v[0] != "one" || v[1] != "two" {
		t.Errorf("X-Test = %q", v)
	}
	// The body can be read again.
	if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), `"name":"backend-a"`) {
		t.Errorf("body = %s", body)
	}
}

func TestDialAddr(t *testing.T) {
	s := Start(t, "b")
	c := NewClient(ClientOptions{DialAddr: s.Addr})
	_, e := Get(t, c, "http://foo.example.com/x", "", nil)
	if e == nil || e.Host != "foo.example.com" || e.Path != "/x" {
		t.Fatalf("echo = %+v", e)
	}
}

func TestGetDoesNotFollowRedirects(t *testing.T) {
	s := Start(t, "target")
	redirector := httptest.NewServer(http.RedirectHandler(s.URL+"/", http.StatusFound))
	defer redirector.Close()
	// A client that would follow redirects on its own.
	resp, e := Get(t, &http.Client{}, redirector.URL, "", nil)
	if resp.StatusCode != http.StatusFound || e != nil {
		t.Fatalf("GET = %d, echo %v; want the 302 itself", resp.StatusCode, e)
	}
}

func TestNonEchoAnswer(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"hello":"world"}`))
	}))
	defer other.Close()
	if resp, e := Get(t, nil, other.URL, "", nil); resp.StatusCode != 200 || e != nil {
		t.Fatalf("GET = %d, echo %v; want 200 without echo", resp.StatusCode, e)
	}
}

// tlsBackend starts an HTTPS echo backend with a certificate for
// foo.example.com and records the SNI of each handshake.
func tlsBackend(t *testing.T, ca *pki.CA) (*httptest.Server, *tls.Certificate, func() []string) {
	t.Helper()
	cert := ca.Issue(t, pki.LeafOptions{DNSNames: []string{"foo.example.com"}}).TLSCertificate(t)
	var (
		mu   sync.Mutex
		snis []string
	)
	srv := httptest.NewUnstartedServer(Handler("tls-backend"))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert}, // also when the client sends no SNI
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			defer mu.Unlock()
			snis = append(snis, h.ServerName)
			return nil, nil
		},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &cert, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), snis...)
	}
}

func TestClientTLSAndHTTP2(t *testing.T) {
	ca := pki.NewCA(t, "hagate test CA")
	srv, _, snis := tlsBackend(t, ca)
	addr := srv.Listener.Addr().String()

	for _, h2 := range []bool{false, true} {
		c := NewClient(ClientOptions{DialAddr: addr, RootCAs: ca.Pool(), HTTP2: h2})
		_, e := Get(t, c, "https://foo.example.com/tls", "", nil)
		wantProto := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		if e == nil || !e.TLS || e.Proto != wantProto || e.Host != "foo.example.com" {
			t.Errorf("HTTP2=%v: echo = %+v, want TLS %s", h2, e, wantProto)
		}
	}
	if got := snis(); len(got) != 2 || got[0] != "foo.example.com" {
		t.Errorf("SNIs = %q", got)
	}

	// Verification against another CA fails.
	other := pki.NewCA(t, "other CA")
	c := NewClient(ClientOptions{DialAddr: addr, RootCAs: other.Pool()})
	if resp, err := c.Get("https://foo.example.com/"); err == nil {
		resp.Body.Close()
		t.Error("request verified against the wrong CA: want an error")
	}
}

func TestTLSHandshake(t *testing.T) {
	ca := pki.NewCA(t, "hagate test CA")
	srv, cert, snis := tlsBackend(t, ca)
	addr := srv.Listener.Addr().String()

	tests := []struct {
		name, sni string
		cfg       *tls.Config
		wantErr   bool
	}{
		{"no verify, SNI", "foo.example.com", nil, false},
		{"no verify, no SNI", "", nil, false},
		{"verified", "foo.example.com", &tls.Config{RootCAs: ca.Pool()}, false},
		{"verified chain, no SNI", "", &tls.Config{RootCAs: ca.Pool()}, false},
		{"wrong name", "bar.example.com", &tls.Config{RootCAs: ca.Pool()}, true},
		{"wrong CA", "", &tls.Config{RootCAs: pki.NewCA(t, "other").Pool()}, true},
	}
	for _, tt := range tests {
		leaf, err := TLSHandshake(addr, tt.sni, tt.cfg)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: want an error", tt.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !leaf.Equal(cert.Leaf) {
			t.Errorf("%s: got certificate %s, want the server's", tt.name, leaf.Subject)
		}
	}
	if got := strings.Join(snis(), ","); got != "foo.example.com,,foo.example.com,,bar.example.com," {
		t.Errorf("SNIs seen by the server = %q", got)
	}

	if _, err := TLSHandshake(Start(t, "plain").Addr, "x", nil); err == nil {
		t.Error("handshake with a plain HTTP server: want an error")
	}
}

func TestClientH2C(t *testing.T) {
	srv := httptest.NewUnstartedServer(Handler("h2c"))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	for _, h2 := range []bool{false, true} {
		_, e := Get(t, NewClient(ClientOptions{HTTP2: h2}), srv.URL, "", nil)
		wantProto := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
		if e == nil || e.TLS || e.Proto != wantProto {
			t.Errorf("HTTP2=%v: echo = %+v, want cleartext %s", h2, e, wantProto)
		}
	}
}
