package agent

import "time"

// Backoff spaces the retries of a failed apply: Min, then twice as long
// each time, up to Max; Reset after a success. The zero value waits 1s
// to 30s.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next is the wait before the next retry.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi < lo {
		hi = 30 * time.Second
	}
	if b.next < lo {
		b.next = lo
	}
	d := b.next
	b.next = min(2*b.next, hi)
	return d
}

// Reset starts over at Min.
func (b *Backoff) Reset() { b.next = 0 }
