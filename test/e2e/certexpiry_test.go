package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hagate.io/hagate/controller/agent"
	"hagate.io/hagate/internal/testutil/metricstest"
	"hagate.io/hagate/internal/testutil/pki"
)

// The expiry metrics are the dates of the certificates HAProxy serves,
// a series per certificate, and follow a rotation; a certificate that
// expires within the warning window (14 days) is named, with its date,
// in its listener's ResolvedRefs message (status.yaml).
func TestCertificateExpiryMetrics(t *testing.T) {
	e := startRun(t)
	soon := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"soon.example.com"}, NotAfter: time.Now().Add(72 * time.Hour).Truncate(time.Second)})
	e.secret("soon-cert", soon)
	e.gateway("default-cert", "soon-cert")
	gauge := func(name, secret string) (float64, bool) {
		return metricstest.Gauge(t, e.m.Registry, name, map[string]string{"use": "listener", "name": secret, "namespace": "default", "gateway": "default/gw", "listener": "https"})
	}
	if _, ok := eventually(20*time.Second, func() bool {
		v, ok := gauge("hagate_certificate_expiry_timestamp_seconds", "soon-cert")
		return ok && v == float64(soon.Cert.NotAfter.Unix())
	}); !ok {
		v, found := gauge("hagate_certificate_expiry_timestamp_seconds", "soon-cert")
		t.Fatalf("expiry of soon-cert = %v (found %v), want %d", v, found, soon.Cert.NotAfter.Unix())
	}
	if v, ok := gauge("hagate_certificate_not_before_timestamp_seconds", "soon-cert"); !ok || v != float64(soon.Cert.NotBefore.Unix()) {
		t.Errorf("not before of soon-cert = %v (found %v), want %d", v, ok, soon.Cert.NotBefore.Unix())
	}
	if _, ok := gauge("hagate_certificate_expiry_timestamp_seconds", "default-cert"); !ok {
		t.Error("no expiry series for default-cert")
	}
	// The listener's message names it, in status.yaml (written once
	// changes pause).
	if _, ok := eventually(20*time.Second, func() bool {
		data, _ := os.ReadFile(filepath.Join(e.state, agent.StatusFile))
		return strings.Contains(strings.Join(strings.Fields(string(data)), " "), "The certificate in Secret default/soon-cert expires on "+soon.Cert.NotAfter.UTC().Format(time.RFC3339)+" (in 3 day(s)); renew it.")
	}); !ok {
		t.Error("status.yaml does not name the expiring certificate")
	}

	// Renewed: the series follows, without a reload.
	renewed := e.ca.Issue(t, pki.LeafOptions{DNSNames: []string{"soon.example.com"}, NotAfter: time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)})
	e.secret("soon-cert", renewed)
	if _, ok := eventually(20*time.Second, func() bool {
		v, ok := gauge("hagate_certificate_expiry_timestamp_seconds", "soon-cert")
		return ok && v == float64(renewed.Cert.NotAfter.Unix())
	}); !ok {
		t.Fatal("the expiry series did not follow the renewal")
	}
	// Removed from the Gateway: its series goes.
	e.gateway("default-cert")
	if _, ok := eventually(20*time.Second, func() bool {
		_, ok := gauge("hagate_certificate_expiry_timestamp_seconds", "soon-cert")
		return !ok
	}); !ok {
		t.Error("the series of a certificate no longer served stays")
	}
}
