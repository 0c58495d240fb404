package render

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Cache keeps the result of parsing and checking certificates across
// translations, keyed by the Secret's content: a source that renders again
// on every change (hagate run) pays for the certificates that changed
// only. It changes no result. Entries unused by a translation are dropped
// after the next one. Safe for concurrent use.
type Cache struct {
	mu        sync.Mutex
	cur, prev map[[32]byte]*certResult
	// signed remembers signedByNext by leaf (the chains of cached
	// results are the same pointers from one translation to the next).
	signed, signedPrev map[*x509.Certificate]bool
}

// signedByNext reports whether a chain's leaf is signed by the next
// certificate of the chain (true for a lone leaf): a signature check per
// certificate, once per certificate with a Cache.
func (c *Cache) signedByNext(chain []*x509.Certificate) bool {
	check := func() bool { return len(chain) < 2 || chain[0].CheckSignatureFrom(chain[1]) == nil }
	if c == nil {
		return check()
	}
	leaf := chain[0]
	c.mu.Lock()
	ok, found := c.signed[leaf]
	if !found {
		ok, found = c.signedPrev[leaf]
	}
	c.mu.Unlock()
	if !found {
		ok = check()
	}
	c.mu.Lock()
	if c.signed == nil {
		c.signed = map[*x509.Certificate]bool{}
	}
	c.signed[leaf] = ok
	c.mu.Unlock()
	return ok
}

// certResult is the outcome of certificateFile.
type certResult struct {
	path  string
	pem   []byte
	chain []*x509.Certificate
	err   error
}

func secretKey(sec *corev1.Secret) [32]byte {
	h := sha256.New()
	for _, s := range []string{sec.Namespace, sec.Name, string(sec.Type)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
		v, ok := sec.Data[k]
		if ok {
			h.Write([]byte{1})
		}
		h.Write(v)
		h.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// certificate is certificateFile, through the cache when there is one.
func (c *Cache) certificate(sec *corev1.Secret) (string, []byte, []*x509.Certificate, error) {
	if c == nil {
		return certificateFile(sec)
	}
	k := secretKey(sec)
	c.mu.Lock()
	r, ok := c.cur[k]
	if !ok {
		r, ok = c.prev[k]
	}
	c.mu.Unlock()
	if !ok {
		p, pemData, chain, err := certificateFile(sec)
		r = &certResult{p, pemData, chain, err}
	}
	c.mu.Lock()
	if c.cur == nil {
		c.cur = map[[32]byte]*certResult{}
	}
	c.cur[k] = r
	c.mu.Unlock()
	return r.path, r.pem, r.chain, r.err
}

// rotate drops the entries the last translation did not use.
func (c *Cache) rotate() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.prev, c.cur = c.cur, map[[32]byte]*certResult{}
	c.signedPrev, c.signed = c.signed, map[*x509.Certificate]bool{}
	c.mu.Unlock()
}
