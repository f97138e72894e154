package rollout

import (
	"context"
	"errors"
	"testing"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// watchCounter is a controller that only counts the watches it is given.
type watchCounter struct {
	watches int
	fail    error
}

func (w *watchCounter) Reconcile(context.Context, reconcile.Request) (reconcile.Result, error) {
	return reconcile.Result{}, nil
}

func (w *watchCounter) Watch(source.TypedSource[reconcile.Request]) error {
	if w.fail != nil {
		return w.fail
	}
	w.watches++
	return nil
}

func (w *watchCounter) Start(context.Context) error { return nil }
func (w *watchCounter) GetLogger() logr.Logger      { return logr.Discard() }

// TestWorkloadWatchStartsOnceForTheFirstWorkloadRef: no Deployment watch
// (and so no cache of every Deployment) until a Rollout refers to one; then
// exactly one, and a failed start is tried again.
func TestWorkloadWatchStartsOnceForTheFirstWorkloadRef(t *testing.T) {
	ctrl := &watchCounter{fail: errors.New("no API server")}
	w := &workloadWatch{ctrl: ctrl, handler: &handler.EnqueueRequestForObject{}}
	plain := &v1alpha1.Rollout{}
	withRef := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{WorkloadRef: &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"}}}

	if err := w.ensure(plain); err != nil || ctrl.watches != 0 {
		t.Fatalf("a Rollout with its own template started a watch: %d watches, %v", ctrl.watches, err)
	}
	if err := w.ensure(withRef); err == nil {
		t.Fatal("a failed watch start was not reported")
	}
	ctrl.fail = nil
	for range 3 {
		if err := w.ensure(withRef); err != nil {
			t.Fatal(err)
		}
	}
	if ctrl.watches != 1 {
		t.Fatalf("%d Deployment watches, want 1", ctrl.watches)
	}
	var none *workloadWatch
	if err := none.ensure(withRef); err != nil {
		t.Fatalf("a reconciler without a controller: %v", err)
	}
}
