package bench

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestFirstWrites(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	now := t0
	f := &FirstWrites{now: func() time.Time { return now }}
	ro := func(name string, gen int64, rv string) *v1alpha1.Rollout {
		return &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen, ResourceVersion: rv}}
	}
	yes := true
	rs := func(owner string, gen int64, kind string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: owner + "-abc", Generation: gen,
			OwnerReferences: []metav1.OwnerReference{{Kind: kind, Name: owner, Controller: &yes}}}}
	}
	at := func(d time.Duration) { now = t0.Add(d) }

	// Before the phase: an older change of a, with its write.
	f.Rollout(ro("a", 1, "10"))
	at(time.Second)
	f.Rollout(ro("a", 1, "11"))

	since := t0.Add(2 * time.Second)
	at(3 * time.Second)
	f.Rollout(ro("a", 2, "20")) // a changes,
	f.Rollout(ro("b", 2, "21")) // b changes,
	f.Rollout(ro("c", 2, "22")) // c changes.
	at(3*time.Second + 100*time.Millisecond)
	f.Rollout(ro("a", 2, "20"))                                // a resync, no write
	f.ReplicaSet(rs("b", 1, "Rollout"), rs("b", 1, "Rollout")) // b's ReplicaSet status only
	f.ReplicaSet(nil, rs("c", 1, "Deployment"))                // not a Rollout's
	at(3*time.Second + 250*time.Millisecond)
	f.Rollout(ro("a", 2, "23")) // a's status write
	at(3*time.Second + 400*time.Millisecond)
	f.ReplicaSet(nil, rs("b", 1, "Rollout")) // b's new ReplicaSet
	at(3*time.Second + 900*time.Millisecond)
	f.ReplicaSet(rs("b", 1, "Rollout"), rs("b", 2, "Rollout")) // later writes do not count
	f.Rollout(ro("a", 2, "24"))

	lat, missing := f.Latencies([]string{"a", "b", "c", "d"}, since)
	want := []time.Duration{250 * time.Millisecond, 400 * time.Millisecond}
	if len(lat) != len(want) || lat[0] != want[0] || lat[1] != want[1] {
		t.Errorf("latencies = %v, want %v", lat, want)
	}
	if missing != 2 {
		t.Errorf("missing = %d, want 2 (c had no write, d no change)", missing)
	}
	// Re-created under the same name at the same generation: a new wait.
	recreated := ro("a", 2, "30")
	recreated.UID = "new"
	at(5 * time.Second)
	f.Rollout(recreated)
	if lat, missing := f.Latencies([]string{"a"}, since); len(lat) != 0 || missing != 1 {
		t.Errorf("re-created a: %v, %d missing; want no write yet", lat, missing)
	}
	// A change before since does not count for the phase.
	if lat, missing := f.Latencies([]string{"a"}, t0.Add(4*time.Second)); len(lat) != 0 || missing != 1 {
		t.Errorf("after the change: %v, %d missing", lat, missing)
	}
}

func TestMilestones(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	now := t0
	f := &FirstWrites{now: func() time.Time { return now }}
	at := func(d time.Duration) { now = t0.Add(d) }
	ro := func(name string, gen int64, rv, observed string, step *int32, phase v1alpha1.RolloutPhase) *v1alpha1.Rollout {
		r := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen, ResourceVersion: rv}}
		r.Status.ObservedGeneration = observed
		r.Status.CurrentStepIndex = step
		r.Status.Phase = phase
		return r
	}
	step := func(i int32) *int32 { return &i }

	// Before the phase: a's first generation went through its steps.
	f.Rollout(ro("a", 1, "1", "1", step(0), v1alpha1.RolloutPhaseProgressing))
	f.Rollout(ro("a", 1, "2", "1", step(2), v1alpha1.RolloutPhaseHealthy))
	since := t0.Add(time.Second)

	at(2 * time.Second)
	f.Rollout(ro("a", 2, "3", "1", step(2), v1alpha1.RolloutPhaseHealthy)) // the change; status still of generation 1
	f.Rollout(ro("b", 2, "4", "1", step(2), v1alpha1.RolloutPhaseHealthy))
	at(2500 * time.Millisecond)
	f.Rollout(ro("a", 2, "5", "2", step(0), v1alpha1.RolloutPhaseProgressing))
	at(3 * time.Second)
	f.Rollout(ro("b", 2, "6", "2", step(0), v1alpha1.RolloutPhaseProgressing))
	f.Rollout(ro("a", 2, "7", "2", step(0), v1alpha1.RolloutPhaseProgressing)) // seen again: the first sighting counts
	at(5 * time.Second)
	f.Rollout(ro("a", 2, "8", "2", step(1), v1alpha1.RolloutPhaseProgressing))
	at(6 * time.Second)
	f.Rollout(ro("a", 2, "9", "2", step(2), v1alpha1.RolloutPhaseHealthy))

	got := f.Milestones([]string{"a", "b", "c"}, since)
	want := []struct {
		name  string
		count int
		p50   float64
		max   float64
	}{
		{"step 0", 2, 0.5, 1},
		{"step 1", 1, 3, 3},
		{"step 2", 1, 4, 4},
		{"Healthy", 1, 4, 4},
	}
	if len(got) != len(want) {
		t.Fatalf("milestones = %+v, want %d of them", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Latency.Count != w.count || g.Latency.P50 != w.p50 || g.Latency.Max != w.max {
			t.Errorf("milestone %d = %+v, want %s count %d p50 %v max %v", i, g, w.name, w.count, w.p50, w.max)
		}
	}
}
