package controller

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// statusKey names an object whose status hagate writes.
type statusKey struct {
	kind string
	types.NamespacedName
}

// statusJob is the status an object should have: change edits an object
// read from the cluster to it (false when it has it already).
type statusJob struct {
	key statusKey
	// fp fingerprints the wanted status: a job whose fingerprint was
	// written, on an object nobody changed since, is not sent again.
	fp     uint64
	obj    func() client.Object
	change func(client.Object) bool
}

// written is what the writer knows of an object it wrote (or found right):
// the fingerprint, and the resourceVersions the object had before and
// after (the cache may still hold the one before for a moment).
type written struct {
	fp            uint64
	before, after string
}

// statusWriter writes statuses off the path of a change going live: a
// render hands it the statuses that differ from what it last wrote, and it
// writes them in its own goroutines, a bounded number at a time, in the
// order they came. A newer status of an object replaces one not yet
// written (coalescing); an object is never written by two goroutines at
// once; a failed write is tried again later unless a newer status
// replaced it.
type statusWriter struct {
	write    func(ctx context.Context, j *statusJob) (before, after string, err error)
	log      logr.Logger
	parallel int
	retry    time.Duration

	mu       sync.Mutex
	queue    []statusKey
	pending  map[statusKey]*statusJob
	inflight map[statusKey]bool
	done     map[statusKey]written
	wake     chan struct{}
	// idle is closed and replaced when the writer has nothing to do
	// (tests and benchmarks wait on it).
	idle chan struct{}
}

func newStatusWriter(log logr.Logger, parallel int, write func(context.Context, *statusJob) (string, string, error)) *statusWriter {
	return &statusWriter{
		write: write, log: log, parallel: parallel, retry: 5 * time.Second,
		pending: map[statusKey]*statusJob{}, inflight: map[statusKey]bool{}, done: map[statusKey]written{},
		wake: make(chan struct{}, 1), idle: make(chan struct{}),
	}
}

// upToDate reports whether the status fingerprinted fp was written to the
// object (or found there), and nobody changed the object since: rv is its
// resourceVersion as the cache shows it.
func (w *statusWriter) upToDate(k statusKey, fp uint64, rv string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.pending[k]; ok {
		return false
	}
	d, ok := w.done[k]
	return ok && d.fp == fp && (rv == d.after || rv == d.before)
}

// submit queues jobs; each replaces a job of the same object not yet
// started.
func (w *statusWriter) submit(jobs []*statusJob) {
	if len(jobs) == 0 {
		return
	}
	w.mu.Lock()
	for _, j := range jobs {
		if _, ok := w.pending[j.key]; !ok {
			w.queue = append(w.queue, j.key)
		}
		w.pending[j.key] = j
	}
	w.mu.Unlock()
	w.poke()
}

func (w *statusWriter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// forget drops what is known of objects no longer in the cluster.
func (w *statusWriter) forget(keep func(statusKey) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.done {
		if !keep(k) {
			delete(w.done, k)
		}
	}
}

// run writes until ctx is done.
func (w *statusWriter) run(ctx context.Context) {
	sem := make(chan struct{}, w.parallel)
	finished := make(chan struct{}, w.parallel)
	running := 0
	for {
		// Start what can start.
		for running < w.parallel {
			j := w.next()
			if j == nil {
				break
			}
			running++
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; finished <- struct{}{} }()
				before, after, err := w.write(ctx, j)
				w.mu.Lock()
				delete(w.inflight, j.key)
				if err == nil {
					w.done[j.key] = written{fp: j.fp, before: before, after: after}
				}
				w.mu.Unlock()
				if err != nil && ctx.Err() == nil {
					w.log.Error(err, "writing status; trying again", "kind", j.key.kind, "object", j.key.String(), "in", w.retry.String())
					time.AfterFunc(w.retry, func() { w.submit([]*statusJob{j}) })
				}
			}()
		}
		if running == 0 {
			w.mu.Lock()
			if len(w.queue) == 0 {
				close(w.idle)
				w.idle = make(chan struct{})
			}
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			for ; running > 0; running-- {
				<-finished
			}
			return
		case <-w.wake:
		case <-finished:
			running--
		}
	}
}

// next takes the oldest queued job whose object is not being written.
func (w *statusWriter) next() *statusJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, k := range w.queue {
		if w.inflight[k] {
			continue
		}
		j := w.pending[k]
		w.queue = append(w.queue[:i:i], w.queue[i+1:]...)
		delete(w.pending, k)
		w.inflight[k] = true
		return j
	}
	return nil
}

// Idle returns a channel closed once the writer has nothing queued or
// being written.
func (w *statusWriter) Idle() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 && len(w.inflight) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return w.idle
}

// fingerprint hashes the parts of a route status hagate writes, without
// reflection (10,000 routes are fingerprinted on every render).
func routeFingerprint(mine bool, st *gwapiv1.RouteStatus) uint64 {
	h := fnv.New64a()
	w := func(s string) { io.WriteString(h, s); h.Write([]byte{0}) }
	if mine {
		w("mine")
	}
	if st == nil {
		return h.Sum64()
	}
	for _, p := range st.Parents {
		r := p.ParentRef
		w("parent")
		if r.Group != nil {
			w(string(*r.Group))
		}
		w("|")
		if r.Kind != nil {
			w(string(*r.Kind))
		}
		w("|")
		if r.Namespace != nil {
			w(string(*r.Namespace))
		}
		w(string(r.Name))
		if r.SectionName != nil {
			w(string(*r.SectionName))
		}
		w("|")
		if r.Port != nil {
			w(strconv.Itoa(int(*r.Port)))
		}
		w(string(p.ControllerName))
		for _, c := range p.Conditions {
			w(c.Type)
			w(string(c.Status))
			w(c.Reason)
			w(c.Message)
			w(strconv.FormatInt(c.ObservedGeneration, 10))
		}
	}
	return h.Sum64()
}

// jsonFingerprint hashes any status (for the few Gateways, classes and
// policies).
func jsonFingerprint(v ...any) uint64 {
	h := fnv.New64a()
	enc := json.NewEncoder(h)
	for _, x := range v {
		_ = enc.Encode(x)
	}
	return h.Sum64()
}
