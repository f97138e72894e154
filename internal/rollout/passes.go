package rollout

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
)

// These counters say why the Rollout queue is busy: which watch events
// queue a Rollout, and how each pass ended. An abort that takes many passes
// shows here which events to leave out.
var (
	queueEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kanaria_rollout_queue_events_total",
		Help: "Watch events that queued a Rollout, by the kind of the object that changed and the event type.",
	}, []string{"source", "event"})
	droppedEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kanaria_rollout_queue_events_dropped_total",
		Help: "Watch events left out of the Rollout queue because the pass they would start cannot change a decision, by source and reason.",
	}, []string{"source", "reason"})
	writtenReads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kanaria_rollout_written_copy_reads_total",
		Help: "Objects a Rollout reconcile took from the controller's own last write instead of a cache still behind it, by kind (rollout, replicaset, analysisrun: a run the Rollout's pass created that the cache does not show yet).",
	}, []string{"kind"})
	reconcilePasses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kanaria_rollout_reconcile_passes_total",
		Help: "Rollout reconciles by how they ended: acted (decided and wrote what it decided), traffic_first (made only an abort's router writes and queued the rest), stale_rollout and stale_replicasets (the cache was behind the controller's own writes), conflict, error, gone, name_taken (a create found the name of the next ReplicaSet, AnalysisRun or Experiment held by one not the Rollout's; the next pass moves to another name).",
	}, []string{"outcome"})
)

// Pass outcomes of reconcilePasses.
const (
	passActed            = "acted"
	passStaleRollout     = "stale_rollout"
	passStaleReplicaSets = "stale_replicasets"
	passTrafficFirst     = "traffic_first"
	passConflict         = "conflict"
	passError            = "error"
	passGone             = "gone"
	passNameTaken        = "name_taken"
)

func init() {
	crmetrics.Registry.MustRegister(queueEvents, droppedEvents, reconcilePasses, writtenReads)
}

// countEvents is a predicate that lets every event through and counts it
// under source. It goes last in a watch's predicates, so it counts the
// events that queue a Rollout.
func countEvents(source string) predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool {
			queueEvents.WithLabelValues(source, "create").Inc()
			return true
		},
		UpdateFunc: func(event.UpdateEvent) bool {
			queueEvents.WithLabelValues(source, "update").Inc()
			return true
		},
		DeleteFunc: func(event.DeleteEvent) bool {
			queueEvents.WithLabelValues(source, "delete").Inc()
			return true
		},
		GenericFunc: func(event.GenericEvent) bool {
			queueEvents.WithLabelValues(source, "generic").Inc()
			return true
		},
	}
}

// countPass records how a reconcile ended.
func countPass(outcome string) { reconcilePasses.WithLabelValues(outcome).Inc() }

// notSuperseded leaves out the update events of a Rollout version the
// controller's own later writes have already replaced. Informers deliver a
// version's event after storing it, so a reconcile started by another
// event may have read that version, decided and written on top of it
// before the event is handled; a pass for it would find the cache behind
// the write and only wait. The event of the written version, which comes
// after, queues the Rollout instead.
func notSuperseded(fresh *cachefresh.Tracker) predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectNew == nil {
				return true
			}
			key := types.NamespacedName{Namespace: e.ObjectNew.GetNamespace(), Name: e.ObjectNew.GetName()}
			if fresh.Superseded(key, e.ObjectNew.GetResourceVersion()) {
				droppedEvents.WithLabelValues("rollout", "superseded").Inc()
				return false
			}
			return true
		},
	}
}
