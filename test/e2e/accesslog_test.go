package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/render/ir"
)

// lineBuffer keeps what HAProxy writes to its standard output, by line.
type lineBuffer struct {
	mu    sync.Mutex
	buf   strings.Builder
	lines []string
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	for {
		s := b.buf.String()
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, s[:i])
		b.buf.Reset()
		b.buf.WriteString(s[i+1:])
	}
	return len(p), nil
}

// jsonLines are the lines that look like JSON access log lines.
func (b *lineBuffer) jsonLines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range b.lines {
		if strings.HasPrefix(l, "{") {
			out = append(out, l)
		}
	}
	return out
}

// parsedJSONLines parses every JSON line; a line that does not parse fails
// the test.
func (b *lineBuffer) parsedJSONLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range b.jsonLines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("an access log line is not JSON: %v\n%s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// JSON access logs: a line per request parses as JSON and names the
// listener, host, route rule, backend and server, TLS facts, status and
// timers; a request whose path holds quotes and backslashes does not
// break the line.
func TestJSONAccessLog(t *testing.T) {
	out := &lineBuffer{}
	e := startRunWith(t, func(o *agent.Options) {
		o.AccessLogFormat = ir.AccessLogJSON
		o.HAProxyOutput = out
	})
	if s := e.get("default.example.com", "/hello"); s != 200 {
		t.Fatalf("request: %d", s)
	}
	// A raw request with a quote and a backslash in its path.
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.https), &tls.Config{ServerName: "default.example.com", RootCAs: e.ca.Pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /q\"uote\\back%%22 HTTP/1.1\r\nHost: default.example.com\r\nConnection: close\r\n\r\n")
	resp, _ := io.ReadAll(bufio.NewReader(conn))
	conn.Close()
	t.Logf("raw request answered: %q", strings.SplitN(string(resp), "\r\n", 2)[0])

	var lines []map[string]any
	if _, ok := eventually(10*time.Second, func() bool {
		lines = out.parsedJSONLines(t)
		n := 0
		for _, m := range lines {
			if p, _ := m["path"].(string); p == "/hello" || strings.Contains(p, "uote") {
				n++
			}
		}
		return n == 2
	}); !ok {
		t.Fatalf("no JSON access log lines for both requests (lines: %v)", lines)
	}
	var hello map[string]any
	for _, m := range lines {
		if m["path"] == "/hello" {
			hello = m
		}
	}
	if hello == nil {
		t.Fatalf("no line for /hello in %v", lines)
	}
	want := map[string]any{
		"listener": "default/gw/https", "host": "*", "rule": "default/web/0", "backend": "default_web_80",
		"method": "GET", "status": float64(200), "sni": "default.example.com", "tls_version": "TLSv1.3",
	}
	for k, v := range want {
		if hello[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, hello[k], v, hello)
		}
	}
	for _, k := range []string{"time", "client", "frontend", "server", "bytes_in", "bytes_out", "tls_cipher", "client_cert_verify", "timers_ms", "termination"} {
		if _, ok := hello[k]; !ok {
			t.Errorf("no field %s in %v", k, hello)
		}
	}
	// HAProxy writes a quote of the path as #22, the backslash is escaped
	// (+E) and decodes back.
	raw := false
	for _, m := range lines {
		if p, _ := m["path"].(string); strings.Contains(p, "uote") {
			raw = true
			if p != `/q#22uote\back%22` {
				t.Errorf("the raw path is logged as %q, want %q", p, `/q#22uote\back%22`)
			}
		}
	}
	if !raw {
		t.Errorf("no line for the raw request")
	}
}
