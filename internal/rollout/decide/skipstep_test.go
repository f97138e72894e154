package decide

import (
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestArgoCDSkipCurrentStepStopsAtTheNextPause applies what Argo CD's
// skip-current-step action writes to a canary paused at its first pause
// (currentStepIndex+1, pauseConditions removed, controllerPause untouched):
// the release moves to 50% and stops at the second indefinite pause, as
// after a plain promote, instead of running through it to the end.
func TestArgoCDSkipCurrentStepStopsAtTheNextPause(t *testing.T) {
	for _, routed := range []bool{false, true} {
		var s *sim
		if routed {
			s = routedSim(t)
		} else {
			s = newManualGatesSim(t)
			s.settle()
		}
		s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
			{SetWeight: ptr(int32(25))}, {Pause: &v1alpha1.RolloutPause{}},
			{SetWeight: ptr(int32(50))}, {Pause: &v1alpha1.RolloutPause{}},
			{SetWeight: ptr(int32(75))},
		}
		s.settle()
		s.setImage("rails:6.1")
		s.settle()
		if stepIndex(s) != 1 || s.ro.Status.Phase != v1alpha1.RolloutPhasePaused || !s.ro.Status.ControllerPause {
			t.Fatalf("routed %v: step %d phase %s controllerPause %v, want paused at 1", routed, stepIndex(s), s.ro.Status.Phase, s.ro.Status.ControllerPause)
		}

		s.ro.Status.CurrentStepIndex = ptr(int32(2))
		s.ro.Status.PauseConditions = nil
		s.settle()
		if stepIndex(s) != 3 || s.ro.Status.Phase != v1alpha1.RolloutPhasePaused || findPause(&s.ro.Status, v1alpha1.PauseReasonCanaryPauseStep) == nil {
			t.Fatalf("routed %v: after skip-current-step step %d phase %s pauses %+v, want paused at 3",
				routed, stepIndex(s), s.ro.Status.Phase, s.ro.Status.PauseConditions)
		}
		// A plain promote from there goes on to the end.
		s.promote()
		s.settle()
		wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	}
}
