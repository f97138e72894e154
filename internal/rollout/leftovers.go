package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

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
// owner reference), so no other memory of past routers is needed for the
// search itself. A Rollout never reconciled before (no observedGeneration)
// has routed nothing yet, so creating many Rollouts costs no lists.
//
// A Rollout that this process knows to have left nothing behind under the
// trafficRouting it has now (see searchedRecord) is not searched either:
// every release of a canary, routed or not, would otherwise list the
// namespace's Ingresses (and DestinationRules) for nothing, since a
// release changes the template, not the routing.
func (r *Reconciler) observeRouterLeftovers(ctx context.Context, ro *v1alpha1.Rollout, snap *decide.Snapshot) error {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return nil
	}
	key := client.ObjectKeyFromObject(ro)
	routing, err := routingFingerprint(c.TrafficRouting)
	if err != nil {
		return err
	}
	// Its routers may write state under this routing from now on, which a
	// search made under another one did not allow for.
	r.searched.forgetUnless(key, routing)
	og := ro.Status.ObservedGeneration
	if og == "" {
		// A status that names ReplicaSets or weights was written by some
		// controller, perhaps one that routed; only a blank one proves
		// that nothing ran for this Rollout yet.
		if ro.Status.CurrentPodHash == "" && ro.Status.StableRS == "" && ro.Status.Canary.Weights == nil {
			r.searched.remember(key, ro.UID, routing)
		}
		return nil
	}
	if og == strconv.FormatInt(ro.Generation, 10) {
		return nil
	}
	if r.searched.has(key, ro.UID, routing) {
		return nil
	}
	api := r.APIReader
	if api == nil {
		api = r.Client
	}
	found, err := routers.Leftovers(ctx, r.absentKinds.Reader(api), ro)
	if err != nil {
		if apierrors.IsForbidden(err) {
			// A role that may not list these objects cannot clean them
			// either; the clean-up is a courtesy, not worth holding the
			// Rollout back for.
			log.FromContext(ctx).Info("not looking for traffic routing state left behind", "rollout", key.String(), "reason", err.Error())
			return nil
		}
		return fmt.Errorf("looking for traffic routing state left behind: %w", err)
	}
	if len(found) == 0 {
		r.searched.remember(key, ro.UID, routing)
	}
	snap.RouterLeftovers = found
	return nil
}

// routingFingerprint identifies a trafficRouting block (0 for none): the
// leftovers a search finds depend on nothing else of the Rollout but its
// name and UID.
func routingFingerprint(tr *v1alpha1.RolloutTrafficRouting) (uint64, error) {
	if tr == nil {
		return 0, nil
	}
	b, err := json.Marshal(tr)
	if err != nil {
		return 0, fmt.Errorf("encoding trafficRouting: %w", err)
	}
	h := fnv.New64a()
	h.Write(b)
	// 0 stands for no routing; a block that hashes to it is searched at
	// every change, as before.
	return h.Sum64() | 1, nil
}

// searchedRecord holds the Rollouts that, as far as this process has seen,
// left no router state anywhere outside the objects their present
// trafficRouting names: each was either seen with a blank status (no
// controller had acted on it), or searched by this process and found clean,
// under the trafficRouting recorded. Every reconcile of a Rollout whose
// trafficRouting differs from the recorded one drops the record before any
// router writes, so a Rollout in the record has written router state only
// under the recorded routing since it was searched or created, and such
// state is no leftover while the routing stays. A Rollout the process has
// not seen that way (the first change after the controller started, or
// after a migration from Argo Rollouts, whose routers may have left state
// the observedGeneration it wrote does not reveal) is searched as before.
// Keys carry the UID so a Rollout re-created under the same name starts
// unknown.
type searchedRecord struct {
	mu sync.Mutex
	m  map[types.NamespacedName]searched
}

type searched struct {
	uid     types.UID
	routing uint64
}

func (u *searchedRecord) remember(key types.NamespacedName, uid types.UID, routing uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[types.NamespacedName]searched{}
	}
	u.m[key] = searched{uid: uid, routing: routing}
}

func (u *searchedRecord) has(key types.NamespacedName, uid types.UID, routing uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	got, ok := u.m[key]
	return ok && got == searched{uid: uid, routing: routing}
}

// forgetUnless drops key's record unless it was made under routing.
func (u *searchedRecord) forgetUnless(key types.NamespacedName, routing uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if got, ok := u.m[key]; ok && got.routing != routing {
		delete(u.m, key)
	}
}

func (u *searchedRecord) forget(key types.NamespacedName) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, key)
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
	found, err := r.leftoversOfDeleted(ctx, api, gone)
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

// leftoversOfDeleted searches for the router state gone left. A deleted
// Rollout is reconciled again for each of its ReplicaSets the garbage
// collector deletes, and each search listed the namespace's Ingresses from
// the API server. Where the Ingress informer runs anyway and holds no
// Ingress of the namespace behind one of our own writes (see
// routerclient.Copies), a search of the cache that finds nothing is
// believed; anything found is looked for again on the API server, whose
// answer the clean-up's writes are made from.
func (r *Reconciler) leftoversOfDeleted(ctx context.Context, api client.Reader, gone *v1alpha1.Rollout) ([]trafficrouting.Leftover, error) {
	reader := r.absentKinds.Reader(api)
	if r.ingressEvents.running() && !r.ingressCopies.Pending(gone.Namespace) {
		found, err := routers.Leftovers(ctx, cachedIngressLists{Reader: reader, cache: r.Client}, gone)
		if err == nil && len(found) == 0 {
			return nil, nil
		}
	}
	return routers.Leftovers(ctx, reader, gone)
}
