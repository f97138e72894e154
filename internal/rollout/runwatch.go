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

// experimentDecisionChanged passes the Experiment events a Rollout's
// decision can depend on. An Experiment writes its status as its Pods come
// up and its analyses measure; the Rollout reads only its phase and
// message, and the Services of its templates (for traffic weights).
var experimentDecisionChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		prev, ok1 := e.ObjectOld.(*v1alpha1.Experiment)
		next, ok2 := e.ObjectNew.(*v1alpha1.Experiment)
		if !ok1 || !ok2 {
			return true
		}
		return experimentChangeMatters(prev, next)
	},
}

// experimentChangeMatters reports whether next differs from prev in
// anything the Rollout's decision reads: the phase and message, the
// templates' Services and hashes, the spec (a terminate request), its
// deletion, or the labels and owners that say whose Experiment it is.
func experimentChangeMatters(prev, next *v1alpha1.Experiment) bool {
	if prev.Generation != next.Generation ||
		prev.Status.Phase != next.Status.Phase ||
		prev.Status.Message != next.Status.Message ||
		!prev.DeletionTimestamp.Equal(next.DeletionTimestamp) ||
		!maps.Equal(prev.Labels, next.Labels) ||
		!equality.Semantic.DeepEqual(prev.OwnerReferences, next.OwnerReferences) ||
		len(prev.Status.TemplateStatuses) != len(next.Status.TemplateStatuses) {
		return true
	}
	for i := range prev.Status.TemplateStatuses {
		p, n := prev.Status.TemplateStatuses[i], next.Status.TemplateStatuses[i]
		if p.Name != n.Name || p.ServiceName != n.ServiceName || p.PodTemplateHash != n.PodTemplateHash {
			return true
		}
	}
	return false
}
