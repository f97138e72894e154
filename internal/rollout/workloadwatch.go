package rollout

import (
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// workloadWatch starts the Deployment watch that workloadRef needs the
// first time a Rollout refers to a Deployment. Watching Deployments means
// caching every one of them (9 to 15 KiB each in docs/benchmarks.md: 89 MiB
// for 10,000 small ones), which a controller whose Rollouts carry their own
// template should not pay.
type workloadWatch struct {
	mu      sync.Mutex
	started bool
	ctrl    controller.Controller
	cache   cache.Cache
	handler handler.EventHandler
}

// ensure starts the watch once; an error leaves it to the next Rollout.
// Without a controller (unit tests) it does nothing: reads then go to
// whatever client the reconciler has.
func (w *workloadWatch) ensure(ro *v1alpha1.Rollout) error {
	ref := ro.Spec.WorkloadRef
	if w == nil || w.ctrl == nil || ref == nil || ref.Kind != "Deployment" {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return nil
	}
	src := source.Kind[client.Object](w.cache, &appsv1.Deployment{}, w.handler)
	if err := w.ctrl.Watch(src); err != nil {
		return fmt.Errorf("watching Deployments for workloadRef: %w", err)
	}
	w.started = true
	return nil
}
