package decide

import (
	"fmt"
	"testing"
	"time"
)

// TestStepCompletedNotedOncePerStep walks the manual-gates fixture through an
// update and checks that every step's completion is decided exactly once, in
// order, as a routine decision (no Kubernetes Event) that notifications
// announce as on-rollout-step-completed.
func TestStepCompletedNotedOncePerStep(t *testing.T) {
	s := newManualGatesSim(t)
	s.settle()
	s.events = nil
	s.setImage("rails:6.1")
	s.settle()
	s.promote()
	for i := 0; i < 60 && s.ro.Status.Phase != "Healthy"; i++ {
		s.reconcile()
		s.tick(time.Second)
	}
	steps := len(s.ro.Spec.Strategy.Canary.Steps)
	var got []string
	for _, e := range s.events {
		if e.Reason != ReasonStepCompleted {
			continue
		}
		if !e.Routine {
			t.Fatalf("step completion %q is recorded as a Kubernetes Event", e.Message)
		}
		got = append(got, e.Message)
	}
	if len(got) != steps {
		t.Fatalf("%d step completions, want %d:\n%s", len(got), steps, joinEvents(s.events))
	}
	for i, m := range got {
		if want := fmt.Sprintf("Rollout step %d/%d completed", i+1, steps); m != want {
			t.Fatalf("completion %d is %q, want %q", i, m, want)
		}
	}
}
