package decide

import (
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// wantNoLiveRuns fails when an AnalysisRun still measures.
func wantNoLiveRuns(t *testing.T, s *sim) {
	t.Helper()
	for name, r := range s.runs {
		if !r.Spec.Terminate && !r.Status.Phase.Completed() {
			t.Fatalf("run %s still measures", name)
		}
	}
}

// TestRollbackWindowSkipsAnalysis: a return to a version within
// spec.rollbackWindow starts no analysis, background for a canary and
// pre- and post-promotion for blue-green, and the runs of the release it
// interrupts stop.
func TestRollbackWindowSkipsAnalysis(t *testing.T) {
	t.Run("canary", func(t *testing.T) {
		s := newManualGatesSim(t)
		s.templates.Templates["smoke"] = webTemplate("smoke")
		s.ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: *analysisRef("smoke")}
		s.ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 1}
		deployed(s)
		s.setImage("rails:6.1")
		s.settle()
		s.ro.Status.PromoteFull = true
		s.settle()
		s.setImage("rails:6.2")
		s.settle()
		s.runOf(v1alpha1.RolloutTypeBackgroundRunLabel)
		before := len(s.runs)
		s.setImage("rails:6.0")
		s.settle()
		wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
		if s.ro.Status.StableRS != s.hashOf("rails:6.0") {
			t.Fatalf("stable %s after the rollback", s.ro.Status.StableRS)
		}
		if len(s.runs) != before {
			t.Fatalf("the rollback started analysis: %v", sortedKeys(s.runs))
		}
		wantNoLiveRuns(t, s)
	})
	t.Run("blue-green", func(t *testing.T) {
		s := newBlueGreenSim(t, false)
		s.templates.Templates["smoke"] = webTemplate("smoke")
		b := s.ro.Spec.Strategy.BlueGreen
		b.PrePromotionAnalysis, b.PostPromotionAnalysis = analysisRef("smoke"), analysisRef("smoke")
		s.ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 1}
		deployed(s)
		s.setImage("api:2")
		s.settle()
		s.ro.Status.PromoteFull = true
		s.settle()
		s.setImage("api:3")
		s.settle()
		s.runOf(v1alpha1.RolloutTypePrePromotionLabel)
		before := len(s.runs)
		s.setImage("api:1")
		s.settle()
		wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
		if svcHash(s, "api-active") != s.hashOf("api:1") || s.ro.Status.StableRS != s.hashOf("api:1") {
			t.Fatalf("active %s stable %s after the rollback", svcHash(s, "api-active"), s.ro.Status.StableRS)
		}
		if len(s.runs) != before {
			t.Fatalf("the rollback started analysis: %v", sortedKeys(s.runs))
		}
		wantNoLiveRuns(t, s)
		wantFinished(t, s, v1alpha1.CompletionStatusFastRollbacked)
	})
	t.Run("outside the window analysis runs", func(t *testing.T) {
		s := newBlueGreenSim(t, false)
		s.templates.Templates["smoke"] = webTemplate("smoke")
		s.ro.Spec.Strategy.BlueGreen.PrePromotionAnalysis = analysisRef("smoke")
		deployed(s)
		s.setImage("api:2")
		s.settle()
		s.ro.Status.PromoteFull = true
		s.settle()
		s.setImage("api:1")
		s.settle()
		s.runOf(v1alpha1.RolloutTypePrePromotionLabel)
		if d := wantInProgress(t, s); d.GetCompletionStatus() != v1alpha1.CompletionStatusRollbacked {
			t.Fatalf("rollback without a window classified %q", d.GetCompletionStatus())
		}
	})
}
