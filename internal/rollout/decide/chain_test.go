package decide

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestStatusOnlyStepsShareAWrite checks the two merges that save status
// writes: the pause after a reached weight starts in the same plan that
// moves the index, and an expired pause ends in the plan that scales for
// the next weight.
func TestStatusOnlyStepsShareAWrite(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(10))},
		{Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("5s"))}},
		{SetWeight: ptr(int32(50))},
		{Pause: &v1alpha1.RolloutPause{}},
	}
	s.settle()
	v1 := s.ro.Status.StableRS
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")

	// Walk until the weight of step 0 is reached: that plan moves the index
	// and starts the pause together.
	s.reconcile()
	for i := 0; i < 20 && stepIndex(s) == 0; i++ {
		s.tick(100 * time.Millisecond)
		s.reconcile()
	}
	if stepIndex(s) != 1 || findPause(&s.ro.Status, v1alpha1.PauseReasonCanaryPauseStep) == nil {
		t.Fatalf("step %d, pauses %+v: the timed pause did not start with the index", stepIndex(s), s.ro.Status.PauseConditions)
	}
	// Past the pause's end, one plan ends it, moves to step 2 and scales.
	s.tick(6 * time.Second)
	p := s.reconcile()
	if stepIndex(s) != 2 {
		t.Fatalf("step %d after the pause ended, want 2", stepIndex(s))
	}
	scaled := false
	for _, a := range p.Actions {
		if sc, ok := a.(ScaleReplicaSet); ok && (sc.Name == s.rsByHash(v2).Name || sc.Name == s.rsByHash(v1).Name) {
			scaled = true
		}
	}
	if !scaled {
		t.Fatalf("the plan that ended the pause did not scale for 50%%: %v", p.Actions)
	}
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 3, 3)
	if stepIndex(s) != 3 {
		t.Fatalf("step %d, want the indefinite pause at 3", stepIndex(s))
	}
}

// TestTimedPauseEndIsCrashSafe loses the status write of the plan that ended
// a pause and scaled: the next reconcile, from the old status, reaches the
// same step and plans no undoing scale.
func TestTimedPauseEndIsCrashSafe(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(10))},
		{Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("5s"))}},
		{SetWeight: ptr(int32(50))},
		{Pause: &v1alpha1.RolloutPause{}},
	}
	s.settle()
	s.setImage("rails:6.1")
	s.reconcile()
	for i := 0; i < 20 && stepIndex(s) != 1; i++ {
		s.tick(100 * time.Millisecond)
		s.reconcile()
	}
	s.tick(6 * time.Second)
	old := *s.ro.Status.DeepCopy()
	p := Decide(s.snapshot())
	for _, a := range p.Actions {
		s.apply(a)
	}
	// The status write is lost: the Rollout keeps its old status.
	s.ro.Status = old
	s.tick(100 * time.Millisecond)
	q := Decide(s.snapshot())
	for _, a := range q.Actions {
		if sc, ok := a.(ScaleReplicaSet); ok && sc.To < sc.From && sc.Name == s.rsByHash(s.hashOf("rails:6.1")).Name {
			t.Fatalf("after the lost write the canary is scaled back down: %s", sc.Describe())
		}
	}
	if got := deref(q.Status.CurrentStepIndex, -1); got != 2 {
		t.Fatalf("after the lost write the step is %d, want 2", got)
	}
}

func TestStrictPodsNowCountsTerminatingPodsWithinGrace(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pod := func(name string, deleteBy *time.Time) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if deleteBy != nil {
			p.DeletionTimestamp = &metav1.Time{Time: *deleteBy}
		}
		return p
	}
	soon, past := now.Add(20*time.Second), now.Add(-time.Second)
	strict := &v1alpha1.Rollout{}
	strict.Annotations = map[string]string{StrictSurgeAnnotation: "true"}
	d := &decider{ro: strict, s: Snapshot{Now: now, Pods: []*corev1.Pod{pod("running", nil), pod("terminating", &soon), pod("stuck", &past)}}}
	if got := d.podsNow(); got != 2 {
		t.Fatalf("podsNow = %d, want 2 (running and terminating within grace; not the stuck one)", got)
	}
	if d.plan.RequeueAfter == 0 {
		t.Fatal("no requeue while a Pod terminates: its disappearance triggers no reconcile")
	}
}

func TestPodsNowFollowsDesiredReplicasByDefault(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	soon := metav1.NewTime(now.Add(20 * time.Second))
	terminating := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "terminating", DeletionTimestamp: &soon}}
	running := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "running"}}
	d := &decider{ro: &v1alpha1.Rollout{}, s: Snapshot{Now: now, Pods: []*corev1.Pod{running, terminating}}}
	if got := d.podsNow(); got != 0 {
		t.Fatalf("podsNow = %d, want 0: by default only the ReplicaSets' desired replicas bound the surge", got)
	}
	if d.plan.RequeueAfter != 0 {
		t.Fatalf("requeue after %v: nothing waits for a terminating Pod by default", d.plan.RequeueAfter)
	}
}
