package rollout

import (
	"context"
	"fmt"
	"strconv"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routers"
)

// observeRouterLeftovers looks for router state the Rollout left in objects
// it no longer routes through. Such state appears only when the spec
// changes (trafficRouting removed or pointed elsewhere), so the objects
// are listed only while the status has not yet caught up with the spec's
// generation: once per change, and again until the clean-up's writes and
// the status that follows them have succeeded. The objects are marked by
// the router (a managed-by annotation, a managed-annotations record, an
// owner reference), so no other memory of past routers is kept. A Rollout
// never reconciled before (no observedGeneration) has routed nothing yet,
// so creating many Rollouts costs no lists.
func (r *Reconciler) observeRouterLeftovers(ctx context.Context, ro *v1alpha1.Rollout, snap *decide.Snapshot) error {
	og := ro.Status.ObservedGeneration
	if ro.Spec.Strategy.Canary == nil || og == "" || og == strconv.FormatInt(ro.Generation, 10) {
		return nil
	}
	api := r.APIReader
	if api == nil {
		api = r.Client
	}
	found, err := routers.Leftovers(ctx, api, ro)
	if err != nil {
		if apierrors.IsForbidden(err) {
			// A role that may not list these objects cannot clean them
			// either; the clean-up is a courtesy, not worth holding the
			// Rollout back for.
			log.FromContext(ctx).Info("not looking for traffic routing state left behind", "rollout", client.ObjectKeyFromObject(ro).String(), "reason", err.Error())
			return nil
		}
		return fmt.Errorf("looking for traffic routing state left behind: %w", err)
	}
	snap.RouterLeftovers = found
	return nil
}

// cleanUpRouterObject applies one clean-up: the object without the
// router's state, written with the resourceVersion read so a concurrent
// edit fails it (the next reconcile looks again), or the router's own
// object deleted.
func (e *executor) cleanUpRouterObject(ctx context.Context, l trafficrouting.Leftover) error {
	if l.After == nil {
		uid := l.Before.GetUID()
		return ignoreNotFound(e.c.Delete(ctx, l.Before, client.Preconditions{UID: &uid}))
	}
	_, err := trafficrouting.UpdateIfChanged(ctx, e.c, l.Before, l.After)
	return ignoreNotFound(err)
}

// cleanUpAfterDeletion removes the router state a deleted Rollout left:
// Argo Rollouts cleans a DestinationRule whose managing Rollout does not
// exist, and resets the ALB actions of a Rollout no Ingress user is left
// for. The objects carry the Rollout's name, so its name is all that is
// needed; the canary Ingresses and TrafficSplits it owned go with it by
// garbage collection.
func (r *Reconciler) cleanUpAfterDeletion(ctx context.Context, key types.NamespacedName, log logr.Logger) error {
	api := r.APIReader
	if api == nil {
		api = r.Client
	}
	// Missing from the cache is not gone from the cluster: a Rollout not
	// yet labelled for a shard, or another instance's, still owns its
	// router state.
	var live v1alpha1.Rollout
	if err := api.Get(ctx, key, &live); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("checking that the Rollout is gone: %w", err)
	}
	gone := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	found, err := routers.Leftovers(ctx, api, gone)
	if apierrors.IsForbidden(err) {
		log.Info("not looking for traffic routing state left by a deleted Rollout", "reason", err.Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking for traffic routing state left by a deleted Rollout: %w", err)
	}
	actions := decide.CleanUpAfterDeletion(found)
	if len(actions) == 0 {
		return nil
	}
	return (&executor{c: r.Client, ro: gone, log: log}).apply(ctx, actions)
}
