package decide

import (
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
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

// TestRunsCarryTheRolloutsShardBucket checks that an AnalysisRun of a
// sharded Rollout carries its bucket, so the replica holding the Rollout's
// shard caches the run from its first watch event.
func TestRunsCarryTheRolloutsShardBucket(t *testing.T) {
	for _, bucket := range []string{"17", ""} {
		s := newManualGatesSim(t)
		if bucket != "" {
			s.ro.Labels = map[string]string{shard.LabelBucket: bucket}
		}
		s.templates.Templates["smoke"] = webTemplate("smoke")
		s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: analysisRef("smoke")}}
		s.settle()
		s.setImage("rails:6.1")
		s.settle()
		run := s.runOf(v1alpha1.RolloutTypeStepLabel)
		got, ok := run.Labels[shard.LabelBucket]
		if got != bucket || ok != (bucket != "") {
			t.Fatalf("Rollout in bucket %q made a run labelled %v", bucket, run.Labels)
		}
	}
}
