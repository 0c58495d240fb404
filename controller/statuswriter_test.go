package controller

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The status writer writes each object's latest status once, never two
// writes of one object at a time, tries failed writes again, and skips a
// status it wrote to an object nobody changed since.
func TestStatusWriter(t *testing.T) {
	var mu sync.Mutex
	writes := map[string][]uint64{}
	inflight := map[string]bool{}
	fail := map[string]int{"flaky": 1}
	release := make(chan struct{})
	w := newStatusWriter(logr.Discard(), 4, func(ctx context.Context, j *statusJob) (string, string, error) {
		name := j.key.Name
		mu.Lock()
		if inflight[name] {
			t.Errorf("two writes of %s at once", name)
		}
		inflight[name] = true
		mu.Unlock()
		if name == "slow" {
			<-release
		}
		mu.Lock()
		defer mu.Unlock()
		inflight[name] = false
		if fail[name] > 0 {
			fail[name]--
			return "", "", errors.New("conflict storm")
		}
		writes[name] = append(writes[name], j.fp)
		return "1", "2", nil
	})
	w.retry = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.run(ctx)
	job := func(name string, fp uint64) *statusJob {
		return &statusJob{key: statusKey{kind: "HTTPRoute", NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}}, fp: fp}
	}
	// slow is being written (blocked) when its next two statuses come:
	// only the last of them is written after it.
	w.submit([]*statusJob{job("slow", 1)})
	for {
		mu.Lock()
		busy := inflight["slow"]
		mu.Unlock()
		if busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	w.submit([]*statusJob{job("slow", 2), job("a", 1), job("flaky", 1)})
	w.submit([]*statusJob{job("slow", 3), job("a", 2)})
	close(release)
	select {
	case <-waitIdle(w):
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not finish")
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string][]uint64{"slow": {1, 3}, "a": {2}, "flaky": {1}}
	for name, fps := range want {
		if got := writes[name]; len(got) != len(fps) || got[len(got)-1] != fps[len(fps)-1] || got[0] != fps[0] {
			t.Errorf("%s written with %v, want %v", name, got, fps)
		}
	}
	k := job("a", 2).key
	if !w.upToDate(k, 2, "2") || !w.upToDate(k, 2, "1") {
		t.Error("a status just written is not up to date (cache before or after the write)")
	}
	if w.upToDate(k, 3, "2") || w.upToDate(k, 2, "7") {
		t.Error("a new status, or an object someone else changed, is up to date")
	}
}

// waitIdle waits until the writer has been idle for a moment (a retry
// may be queued by a timer).
func waitIdle(w *statusWriter) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		for {
			<-w.Idle()
			time.Sleep(50 * time.Millisecond)
			select {
			case <-w.Idle():
				w.mu.Lock()
				n := len(w.queue) + len(w.inflight)
				w.mu.Unlock()
				if n == 0 {
					close(c)
					return
				}
			default:
			}
		}
	}()
	return c
}

func TestRouteFingerprint(t *testing.T) {
	ns := gwapiv1.Namespace("a")
	st := func(_ string, ns *gwapiv1.Namespace) *gwapiv1.RouteStatus {
		return &gwapiv1.RouteStatus{Parents: []gwapiv1.RouteParentStatus{{ParentRef: gwapiv1.ParentReference{Name: "gw", Namespace: ns}}}}
	}
	if routeFingerprint(true, st("", nil)) == routeFingerprint(false, st("", nil)) {
		t.Error("mine does not count")
	}
	if routeFingerprint(true, st("", nil)) == routeFingerprint(true, st("", &ns)) {
		t.Error("the parentRef namespace does not count")
	}
	a, b := st("", &ns), st("", &ns)
	if routeFingerprint(true, a) != routeFingerprint(true, b) {
		t.Error("equal statuses differ")
	}
}
