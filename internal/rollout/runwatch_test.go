package rollout

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestRunDecisionChanged(t *testing.T) {
	base := func() *v1alpha1.AnalysisRun {
		return &v1alpha1.AnalysisRun{
			ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", Generation: 1,
				Labels:          map[string]string{v1alpha1.RolloutTypeLabel: v1alpha1.RolloutTypeBackgroundRunLabel},
				OwnerReferences: []metav1.OwnerReference{{UID: "ro-1", Controller: ptrTo(true)}}},
			Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning,
				MetricResults: []v1alpha1.MetricResult{{Name: "web", Count: 3, Successful: 3}}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(r *v1alpha1.AnalysisRun)
		want   bool
	}{
		{"a new measurement", func(r *v1alpha1.AnalysisRun) {
			r.Status.MetricResults[0].Count, r.Status.MetricResults[0].Successful = 4, 4
			r.Status.MetricResults[0].Measurements = append(r.Status.MetricResults[0].Measurements, v1alpha1.Measurement{Value: "1"})
			r.ResourceVersion = "8"
		}, false},
		{"the phase", func(r *v1alpha1.AnalysisRun) { r.Status.Phase = v1alpha1.AnalysisPhaseFailed }, true},
		{"the message", func(r *v1alpha1.AnalysisRun) { r.Status.Message = "metric web assessed Failed" }, true},
		{"a terminate request", func(r *v1alpha1.AnalysisRun) { r.Spec.Terminate, r.Generation = true, 2 }, true},
		{"its deletion", func(r *v1alpha1.AnalysisRun) { r.DeletionTimestamp = &metav1.Time{} }, true},
		{"a label", func(r *v1alpha1.AnalysisRun) { r.Labels["x"] = "y" }, true},
		{"an annotation", func(r *v1alpha1.AnalysisRun) { r.Annotations = map[string]string{"x": "y"} }, true},
		{"its owner", func(r *v1alpha1.AnalysisRun) { r.OwnerReferences = nil }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev, next := base(), base()
			tc.change(next)
			if got := runDecisionChanged.Update(event.UpdateEvent{ObjectOld: prev, ObjectNew: next}); got != tc.want {
				t.Errorf("passes = %v, want %v", got, tc.want)
			}
		})
	}
	// Creations and deletions always reach the Rollout.
	if !runDecisionChanged.Create(event.CreateEvent{Object: base()}) || !runDecisionChanged.Delete(event.DeleteEvent{Object: base()}) {
		t.Error("a create or delete event was filtered out")
	}
}

func TestExperimentDecisionChanged(t *testing.T) {
	base := func() *v1alpha1.Experiment {
		return &v1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns", Generation: 1,
				Labels:          map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: "abc"},
				OwnerReferences: []metav1.OwnerReference{{UID: "ro-1", Controller: ptrTo(true)}}},
			Status: v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseRunning,
				TemplateStatuses: []v1alpha1.TemplateStatus{{Name: "canary", Replicas: 1, ServiceName: "e-canary", PodTemplateHash: "h1"}}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(e *v1alpha1.Experiment)
		want   bool
	}{
		{"a Pod count", func(e *v1alpha1.Experiment) {
			e.Status.TemplateStatuses[0].ReadyReplicas, e.Status.TemplateStatuses[0].AvailableReplicas = 1, 1
			e.Status.AnalysisRuns = []v1alpha1.ExperimentAnalysisRunStatus{{Name: "smoke", AnalysisRun: "e-smoke", Phase: v1alpha1.AnalysisPhaseRunning}}
		}, false},
		{"the phase", func(e *v1alpha1.Experiment) { e.Status.Phase = v1alpha1.AnalysisPhaseFailed }, true},
		{"the message", func(e *v1alpha1.Experiment) { e.Status.Message = "analysis smoke failed" }, true},
		{"a template's Service", func(e *v1alpha1.Experiment) { e.Status.TemplateStatuses[0].ServiceName = "other" }, true},
		{"a new template status", func(e *v1alpha1.Experiment) {
			e.Status.TemplateStatuses = append(e.Status.TemplateStatuses, v1alpha1.TemplateStatus{Name: "baseline"})
		}, true},
		{"a terminate request", func(e *v1alpha1.Experiment) { e.Spec.Terminate, e.Generation = true, 2 }, true},
		{"its deletion", func(e *v1alpha1.Experiment) { e.DeletionTimestamp = &metav1.Time{} }, true},
		{"its owner", func(e *v1alpha1.Experiment) { e.OwnerReferences = nil }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev, next := base(), base()
			tc.change(next)
			if got := experimentDecisionChanged.Update(event.UpdateEvent{ObjectOld: prev, ObjectNew: next}); got != tc.want {
				t.Errorf("passes = %v, want %v", got, tc.want)
			}
		})
	}
}
