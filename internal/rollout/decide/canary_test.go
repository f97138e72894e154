package decide

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestCanaryManualGatesLifecycle walks the canary-manual-gates fixture through
// its whole life, as its README describes.
func TestCanaryManualGatesLifecycle(t *testing.T) {
	s := newManualGatesSim(t)
	v1 := s.hashOf("rails:6.0")

	// First apply: one ReplicaSet of 5 becomes stable at once, both Services
	// select it, Healthy.
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	wantCounts(t, s, []string{v1}, 5)
	wantSelectors(t, s, v1, v1)
	if s.ro.Status.StableRS != v1 || stepIndex(s) != 4 {
		t.Fatalf("stableRS %q step %d, want %q and 4", s.ro.Status.StableRS, stepIndex(s), v1)
	}

	// New image: 1 canary + 5 stable, then the indefinite pause.
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 1, 5)
	wantSelectors(t, s, v1, v2)
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	if stepIndex(s) != 1 || len(s.ro.Status.PauseConditions) != 1 || s.ro.Status.PauseConditions[0].Reason != v1alpha1.PauseReasonCanaryPauseStep {
		t.Fatalf("step %d pause %+v, want step 1 with a CanaryPauseStep", stepIndex(s), s.ro.Status.PauseConditions)
	}
	if w := s.ro.Status.Canary.Weights; w != nil {
		t.Fatalf("weights %+v, want none: only a traffic router's split is reported there", w)
	}
	// It stays paused however long nobody promotes.
	s.tick(time.Hour)
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)

	// Promote as the kubectl plugin does: clear the pause conditions.
	s.promote()
	s.reconcile()
	if stepIndex(s) != 2 {
		t.Fatalf("after promote step %d, want 2", stepIndex(s))
	}
	// 50%: 3 and 3, using the surge Pod; then the timed pause, Paused.
	for i := 0; i < 30 && stepIndex(s) < 3; i++ {
		s.reconcile()
		s.tick(time.Second)
	}
	wantCounts(t, s, []string{v2, v1}, 3, 3)
	s.reconcile()
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	p := s.reconcile()
	if p.RequeueAfter <= 0 || p.RequeueAfter > 20*time.Second {
		t.Fatalf("timed pause requeue %s, want within 20s", p.RequeueAfter)
	}
	s.tick(10 * time.Second)
	s.reconcile()
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	s.tick(11 * time.Second)
	// The pause ends on its own; the canary takes over, becomes stable, the
	// old ReplicaSet goes to 0, Healthy.
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	wantCounts(t, s, []string{v2, v1}, 5, 0)
	wantSelectors(t, s, v2, v2)
	if s.ro.Status.StableRS != v2 {
		t.Fatalf("stableRS %q, want %q", s.ro.Status.StableRS, v2)
	}
	if !s.hasEvent(ReasonCompleted) {
		t.Fatalf("no RolloutCompleted event:\n%s", joinEvents(s.events))
	}
}

