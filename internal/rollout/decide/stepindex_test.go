package decide

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestOutOfRangeStepIndex writes step indices a client with status-patch
// rights could write in the middle of an update: a negative one starts the
// steps again with a Warning, one past the last step finishes the update, and
// neither stops the decision.
func TestOutOfRangeStepIndex(t *testing.T) {
	for _, tc := range []struct {
		name  string
		index int32
		check func(t *testing.T, s *sim)
	}{
		{"negative", -7, func(t *testing.T, s *sim) {
			if stepIndex(s) != 1 || s.ro.Status.Phase != v1alpha1.RolloutPhasePaused {
				t.Fatalf("step %d phase %s, want the first pause again", stepIndex(s), s.ro.Status.Phase)
			}
			found := false
			for _, e := range s.events {
				if e.Type == corev1.EventTypeWarning && e.Reason == "InvalidStepIndex" && strings.Contains(e.Message, "-7") {
					found = true
				}
			}
			if !found {
				t.Fatalf("no Warning about the index:\n%s", joinEvents(s.events))
			}
		}},
		{"past the last step", 40, func(t *testing.T, s *sim) {
			wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
			if stepIndex(s) != 4 {
				t.Fatalf("step %d, want 4", stepIndex(s))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newManualGatesSim(t)
			s.settle()
			s.setImage("rails:6.1")
			s.settle() // paused at step 1
			s.ro.Status.CurrentStepIndex = ptr(tc.index)
			s.settle()
			tc.check(t, s)
		})
	}
}
