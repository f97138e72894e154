package decide

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// benchCanary is the Rollout of `kanaria bench --scenario canary` at R = 2:
// setWeight 25, pause 1s, setWeight 75, pause 1s, the default 25% bounds
// (maxSurge 1, maxUnavailable 0 at two replicas).
func benchCanary() *v1alpha1.Rollout {
	second := intstr.FromString("1s")
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "pause:3.10"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				Steps: []v1alpha1.CanaryStep{
					{SetWeight: ptr(int32(25))},
					{Pause: &v1alpha1.RolloutPause{Duration: &second}},
					{SetWeight: ptr(int32(75))},
					{Pause: &v1alpha1.RolloutPause{Duration: &second}},
				},
			}},
		},
	}
}

// scales lists a plan's ReplicaSet scale writes in order, as "name from->to".
func scales(p Plan) []ScaleReplicaSet {
	var out []ScaleReplicaSet
	for _, a := range p.Actions {
		if s, ok := a.(ScaleReplicaSet); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestPauseEndScalesBothDirectionsInOneDecision: when the pause before the
// 75% step ends, one decision gives up the stable Pod the available canary
// Pod covers and adds the second canary Pod into the room it frees, the
// scale-down written first. One direction per decision cost the release a
// round trip (the scale-down's watch event, then another decision) before
// the second canary Pod could start.
func TestPauseEndScalesBothDirectionsInOneDecision(t *testing.T) {
	s := newSim(t, benchCanary())
	s.settle()
	v1 := s.hashOf("pause:3.10")
	s.setImage("pause:3.9")
	v2 := s.hashOf("pause:3.9")

	s.reconcile() // the canary ReplicaSet, with its one Pod
	s.tick(time.Second)
	s.reconcile() // 25% reached: the pause starts
	if stepIndex(s) != 1 || s.ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("step %d phase %s, want the pause at step 1", stepIndex(s), s.ro.Status.Phase)
	}
	s.tick(2 * time.Second)
	p := s.reconcile()
	got := scales(p)
	stable, canary := s.rsByHash(v1).Name, s.rsByHash(v2).Name
	want := []ScaleReplicaSet{{Name: stable, From: 2, To: 1}, {Name: canary, From: 1, To: 2}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("scale writes %+v, want %+v", got, want)
	}
	if stepIndex(s) != 2 {
		t.Fatalf("step %d, want 2", stepIndex(s))
	}
}

// TestPauseEndKeepsTheStableWhileTheCanaryIsNotAvailable: the same
// decision with the canary Pod not available (it was lost during the
// pause) removes no stable Pod: the invariant holds with both directions
// in one decision.
func TestPauseEndKeepsTheStableWhileTheCanaryIsNotAvailable(t *testing.T) {
	s, v1, v2 := atFirstPauseEnd(t, benchCanary())
	s.rsByHash(v2).Status.AvailableReplicas = 0
	s.rsByHash(v2).Status.ReadyReplicas = 0
	p := s.reconcile()
	for _, a := range scales(p) {
		if a.Name == s.rsByHash(v1).Name {
			t.Fatalf("stable scaled %d -> %d while no canary Pod is available", a.From, a.To)
		}
	}
	if n := specReplicas(s.rsByHash(v1)); n != 2 {
		t.Fatalf("stable at %d, want 2", n)
	}
}

// TestStrictSurgeWaitsForTheRemovedPod: with the strict count the same
// decision scales the stable down only; the canary grows once the removed
// Pod is gone.
func TestStrictSurgeWaitsForTheRemovedPod(t *testing.T) {
	ro := benchCanary()
	ro.Annotations = map[string]string{StrictSurgeAnnotation: "true"}
	s, v1, v2 := atFirstPauseEnd(t, ro)
	p := s.reconcile()
	got := scales(p)
	if len(got) != 1 || got[0].Name != s.rsByHash(v1).Name || got[0].To != 1 {
		t.Fatalf("strict: scale writes %+v, want only the stable to 1", got)
	}
	s.tick(time.Second)
	p = s.reconcile()
	got = scales(p)
	if len(got) != 1 || got[0].Name != s.rsByHash(v2).Name || got[0].To != 2 {
		t.Fatalf("strict, the Pod gone: scale writes %+v, want the canary to 2", got)
	}
}

// atFirstPauseEnd walks ro (a benchCanary) from "pause:3.10" to "pause:3.9"
// until its first pause has run out, and returns the simulation with the
// stable's and the canary's pod-template hashes.
func atFirstPauseEnd(t *testing.T, ro *v1alpha1.Rollout) (s *sim, stable, canary string) {
	t.Helper()
	s = newSim(t, ro)
	s.settle()
	stable = s.hashOf("pause:3.10")
	s.setImage("pause:3.9")
	canary = s.hashOf("pause:3.9")
	s.reconcile() // the canary ReplicaSet, with its one Pod
	s.tick(time.Second)
	s.reconcile() // 25% reached: the pause starts
	s.tick(2 * time.Second)
	return s, stable, canary
}