// TestCanaryNeverExceedsSurgeNorDropsBelowFloor checks the fixture's bounds at
// every state of a whole update: the ReplicaSets' desired replicas never add
// up to more than 6 (maxSurge 1), after each single write of a plan as well
// as after the whole plan, and never fewer than 5 Pods are available
// (maxUnavailable 0). With the strict count, no more than 6 Pods exist,
// terminating ones included.
func TestCanaryNeverExceedsSurgeNorDropsBelowFloor(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			s := newManualGatesSim(t)
			if strict {
				s.ro.Annotations = map[string]string{StrictSurgeAnnotation: "true"}
			}
			s.settle()
			s.setImage("rails:6.1")
			for i := 0; i < 200 && s.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy || i < 5; i++ {
				desired := map[string]int32{}
				for name, rs := range s.rs {
					desired[name] = specReplicas(rs)
				}
				p := s.reconcile()
				for _, a := range p.Actions {
					switch a := a.(type) {
					case ScaleReplicaSet:
						desired[a.Name] = a.To
					case CreateReplicaSet:
						desired[a.ReplicaSet.Name] = specReplicas(a.ReplicaSet)
					default:
						continue
					}
					var sum int32
					for _, n := range desired {
						sum += n
					}
					if sum > 6 {
						t.Fatalf("state %d: after %s the desired replicas add up to %d, more than replicas+surge", i, a.Describe(), sum)
					}
				}
				var pods, avail int32
				for _, rs := range s.rs {
					pods += max(specReplicas(rs), rs.Status.Replicas)
					avail += rs.Status.AvailableReplicas
				}
				if strict && pods > 6 {
					t.Fatalf("state %d: %d Pods, more than replicas+surge", i, pods)
				}
				if avail < 5 {
					t.Fatalf("state %d: %d available, fewer than replicas-maxUnavailable", i, avail)
				}
				if len(s.ro.Status.PauseConditions) > 0 {
					s.promote()
				}
				s.tick(5 * time.Second)
			}
			wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
		})
	}
}

func TestCanaryAbortAndRetry(t *testing.T) {
	s := newManualGatesSim(t)
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle() // paused at step 1 with 1 canary
	s.ro.Status.Abort = true
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	wantCounts(t, s, []string{v2, v1}, 0, 5)
	wantSelectors(t, s, v1, v1)
	if s.ro.Status.AbortedAt == nil || !strings.Contains(s.ro.Status.Message, "RolloutAborted") {
		t.Fatalf("abortedAt %v message %q", s.ro.Status.AbortedAt, s.ro.Status.Message)
	}
	// Retry: clearing abort starts the steps again from the first.
	s.ro.Status.Abort = false
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 1, 5)
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	if stepIndex(s) != 1 || s.ro.Status.AbortedAt != nil {
		t.Fatalf("after retry step %d abortedAt %v", stepIndex(s), s.ro.Status.AbortedAt)
	}
}

// TestCanaryAbortWhenCanaryNeverAvailable is the upstream bug where an abort
// did nothing for a canary whose Pods never became available.
func TestCanaryAbortWhenCanaryNeverAvailable(t *testing.T) {
	s := newManualGatesSim(t)
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:broken")
	v2 := s.hashOf("rails:broken")
	s.broken[v2] = true
	for i := 0; i < 5; i++ {
		s.reconcile()
		s.tick(time.Second)
	}
	wantCounts(t, s, []string{v2, v1}, 1, 5)
	wantSelectors(t, s, v1, v1) // never pointed at Pods that are not available
	s.ro.Status.Abort = true
	s.reconcile()
	wantCounts(t, s, []string{v2, v1}, 0, 5)
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
}

