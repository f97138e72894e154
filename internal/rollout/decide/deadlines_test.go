package decide

import (
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// wantAbortDeadline checks the aborted version's scale-down-deadline: the
// time its Pods go, abortScaleDownDelaySeconds after the abort, as the
// reference writes it; "" wants none.
func wantAbortDeadline(t *testing.T, s *sim, hash string, want string) {
	t.Helper()
	got, ok := s.rsByHash(hash).Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey]
	if want == "" && ok {
		t.Fatalf("%s carries scale-down-deadline %q, want none", hash, got)
	}
	if want != "" && got != want {
		t.Fatalf("%s scale-down-deadline %q, want %q", hash, got, want)
	}
}

func TestBlueGreenAbortMarksThePreviewsDeadline(t *testing.T) {
	s := newBlueGreenSim(t, false)
	v1 := s.hashOf("api:1")
	s.settle()
	s.setImage("api:2")
	v2 := s.hashOf("api:2")
	s.settle()
	s.ro.Status.Abort = true
	s.settle()
	want := s.ro.Status.AbortedAt.Add(30 * time.Second).UTC().Format(time.RFC3339)
	wantAbortDeadline(t, s, v2, want)
	s.tick(10 * time.Second)
	s.settle()
	wantAbortDeadline(t, s, v2, want)
	wantCounts(t, s, []string{v2, v1}, 3, 3)
	s.tick(21 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 3)
	// The reference keeps it on the scaled-down version until a retry.
	wantAbortDeadline(t, s, v2, want)
	s.ro.Status.Abort = false
	s.settle()
	wantAbortDeadline(t, s, v2, "")
}

func TestRoutedAbortMarksTheCanarysDeadline(t *testing.T) {
	s := routedSim(t)
	v1 := s.ro.Status.StableRS
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	s.promote()
	s.settle()
	s.ro.Status.Abort = true
	s.settle()
	want := s.ro.Status.AbortedAt.Add(30 * time.Second).UTC().Format(time.RFC3339)
	wantAbortDeadline(t, s, v2, want)
	wantCounts(t, s, []string{v2, v1}, 3, 10)
	s.tick(31 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 10)
	wantAbortDeadline(t, s, v2, want)
}

func TestAbortWithoutDelayMarksNoDeadline(t *testing.T) {
	s := newBlueGreenSim(t, false)
	s.ro.Spec.Strategy.BlueGreen.AbortScaleDownDelaySeconds = ptr(int32(0))
	v1 := s.hashOf("api:1")
	s.settle()
	s.setImage("api:2")
	v2 := s.hashOf("api:2")
	s.settle()
	s.ro.Status.Abort = true
	s.settle()
	s.tick(time.Hour)
	s.settle()
	wantAbortDeadline(t, s, v2, "")
	wantCounts(t, s, []string{v2, v1}, 3, 3)
}
