package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestQuietOnStopDropsOnlyErrorsOfAStoppedPass(t *testing.T) {
	failing := quietOnStop(reconcile.Func(func(ctx context.Context, _ reconcile.Request) (ctrl.Result, error) {
		if err := ctx.Err(); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: time.Second}, errors.New("the API server refused")
	}))
	res, err := failing.Reconcile(context.Background(), reconcile.Request{})
	if err == nil || res.RequeueAfter != time.Second {
		t.Fatalf("running controller: result %+v, error %v; want the pass's own", res, err)
	}
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := failing.Reconcile(stopped, reconcile.Request{}); err != nil || res != (ctrl.Result{}) {
		t.Fatalf("stopping controller: result %+v, error %v; want neither", res, err)
	}
}