func TestCanaryProgressDeadlineAborts(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Spec.ProgressDeadlineSeconds = ptr(int32(30))
	s.ro.Spec.ProgressDeadlineAbort = true
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:broken")
	v2 := s.hashOf("rails:broken")
	s.broken[v2] = true
	for i := 0; i < 10; i++ {
		s.reconcile()
		s.tick(10 * time.Second)
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	wantCounts(t, s, []string{v2, v1}, 0, 5)
	if !s.ro.Status.Abort || !s.hasEvent(ReasonProgressDeadline) || !s.hasEvent(ReasonAborted) {
		t.Fatalf("abort %v events:\n%s", s.ro.Status.Abort, joinEvents(s.events))
	}
}

func TestCanaryProgressDeadlineWithoutAbortKeepsStable(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Spec.ProgressDeadlineSeconds = ptr(int32(30))
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:broken")
	v2 := s.hashOf("rails:broken")
	s.broken[v2] = true
	for i := 0; i < 10; i++ {
		s.reconcile()
		s.tick(10 * time.Second)
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	if !strings.HasPrefix(s.ro.Status.Message, ReasonProgressDeadline) {
		t.Fatalf("message %q", s.ro.Status.Message)
	}
	wantCounts(t, s, []string{v2, v1}, 1, 5)
	wantSelectors(t, s, v1, v1)
}

// TestCanaryProgressesWithUnavailableStable is the upstream bug where a
// stable whose Pods are not available kept a healthy canary from completing.
func TestCanaryProgressesWithUnavailableStable(t *testing.T) {
	s := newManualGatesSim(t)
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.broken[v1] = true
	s.tick(time.Second)
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	for i := 0; i < 100 && (s.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy || s.ro.Status.StableRS != v2); i++ {
		s.reconcile()
		if len(s.ro.Status.PauseConditions) > 0 {
			s.promote()
		}
		s.tick(5 * time.Second)
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	wantCounts(t, s, []string{v2, v1}, 5, 0)
}

// TestCanaryNewTemplateMidUpdateReplacesCanary is the upstream bug where a
// third ReplicaSet was left running.
func TestCanaryNewTemplateMidUpdateReplacesCanary(t *testing.T) {
	s := newManualGatesSim(t)
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	s.promote()
	for i := 0; i < 20 && stepIndex(s) < 3; i++ {
		s.reconcile()
		s.tick(time.Second)
	}
	wantCounts(t, s, []string{v2, v1}, 3, 3)
	s.setImage("rails:6.2")
	v3 := s.hashOf("rails:6.2")
	s.settle()
	wantCounts(t, s, []string{v3, v2, v1}, 1, 0, 5)
	if stepIndex(s) != 1 {
		t.Fatalf("steps did not start again: step %d", stepIndex(s))
	}
	wantSelectors(t, s, v1, v3)
}

// TestCanaryRollbackToStableIsImmediate: putting the stable template back
// skips every step.
func TestCanaryRollbackToStableIsImmediate(t *testing.T) {
	s := newManualGatesSim(t)
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	s.setImage("rails:6.0")
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	wantCounts(t, s, []string{v2, v1}, 0, 5)
	if len(s.ro.Status.PauseConditions) != 0 || s.ro.Status.StableRS != v1 {
		t.Fatalf("status after rollback: %+v", s.ro.Status)
	}
}

func TestCanaryPromoteFullSkipsSteps(t *testing.T) {
	s := newManualGatesSim(t)
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	s.ro.Status.PromoteFull = true
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	if s.ro.Status.StableRS != v2 || s.ro.Status.PromoteFull {
		t.Fatalf("stable %q promoteFull %v", s.ro.Status.StableRS, s.ro.Status.PromoteFull)
	}
}

func TestCanaryManualPauseHoldsCounts(t *testing.T) {
	s := newManualGatesSim(t)
	s.settle()
	s.setImage("rails:6.1")
	s.settle()
	s.promote()
	s.ro.Spec.Paused = true
	before := s.counts(s.hashOf("rails:6.1"), s.hashOf("rails:6.0"))
	for i := 0; i < 5; i++ {
		s.reconcile()
		s.tick(time.Second)
	}
	if got := s.counts(s.hashOf("rails:6.1"), s.hashOf("rails:6.0")); got[0] != before[0] || got[1] != before[1] {
		t.Fatalf("counts moved while paused: %v -> %v", before, got)
	}
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	if s.ro.Status.Message != "manually paused" {
		t.Fatalf("message %q", s.ro.Status.Message)
	}
	s.ro.Spec.Paused = false
	s.reconcile()
	if stepIndex(s) != 2 {
		t.Fatalf("step %d after resume", stepIndex(s))
	}
}

// TestCanaryEphemeralMetadata follows the canary-versioned-secret fixture's
// labels: role canary on canary Pods, role stable on stable Pods, and after
// promotion nothing left labelled canary.
func TestCanaryEphemeralMetadata(t *testing.T) {
	s := newManualGatesSim(t)
	c := s.ro.Spec.Strategy.Canary
	c.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
	c.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
	v1 := s.hashOf("rails:6.0")
	s.settle()
	if n := s.podsWithLabel(v1, "role", "stable"); n != 5 {
		t.Fatalf("%d stable Pods labelled role=stable, want 5", n)
	}
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	if n := s.podsWithLabel(v2, "role", "canary"); n != 1 || s.podsOf(v2) != 1 {
		t.Fatalf("%d of %d canary Pods labelled role=canary", n, s.podsOf(v2))
	}
	s.ro.Status.PromoteFull = true
	s.settle()
	if n := s.podsWithLabel(v2, "role", "stable"); n != 5 {
		t.Fatalf("%d of %d new stable Pods labelled role=stable", n, s.podsOf(v2))
	}
	for _, p := range s.pods {
		if p.Labels["role"] == "canary" {
			t.Fatalf("Pod %s still labelled canary after promotion", p.Name)
		}
	}
	if got := s.rsByHash(v2).Spec.Template.Labels["role"]; got != "stable" {
		t.Fatalf("new stable ReplicaSet template role=%q", got)
	}
}

func TestCanaryScaleChangeMidStep(t *testing.T) {
	s := newManualGatesSim(t)
	s.settle()
	s.setImage("rails:6.1")
	s.settle()
	s.ro.Spec.Replicas = ptr(int32(10))
	s.settle()
	// 1 of 10 Pods is exactly 10% with the surge Pod: 1 canary and 9 stable.
	wantCounts(t, s, []string{s.hashOf("rails:6.1"), s.hashOf("rails:6.0")}, 1, 9)
}

func TestCanaryRevisionHistoryLimit(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Spec.RevisionHistoryLimit = ptr(int32(1))
	s.settle()
	for _, img := range []string{"rails:1", "rails:2", "rails:3"} {
		s.setImage(img)
		s.ro.Status.PromoteFull = true
		s.settle()
		if s.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy {
			s.ro.Status.PromoteFull = true
			s.settle()
		}
	}
	if len(s.rs) != 2 {
		t.Fatalf("%d ReplicaSets kept, want the stable and 1 old one; deleted %v", len(s.rs), s.deleted)
	}
}

func TestCanaryRestartAt(t *testing.T) {
	s := newManualGatesSim(t)
	s.settle()
	s.tick(time.Minute)
	at := s.now
	s.ro.Spec.RestartAt = ptrTime(at)
	before := map[string]bool{}
	for n := range s.pods {
		before[n] = true
	}
	for i := 0; i < 40 && s.ro.Status.RestartedAt == nil; i++ {
		s.reconcile()
		s.tick(time.Second)
	}
	if s.ro.Status.RestartedAt == nil {
		t.Fatal("restart did not finish")
	}
	for n := range s.pods {
		if before[n] {
			t.Fatalf("Pod %s was not restarted", n)
		}
	}
	// As in the reference, a restart writes no Kubernetes Event: it is
	// logged, and status.restartedAt records that it finished.
	logged := false
	for _, e := range s.events {
		if !e.Routine && (e.Reason == "RolloutRestarted" || e.Reason == "RestartingPod") {
			t.Errorf("restart wrote Event %s: %s", e.Reason, e.Message)
		}
		logged = logged || e.Reason == "RolloutRestarted"
	}
	if !logged {
		t.Error("the finished restart was not logged")
	}
}

func TestCanaryPauseDurationForms(t *testing.T) {
	cases := map[string]time.Duration{"30": 30 * time.Second, "30s": 30 * time.Second, "5m": 5 * time.Minute, "1h": time.Hour}
	for in, want := range cases {
		got, err := pauseDuration(ptr(intstr.FromString(in)))
		if err != nil || got != want {
			t.Errorf("pauseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if got, _ := pauseDuration(ptr(intstr.FromInt32(7))); got != 7*time.Second {
		t.Errorf("pauseDuration(7) = %s", got)
	}
	if _, err := pauseDuration(ptr(intstr.FromString("5 minutes"))); err == nil {
		t.Error("pauseDuration accepted 5 minutes")
	}
}
