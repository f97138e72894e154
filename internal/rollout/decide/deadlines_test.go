package decide

import (
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// wantAbortDeadline checks the aborted version's scale-down-deadline: the
// time its Pods go, abortScaleDownDelaySeconds after the stable was found
// fully available, as the reference writes it; "" wants none.
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
	s, v1, v2 := blueGreenUpdated(t, false, nil)
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
	s, v1, v2 := routedAt25(t, nil)
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
	s, v1, v2 := blueGreenUpdated(t, false, func(s *sim) {
		s.ro.Spec.Strategy.BlueGreen.AbortScaleDownDelaySeconds = ptr(int32(0))
	})
	s.ro.Status.Abort = true
	s.settle()
	s.tick(time.Hour)
	s.settle()
	wantAbortDeadline(t, s, v2, "")
	wantCounts(t, s, []string{v2, v1}, 3, 3)
}

// abortRoutedAt25 takes a routed canary with dynamicStableScale to its 25%
// step (stable at 8 of 10) and aborts it, returning the canary's hash.
func abortRoutedAt25(t *testing.T, delay *int32) (*sim, string, string) {
	s, v1, v2 := routedAt25(t, func(s *sim) {
		c := s.ro.Spec.Strategy.Canary
		c.DynamicStableScale = true
		c.AbortScaleDownDelaySeconds = delay
	})
	wantCounts(t, s, []string{v2, v1}, 3, 8)
	s.ro.Status.Abort = true
	s.reconcile()
	return s, v1, v2
}

// TestDynamicStableScaleAbortDoesNotDelay is the reference's rule that the
// default abortScaleDownDelaySeconds does not apply to dynamicStableScale:
// the canary shrinks as its traffic goes and is gone once it gets none,
// without a deadline.
func TestDynamicStableScaleAbortDoesNotDelay(t *testing.T) {
	s, v1, v2 := abortRoutedAt25(t, nil)
	abortedAt := s.ro.Status.AbortedAt.Time
	for i := 0; i < 10 && specReplicas(s.rsByHash(v2)) > 0; i++ {
		s.tick(time.Second)
		s.reconcile()
		wantAbortDeadline(t, s, v2, "")
	}
	if waited := s.now.Sub(abortedAt); specReplicas(s.rsByHash(v2)) != 0 || waited >= 30*time.Second {
		t.Fatalf("canary has %d replicas %s after the abort, want 0 well before 30s", specReplicas(s.rsByHash(v2)), waited)
	}
	wantWeight(t, s, 0)
	wantCounts(t, s, []string{v2, v1}, 0, 10)
}

// TestAbortDelayCountsFromAFullStable: with an explicit delay, the canary
// of a dynamicStableScale abort waits abortScaleDownDelaySeconds counted
// from the first decision that finds the stable fully available again, as
// in the reference, not from the abort.
func TestAbortDelayCountsFromAFullStable(t *testing.T) {
	s, v1, v2 := abortRoutedAt25(t, ptr(int32(30)))
	abortedAt := s.ro.Status.AbortedAt.Time
	wantAbortDeadline(t, s, v2, "")
	var full time.Time
	for i := 0; i < 10 && full.IsZero(); i++ {
		s.tick(time.Second)
		if available(s.rsByHash(v1)) == 10 {
			full = s.now
		}
		s.reconcile()
	}
	if !full.After(abortedAt) {
		t.Fatalf("stable fully available at %s, abort at %s: the test needs the stable short at the abort", full, abortedAt)
	}
	deadline := full.Add(30 * time.Second)
	wantAbortDeadline(t, s, v2, deadline.UTC().Format(time.RFC3339))
	for s.now.Before(deadline.Add(-time.Second)) {
		s.tick(time.Second)
		s.reconcile()
		if specReplicas(s.rsByHash(v2)) != 3 {
			t.Fatalf("canary has %d replicas at %s, before its deadline %s", specReplicas(s.rsByHash(v2)), s.now, deadline)
		}
	}
	s.tick(2 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 10)
}

// TestBlueGreenAbortWaitsForAFullStable: a preview's delay starts once the
// active version has every Pod available again.
func TestBlueGreenAbortWaitsForAFullStable(t *testing.T) {
	s, v1, v2 := blueGreenUpdated(t, false, nil)
	// Someone scaled the active version down; the abort scales it back.
	s.rsByHash(v1).Spec.Replicas = ptr(int32(1))
	s.tick(time.Second)
	s.ro.Status.Abort = true
	s.reconcile()
	wantAbortDeadline(t, s, v2, "")
	s.tick(time.Second)
	s.reconcile()
	wantAbortDeadline(t, s, v2, s.now.Add(30*time.Second).UTC().Format(time.RFC3339))
	s.tick(31 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 3)
}
