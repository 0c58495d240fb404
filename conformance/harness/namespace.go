package harness

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// namespaces stands in for the namespace controller: it empties each
// Terminating namespace (every namespaced kind that supports
// deletecollection) and, once nothing is left, removes the "kubernetes"
// finalizer so that the namespace goes away and may be created again.
type namespaces struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
	dc  discovery.DiscoveryInterface
}

func newNamespaces(cfg *rest.Config) (*namespaces, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &namespaces{cs: cs, dyn: dyn, dc: cs.Discovery()}, nil
}

func (n *namespaces) sync(ctx context.Context) error {
	list, err := n.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var terminating []corev1.Namespace
	for _, ns := range list.Items {
		if ns.DeletionTimestamp != nil && len(ns.Spec.Finalizers) > 0 {
			terminating = append(terminating, ns)
		}
	}
	if len(terminating) == 0 {
		return nil
	}
	// Kinds the API server lists, partial failures (an aggregated API
	// down) included: what is listed is enough here.
	rls, _ := n.dc.ServerPreferredNamespacedResources()
	var gvrs []schema.GroupVersionResource
	for _, rl := range rls {
		gv, err := schema.ParseGroupVersion(rl.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range rl.APIResources {
			if slices.Contains(r.Verbs, "deletecollection") && slices.Contains(r.Verbs, "list") {
				gvrs = append(gvrs, gv.WithResource(r.Name))
			}
		}
	}
	for _, ns := range terminating {
		left := 0
		for _, gvr := range gvrs {
			ri := n.dyn.Resource(gvr).Namespace(ns.Name)
			objs, err := ri.List(ctx, metav1.ListOptions{})
			if err != nil || len(objs.Items) == 0 {
				continue
			}
			left += len(objs.Items)
			zero := int64(0)
			if err := ri.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
				return fmt.Errorf("namespace %s: delete %s: %w", ns.Name, gvr.Resource, err)
			}
		}
		if left > 0 {
			continue // next round checks that they are gone
		}
		ns.Spec.Finalizers = nil
		if _, err := n.cs.CoreV1().Namespaces().Finalize(ctx, &ns, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("namespace %s: finalize: %w", ns.Name, err)
		}
	}
	return nil
}
