package pipeline

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render/ir"
)

// The JSON access log formats (HTTP and TCP) read clean to HAProxy
// (haproxy -dW -c), on golden inputs with HTTP, HTTPS, TLS passthrough
// and TCP ports; forward-only rules are then looked up as
// "<rule>|<backend>" and use_backend takes the backend.
func TestJSONAccessLogConfigurations(t *testing.T) {
	ca := pki.NewCAValid(t, "hagate test CA", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	// Short subtest names: the temporary folder holds unix sockets (HAProxy
	// takes paths of at most 97 characters).
	for name, c := range map[string]string{"http": "quickstart-like", "tls": "tls-mixed-passthrough-https-and-terminate", "tcp": "tcproute-basic"} {
		t.Run(name, func(t *testing.T) {
			snap := loadGoldenInput(t, filepath.Join("../../testdata", c, "in.yaml"), ca)
			tmp := t.TempDir()
			o, err := Render(snap, Options{ConfigRoot: tmp, AccessLogFormat: ir.AccessLogJSON})
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Bundle.WriteTree(tmp); err != nil {
				t.Fatal(err)
			}
			cfg := string(o.Bundle.Get(bundle.ConfigFile).Content)
			if strings.Contains(cfg, "\n    option httplog\n") || strings.Contains(cfg, "\n    option tcplog\n") || !strings.Contains(cfg, `log-format "{\"time\":\"%T\"`) {
				t.Errorf("no JSON log-format in haproxy.cfg:\n%s", cfg[:min(len(cfg), 1500)])
			}
			if strings.Contains(cfg, "use_backend %[var(txn.rule)]") {
				t.Errorf("a forward-only rule's backend is not taken from \"<rule>|<backend>\"")
			}
			haproxytest.Check(t, filepath.Join(tmp, bundle.ConfigFile))
		})
	}
}
