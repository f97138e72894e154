package rollout

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

// urgentPriority is the work-queue priority of a Rollout whose next
// decision sends traffic back to its stable version. Routine work (a Pod
// count, a scale-up, a measurement) stays at the default priority 0, so
// under a burst the workers take the aborts first and their writes reach
// the client's rate limiter ahead of routine ones.
const urgentPriority = 100

// firstMovePriority is the priority at which the urgent handlers queue a
// Rollout that has just become urgent (an abort asked for, a rollback, a
// run that failed), whose traffic has not moved back to stable yet. The
// rest of a routed abort, queued once its router write is made, waits at
// urgentPriority: under a burst those passes (Services, ReplicaSets,
// status, Events, a second or more each on a busy API server) held most
// of the workers, and an abort whose watch event came after them waited
// for every one queued before it; at this priority it waits only for the
// next free worker.
const firstMovePriority = urgentPriority + 1

// urgentRollout reports whether the change from prev to next asks for
// traffic to go back to stable: an abort requested, or the template set
// back to the stable version's (a rollback).
func urgentRollout(prev, next *v1alpha1.Rollout) bool {
	if next.Status.Abort && !prev.Status.Abort {
		return true
	}
	if next.Generation == prev.Generation || next.Spec.WorkloadRef != nil || next.Status.StableRS == "" {
		return false
	}
	hash := podhash.Template(&next.Spec.Template, next.Status.CollisionCount)
	return hash == next.Status.StableRS && hash != next.Status.CurrentPodHash
}

// notUrgentRollout keeps the regular Rollout watch from queueing the
// changes urgentRolloutHandler queues. The two queue into different lanes,
// so queued by both, an abort would be reconciled twice: once urgently and
// once more, for nothing, as routine work.
var notUrgentRollout = predicate.TypedFuncs[client.Object]{
	UpdateFunc: func(e event.TypedUpdateEvent[client.Object]) bool {
		prev, ok1 := e.ObjectOld.(*v1alpha1.Rollout)
		next, ok2 := e.ObjectNew.(*v1alpha1.Rollout)
		return !ok1 || !ok2 || !urgentRollout(prev, next)
	},
}

// notUrgentRun does the same as notUrgentRollout for the runs
// urgentRunHandler queues.
var notUrgentRun = predicate.TypedFuncs[client.Object]{
	UpdateFunc: func(e event.TypedUpdateEvent[client.Object]) bool {
		prev, ok1 := e.ObjectOld.(*v1alpha1.AnalysisRun)
		next, ok2 := e.ObjectNew.(*v1alpha1.AnalysisRun)
		return !ok1 || !ok2 || !urgentRun(prev, next)
	},
}

// urgentRun reports whether an AnalysisRun just ended in a way that aborts
// its Rollout.
func urgentRun(prev, next *v1alpha1.AnalysisRun) bool {
	failed := func(p v1alpha1.AnalysisPhase) bool {
		return p == v1alpha1.AnalysisPhaseFailed || p == v1alpha1.AnalysisPhaseError
	}
	return failed(next.Status.Phase) && !failed(prev.Status.Phase)
}

// addUrgent queues req ahead of routine work and of the urgent passes that
// finish aborts whose traffic already moved; a queue without priorities (a
// test's) gets a plain add.
func addUrgent(q workqueue.TypedRateLimitingInterface[reconcile.Request], req reconcile.Request) {
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: firstMovePriority}, req)
		return
	}
	q.Add(req)
}

// urgentHandler queues, at firstMovePriority, the Rollouts that update events
// of T make urgent. It implements the handler interface itself rather than
// through handler.TypedFuncs: TypedFuncs hands its functions a wrapper of
// the queue that is no priority queue, whose Add queues at the default
// priority, so an urgent add through it would be a routine one.
type urgentHandler[T client.Object] struct {
	// urgent lists the Rollouts the change from old to new makes urgent.
	urgent func(old, new T) []reconcile.Request
}

// Create implements handler.TypedEventHandler; creation is never urgent.
func (urgentHandler[T]) Create(context.Context, event.TypedCreateEvent[T], workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// Update queues the Rollouts the change makes urgent.
func (h urgentHandler[T]) Update(_ context.Context, e event.TypedUpdateEvent[T], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	for _, req := range h.urgent(e.ObjectOld, e.ObjectNew) {
		addUrgent(q, req)
	}
}

// Delete implements handler.TypedEventHandler; the regular watch handles
// deletions.
func (urgentHandler[T]) Delete(context.Context, event.TypedDeleteEvent[T], workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// Generic implements handler.TypedEventHandler.
func (urgentHandler[T]) Generic(context.Context, event.TypedGenericEvent[T], workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// urgentRolloutHandler raises the priority of a Rollout whose own change
// is urgent; the regular watch queues every change at the default one.
var urgentRolloutHandler handler.TypedEventHandler[*v1alpha1.Rollout, reconcile.Request] = urgentHandler[*v1alpha1.Rollout]{
	urgent: func(old, new *v1alpha1.Rollout) []reconcile.Request {
		if !urgentRollout(old, new) {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: new.Namespace, Name: new.Name}}}
	},
}

// urgentRunHandler raises the priority of the Rollout that owns a run that
// just failed.
var urgentRunHandler handler.TypedEventHandler[*v1alpha1.AnalysisRun, reconcile.Request] = urgentHandler[*v1alpha1.AnalysisRun]{
	urgent: func(old, new *v1alpha1.AnalysisRun) []reconcile.Request {
		if !urgentRun(old, new) {
			return nil
		}
		var reqs []reconcile.Request
		for _, ref := range new.OwnerReferences {
			if ref.Controller != nil && *ref.Controller && ref.Kind == "Rollout" {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: new.Namespace, Name: ref.Name}})
			}
		}
		return reqs
	},
}

// stoppableQueue is a priority queue whose Get returns once it is shut
// down. The priority queue of this controller-runtime version leaves the
// workers waiting in Get blocked, so the manager would wait out its whole
// grace period and exit with an error on every stop.
type stoppableQueue[T comparable] struct {
	priorityqueue.PriorityQueue[T]
	stopOnce sync.Once
	stopped  chan struct{}
}

// ShutDown stops the queue and releases every waiting Get.
func (q *stoppableQueue[T]) ShutDown() {
	q.stopOnce.Do(func() { close(q.stopped) })
	q.PriorityQueue.ShutDown()
}

// ShutDownWithDrain is ShutDown: controller-runtime does not drain.
func (q *stoppableQueue[T]) ShutDownWithDrain() { q.ShutDown() }

// GetWithPriority waits for the next item, or for the shutdown.
func (q *stoppableQueue[T]) GetWithPriority() (T, int, bool) {
	type got struct {
		item     T
		priority int
		shutdown bool
	}
	ch := make(chan got, 1)
	go func() {
		item, priority, shutdown := q.PriorityQueue.GetWithPriority()
		ch <- got{item, priority, shutdown}
	}()
	select {
	case g := <-ch:
		return g.item, g.priority, g.shutdown
	case <-q.stopped:
		var zero T
		return zero, 0, true
	}
}

// Get waits for the next item, or for the shutdown.
func (q *stoppableQueue[T]) Get() (T, bool) {
	item, _, shutdown := q.GetWithPriority()
	return item, shutdown
}
