package propagation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// source is where the world lives: a folder of manifests or the API
// server. Each method returns once the change is stored (the file renamed
// into place, the API server's answer received): a change's clock starts
// then.
type source interface {
	create(ctx context.Context, obj client.Object) error
	update(ctx context.Context, obj client.Object) error
	delete(ctx context.Context, obj client.Object) error
}

// fileSource is a folder of manifests, one file per object, as a GitOps
// checkout.
type fileSource struct{ dir string }

// write writes obj's file whole: to a hidden temporary name hagate does
// not read, then renamed into place.
func (s fileSource) write(obj client.Object) error {
	data, err := manifest(obj)
	if err != nil {
		return err
	}
	name := fileName(obj)
	tmp := filepath.Join(s.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, name))
}

func (s fileSource) create(_ context.Context, obj client.Object) error { return s.write(obj) }
func (s fileSource) update(_ context.Context, obj client.Object) error { return s.write(obj) }
func (s fileSource) delete(_ context.Context, obj client.Object) error {
	return os.Remove(filepath.Join(s.dir, fileName(obj)))
}

// populate writes the world's files before hagate starts (written
// directly: nothing watches yet).
func (s fileSource) populate(objs []client.Object) error {
	for _, o := range objs {
		data, err := manifest(o)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s.dir, fileName(o)), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// kubeSource is the API server, through a controller-runtime client.
type kubeSource struct{ c client.Client }

func (s kubeSource) create(ctx context.Context, obj client.Object) error { return s.c.Create(ctx, obj) }
func (s kubeSource) update(ctx context.Context, obj client.Object) error { return s.c.Update(ctx, obj) }
func (s kubeSource) delete(ctx context.Context, obj client.Object) error { return s.c.Delete(ctx, obj) }

// populate creates the namespace, then the objects 16 at a time (the
// GatewayClass may exist from an earlier run), logging progress.
func (s kubeSource) populate(b testing.TB, ns string, objs []client.Object) {
	ctx := context.Background()
	if err := s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatalf("create namespace %s: %v", ns, err)
	}
	start := time.Now()
	var done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				logf(b, "  created %d of %d objects (%s)", done.Load(), len(objs), time.Since(start).Round(time.Second))
			}
		}
	}()
	for _, o := range objs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			kind := o.GetObjectKind().GroupVersionKind().Kind // the client clears it
			err := s.c.Create(ctx, o)
			if err != nil && !(apierrors.IsAlreadyExists(err) && o.GetNamespace() == "") {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("create %s %s: %w", kind, o.GetName(), err)
				}
				mu.Unlock()
			}
			done.Add(1)
		}()
	}
	wg.Wait()
	close(stopProgress)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	logf(b, "  created %d objects in %s", len(objs), time.Since(start).Round(time.Millisecond))
}

// cleanup deletes what populate created. The test API server runs no
// namespace controller, so deleting the namespace alone would leave its
// objects stored (and watched by the next run's hagate).
func (s kubeSource) cleanup(b testing.TB, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	defer func() {
		logf(b, "deleted namespace %s and its objects in %s", ns, time.Since(start).Round(time.Millisecond))
	}()
	for _, o := range []client.Object{&gwapiv1.HTTPRoute{}, &gwapiv1.Gateway{}, &corev1.Secret{}, &discoveryv1.EndpointSlice{}} {
		if err := s.c.DeleteAllOf(ctx, o, client.InNamespace(ns)); err != nil {
			logf(b, "cleanup: delete %T in %s: %v", o, ns, err)
		}
	}
	if err := s.c.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: serviceName, Namespace: ns}}); err != nil {
		logf(b, "cleanup: delete Service: %v", err)
	}
	if err := s.c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		logf(b, "cleanup: delete namespace: %v", err)
	}
}
