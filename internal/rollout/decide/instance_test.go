package decide

import (
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestRunsCarryTheRolloutsInstance checks that an AnalysisRun of a Rollout
// labelled for a controller instance carries the same label, so that
// instance, whose caches hold only its own objects, runs it and sees it.
func TestRunsCarryTheRolloutsInstance(t *testing.T) {
	for _, id := range []string{"a", ""} {
		s := newManualGatesSim(t)
		if id != "" {
			s.ro.Labels = map[string]string{v1alpha1.LabelKeyControllerInstanceID: id}
		}
		s.templates.Templates["smoke"] = webTemplate("smoke")
		s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: analysisRef("smoke")}}
		s.settle()
		s.setImage("rails:6.1")
		s.settle()
		run := s.runOf(v1alpha1.RolloutTypeStepLabel)
		got, ok := run.Labels[v1alpha1.LabelKeyControllerInstanceID]
		if got != id || ok != (id != "") {
			t.Fatalf("Rollout of instance %q made a run labelled %v", id, run.Labels)
		}
	}
}
