package rollout

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/event"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// These counters say why the Rollout queue is busy: which watch events
// queue a Rollout, and how each pass ended. An abort that takes many passes
// shows here which events to leave out.
var (
	queueEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kanaria_rollout_queue_events_total",
		Help: "Watch events that queued a Rollout, by the kind of the object that changed and the event type.",
	}, []string{"source", "event"})
	reconcilePasses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kanaria_rollout_reconcile_passes_total",
		Help: "Rollout reconciles by how they ended: acted (decided and wrote what it decided), stale_rollout and stale_replicasets (the cache was behind the controller's own writes), conflict, error, gone.",
	}, []string{"outcome"})
)

// Pass outcomes of reconcilePasses.
const (
	passActed            = "acted"
	passStaleRollout     = "stale_rollout"
	passStaleReplicaSets = "stale_replicasets"
	passConflict         = "conflict"
	passError            = "error"
	passGone             = "gone"
)

func init() {
	crmetrics.Registry.MustRegister(queueEvents, reconcilePasses)
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
