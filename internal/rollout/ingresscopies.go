package rollout

import (
	"context"
	"fmt"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// ingressEvents hands the Ingress informer's events to the copies the
// routers' writes left (routerclient.Copies), so each copy goes once the
// cache has caught up with it, even when no reconcile reads that Ingress
// again. The handler is added when the first Rollout that routes through
// Ingresses is reconciled: its routers have then started the informer, and
// a controller without such Rollouts starts none.
type ingressEvents struct {
	mu      sync.Mutex
	started bool
	cache   cache.Informers
	handler toolscache.ResourceEventHandler
}

// ensure adds the handler once; an error leaves it to the next Rollout.
// Without a cache (unit tests) it does nothing: copies then go when a read
// finds the cache caught up, or with their Rollout.
func (w *ingressEvents) ensure(ctx context.Context, ro *v1alpha1.Rollout) error {
	if w == nil || w.cache == nil || !routesThroughIngresses(ro) {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return nil
	}
	if err := addInformerHandler(ctx, w.cache, &networkingv1.Ingress{}, w.handler); err != nil {
		return err
	}
	w.started = true
	return nil
}

// addInformerHandler adds h to the informer of obj's kind, starting that
// informer if nothing has yet, without waiting for its first list.
func addInformerHandler(ctx context.Context, informers cache.Informers, obj client.Object, h toolscache.ResourceEventHandler) error {
	inf, err := informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("getting the %T informer: %w", obj, err)
	}
	if _, err := inf.AddEventHandler(h); err != nil {
		return fmt.Errorf("handling %T events: %w", obj, err)
	}
	return nil
}

// routesThroughIngresses reports whether ro's routers write Ingresses.
func routesThroughIngresses(ro *v1alpha1.Rollout) bool {
	c := ro.Spec.Strategy.Canary
	return c != nil && c.TrafficRouting != nil && (c.TrafficRouting.Nginx != nil || c.TrafficRouting.ALB != nil)
}

// running reports whether the Ingress informer has been asked for, so
// that listing Ingresses from the cache starts nothing new.
func (w *ingressEvents) running() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started
}

// cachedIngressLists lists Ingresses from cache and anything else from
// the Reader it wraps.
type cachedIngressLists struct {
	client.Reader
	cache client.Reader
}

// List implements client.Reader.
func (r cachedIngressLists) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*networkingv1.IngressList); ok {
		return r.cache.List(ctx, list, opts...)
	}
	return r.Reader.List(ctx, list, opts...)
}
