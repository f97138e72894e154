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

// TestArgoCDSkipFromAPauseIntoAPause skips from one indefinite pause into
// the next: the skip must stop at that pause, while a promote there still
// moves on, and a Rollout paused before the pause's step was recorded
// keeps reading a cleared condition as a promote.
func TestArgoCDSkipFromAPauseIntoAPause(t *testing.T) {
	s := newManualGatesSim(t)
	s.settle()
	s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(25))}, {Pause: &v1alpha1.RolloutPause{}},
		{Pause: &v1alpha1.RolloutPause{}}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr(int32(75))},
	}
	s.settle()
	s.setImage("rails:6.1")
	s.settle()
	if stepIndex(s) != 1 || s.ro.Annotations[PausedStepAnnotation] != "1" {
		t.Fatalf("step %d, paused-step %q, want paused at 1 and recorded", stepIndex(s), s.ro.Annotations[PausedStepAnnotation])
	}

	skip := func() {
		s.ro.Status.CurrentStepIndex = ptr(int32(stepIndex(s) + 1))
		s.ro.Status.PauseConditions = nil
		s.settle()
	}
	skip()
	if stepIndex(s) != 2 || s.ro.Status.Phase != v1alpha1.RolloutPhasePaused || findPause(&s.ro.Status, v1alpha1.PauseReasonCanaryPauseStep) == nil {
		t.Fatalf("after a skip from the pause at 1: step %d phase %s pauses %+v, want paused at 2",
			stepIndex(s), s.ro.Status.Phase, s.ro.Status.PauseConditions)
	}
	if s.ro.Annotations[PausedStepAnnotation] != "2" {
		t.Fatalf("paused-step %q after pausing at 2", s.ro.Annotations[PausedStepAnnotation])
	}
	s.promote()
	s.settle()
	if stepIndex(s) != 3 || s.ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("after a promote at 2: step %d phase %s, want paused at 3", stepIndex(s), s.ro.Status.Phase)
	}

	// Paused by a controller that kept no record: a cleared condition is
	// a promote, as it was.
	delete(s.ro.Annotations, PausedStepAnnotation)
	s.promote()
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
}

// TestPausedStepRecordOnlyWherePausesMeet checks that a release whose
// pauses each follow and precede other steps writes no record, so it
// costs no write, and that a stale record from another release does not
// block a promote there.
func TestPausedStepRecordOnlyWherePausesMeet(t *testing.T) {
	s := newManualGatesSim(t)
	s.settle()
	s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(25))}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr(int32(50))}, {Pause: &v1alpha1.RolloutPause{}},
	}
	s.settle()
	if s.ro.Annotations == nil {
		s.ro.Annotations = map[string]string{}
	}
	s.ro.Annotations[PausedStepAnnotation] = "7"
	s.setImage("rails:6.1")
	s.settle()
	if stepIndex(s) != 1 || s.ro.Annotations[PausedStepAnnotation] != "7" {
		t.Fatalf("step %d, paused-step %q, want paused at 1 with the record untouched", stepIndex(s), s.ro.Annotations[PausedStepAnnotation])
	}
	s.promote()
	s.settle()
	if stepIndex(s) != 3 || s.ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("after a promote at 1: step %d phase %s, want paused at 3", stepIndex(s), s.ro.Status.Phase)
	}
}
