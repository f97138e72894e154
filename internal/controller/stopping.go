package controller

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// quietOnStop wraps r so that a pass cut short because the controller is
// stopping (a shutdown, or a sharded replica rebuilding its manager for a
// new set of shards) is not reported as a reconcile error: its writes end
// with "context canceled", and the next manager, here or on another
// replica, reconciles the object again from the cluster's state. Such a
// pass is logged at debug level instead.
func quietOnStop(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
		res, err := r.Reconcile(ctx, req)
		if err != nil && ctx.Err() != nil {
			log.FromContext(ctx).V(1).Info("pass cut short by the controller stopping", "error", err.Error())
			return ctrl.Result{}, nil
		}
		return res, err
	})
}
