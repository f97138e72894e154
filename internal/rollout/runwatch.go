package rollout

import (
	"maps"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// runDecisionChanged passes the AnalysisRun events a Rollout's decision can
// depend on. A running analysis writes its status at every measurement (once
// a second per metric at a 1 s interval), and none of those writes changes
// what the Rollout decides until the run's phase or message does; waking the
// Rollout for each would cost a reconcile per measurement.
var runDecisionChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		prev, ok1 := e.ObjectOld.(*v1alpha1.AnalysisRun)
		next, ok2 := e.ObjectNew.(*v1alpha1.AnalysisRun)
		if !ok1 || !ok2 {
			return true
		}
		return runChangeMatters(prev, next)
	},
}

// runChangeMatters reports whether next differs from prev in anything the
// Rollout's decision reads: the run's phase and message, its spec (a
// terminate request), its deletion, or the labels, annotations and owners
// that say whose run it is and what it is for.
func runChangeMatters(prev, next *v1alpha1.AnalysisRun) bool {
	return prev.Generation != next.Generation ||
		prev.Status.Phase != next.Status.Phase ||
		prev.Status.Message != next.Status.Message ||
		!prev.DeletionTimestamp.Equal(next.DeletionTimestamp) ||
		!maps.Equal(prev.Labels, next.Labels) ||
		!maps.Equal(prev.Annotations, next.Annotations) ||
		!equality.Semantic.DeepEqual(prev.OwnerReferences, next.OwnerReferences)
}
