package render

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"math"
	"sort"
	"time"

	"hagate.io/hagate/render/ir"
)

// DefaultExpiryWarning is how long before a served certificate expires
// its listener's ResolvedRefs message starts saying so, unless
// Options.ExpiryWarning says otherwise.
const DefaultExpiryWarning = 14 * 24 * time.Hour

// expiryWarning is the window of Options.ExpiryWarning (0: the default,
// negative: none).
func (t *translator) expiryWarning() time.Duration {
	switch w := t.opts.ExpiryWarning; {
	case w == 0:
		return DefaultExpiryWarning
	case w < 0:
		return 0
	default:
		return w
	}
}

// certificateNotes are the sentences a listener's ResolvedRefs message
// adds about a certificate it serves: expired or about to expire, a chain
// whose leaf the next certificate did not sign, an RSA key below 2048
// bits (which a lower OpenSSL security level accepts). None refuses the
// certificate: the data plane serves it, the user is told.
func (t *translator) certificateNotes(where string, chain []*x509.Certificate) []string {
	leaf := chain[0]
	var notes []string
	day := leaf.NotAfter.UTC().Format(time.RFC3339)
	switch left := leaf.NotAfter.Sub(t.snap.Now); {
	case left < 0:
		notes = append(notes, fmt.Sprintf("The certificate in Secret %s expired on %s; it is still served.", where, day))
	case left < t.expiryWarning():
		days := int(math.Ceil(left.Hours() / 24))
		notes = append(notes, fmt.Sprintf("The certificate in Secret %s expires on %s (in %d day(s)); renew it.", where, day, days))
	}
	if !t.opts.Cache.signedByNext(chain) {
		notes = append(notes, fmt.Sprintf("The certificate in Secret %s is not signed by the next certificate of its chain (%s); clients may not verify it.", where, chain[1].Subject))
	}
	if k, ok := leaf.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		notes = append(notes, fmt.Sprintf("The certificate in Secret %s has an RSA key of %d bits; use 2048 or more.", where, k.N.BitLen()))
	}
	return notes
}

// certificateDate is the CertificateDate of a leaf certificate.
func certificateDate(use string, origin ir.Origin, leaf *x509.Certificate) ir.CertificateDate {
	return ir.CertificateDate{Use: use, Kind: origin.Kind, Namespace: origin.Namespace, Name: origin.Name, Subject: leaf.Subject.String(),
		NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC()}
}

// collectDates lists the validity of what the configuration serves: the
// certificates of served listeners, the Gateways' backend client
// certificates, and the CA bundles (by the certificate that expires
// first).
func (t *translator) collectDates() {
	var out []ir.CertificateDate
	for _, l := range t.listeners {
		if !l.served() {
			continue
		}
		for _, c := range l.certs {
			if c.leaf == nil {
				continue
			}
			d := certificateDate(ir.UseListener, c.file.Origin, c.leaf)
			d.Gateway = l.g.gw.Namespace + "/" + l.g.gw.Name
			d.Listener = string(l.spec.Name)
			if l.set != nil {
				d.ListenerSet = l.set.ls.Namespace + "/" + l.set.ls.Name
			}
			out = append(out, d)
		}
	}
	for _, g := range t.gateways {
		if g.clientCert != nil && g.clientLeaf != nil {
			d := certificateDate(ir.UseBackendClient, g.clientCert.Origin, g.clientLeaf)
			d.Gateway = g.gw.Namespace + "/" + g.gw.Name
			out = append(out, d)
		}
	}
	for _, ca := range t.cas {
		if first := earliest(ca.PEM); first != nil {
			d := certificateDate(ir.UseCA, ca.Origin, first)
			d.Listener = ca.Origin.Section
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Use != b.Use {
			return a.Use < b.Use
		}
		if a.Gateway != b.Gateway {
			return a.Gateway < b.Gateway
		}
		if a.ListenerSet != b.ListenerSet {
			return a.ListenerSet < b.ListenerSet
		}
		if a.Listener != b.Listener {
			return a.Listener < b.Listener
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	t.res.Config.Dates = out
}

// earliest is the certificate of a PEM bundle that expires first.
func earliest(data []byte) *x509.Certificate {
	var first *x509.Certificate
	for _, c := range pemCertificates(data) {
		if first == nil || c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	return first
}
