package decide

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func blueGreenRollout(auto bool) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "api:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
				ActiveService: "api-active", PreviewService: "api-preview",
				AutoPromotionEnabled: ptr(auto), ScaleDownDelaySeconds: ptr(int32(30)), AbortScaleDownDelaySeconds: ptr(int32(30)),
			}},
		},
	}
}

func newBlueGreenSim(t *testing.T, auto bool) *sim {
	s := newSim(t, blueGreenRollout(auto))
	s.addService("api-active", map[string]string{"app": "api"})
	s.addService("api-preview", map[string]string{"app": "api"})
	return s
}

// blueGreenUpdated is a blue-green Rollout deployed at api:1 and then
// updated to api:2, settled; configure, when set, shapes it first.
func blueGreenUpdated(t *testing.T, auto bool, configure func(*sim)) (s *sim, v1, v2 string) {
	t.Helper()
	s = newBlueGreenSim(t, auto)
	if configure != nil {
		configure(s)
	}
	v1 = s.hashOf("api:1")
	s.settle()
	s.setImage("api:2")
	v2 = s.hashOf("api:2")
	s.settle()
	return s, v1, v2
}

func svcHash(s *sim, name string) string {
	return s.services[name].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
}

func TestBlueGreenAutoPromotion(t *testing.T) {
	s := newBlueGreenSim(t, true)
	v1 := s.hashOf("api:1")
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	if svcHash(s, "api-active") != v1 || svcHash(s, "api-preview") != v1 {
		t.Fatalf("services %q %q, want %q", svcHash(s, "api-active"), svcHash(s, "api-preview"), v1)
	}
	s.setImage("api:2")
	v2 := s.hashOf("api:2")
	s.reconcile()
	if svcHash(s, "api-active") != v1 {
		t.Fatal("active switched before the new version was available")
	}
	s.settle()
	// Promoted: active on v2, v1 still up until its deadline.
	if svcHash(s, "api-active") != v2 || s.ro.Status.StableRS != v2 {
		t.Fatalf("active %q stable %q, want %q", svcHash(s, "api-active"), s.ro.Status.StableRS, v2)
	}
	wantCounts(t, s, []string{v2, v1}, 3, 3)
	// Waiting out the scale-down delay is not unhealthy.
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	if s.ro.Status.BlueGreen.ActiveSelector != v2 || s.ro.Status.BlueGreen.PreviewSelector != v2 {
		t.Fatalf("blueGreen status %+v", s.ro.Status.BlueGreen)
	}
	s.tick(31 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 3, 0)
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
}

func TestBlueGreenManualPromotion(t *testing.T) {
	s, v1, v2 := blueGreenUpdated(t, false, nil)
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	if svcHash(s, "api-active") != v1 || svcHash(s, "api-preview") != v2 {
		t.Fatalf("active %q preview %q", svcHash(s, "api-active"), svcHash(s, "api-preview"))
	}
	if len(s.ro.Status.PauseConditions) != 1 || s.ro.Status.PauseConditions[0].Reason != v1alpha1.PauseReasonBlueGreenPause {
		t.Fatalf("pause conditions %+v", s.ro.Status.PauseConditions)
	}
	s.tick(time.Hour)
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	s.promote()
	s.settle()
	if svcHash(s, "api-active") != v2 {
		t.Fatal("not promoted")
	}
}

func TestBlueGreenPreviewReplicaCount(t *testing.T) {
	s, v1, v2 := blueGreenUpdated(t, false, func(s *sim) {
		s.ro.Spec.Strategy.BlueGreen.PreviewReplicaCount = ptr(int32(1))
	})
	wantCounts(t, s, []string{v2, v1}, 1, 3)
	s.promote()
	for i := 0; i < 3; i++ {
		s.reconcile()
		if svcHash(s, "api-active") == v2 && s.rsByHash(v2).Status.AvailableReplicas < 3 {
			t.Fatal("active switched to a preview that was not yet at full size")
		}
		s.tick(time.Second)
	}
	s.settle()
	if svcHash(s, "api-active") != v2 {
		t.Fatal("not promoted")
	}
	wantCounts(t, s, []string{v2, v1}, 3, 3)
}

func TestBlueGreenAbortKeepsProductionAndScalesPreviewDownLater(t *testing.T) {
	s, v1, v2 := blueGreenUpdated(t, false, nil)
	s.ro.Status.Abort = true
	s.reconcile()
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	wantCounts(t, s, []string{v2, v1}, 3, 3)
	s.tick(10 * time.Second)
	s.reconcile()
	wantCounts(t, s, []string{v2, v1}, 3, 3)
	s.tick(21 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 3)
	if svcHash(s, "api-active") != v1 || svcHash(s, "api-preview") != v1 {
		t.Fatalf("active %q preview %q, want %q", svcHash(s, "api-active"), svcHash(s, "api-preview"), v1)
	}
}

// TestBlueGreenAbortMovesPreviewBeforeScaleDown: when the abort's
// scale-down delay ends, the plan points the preview Service at the stable
// version before it scales the new version to zero, so the Service never
// selects Pods that are going away.
func TestBlueGreenAbortMovesPreviewBeforeScaleDown(t *testing.T) {
	s, v1, v2 := blueGreenUpdated(t, false, nil)
	if svcHash(s, "api-preview") != v2 {
		t.Fatalf("preview %q before the abort, want %q", svcHash(s, "api-preview"), v2)
	}
	s.ro.Status.Abort = true
	s.reconcile()
	s.tick(31 * time.Second)
	p := s.reconcile()
	switched, scaled := -1, -1
	for i, a := range p.Actions {
		switch a := a.(type) {
		case SetServiceSelector:
			if a.Service == "api-preview" && a.Hash == v1 {
				switched = i
			}
		case ScaleReplicaSet:
			if a.Name == s.rsByHash(v2).Name && a.To == 0 {
				scaled = i
			}
		}
	}
	if scaled < 0 || switched < 0 || switched > scaled {
		t.Fatalf("actions %v: want the preview Service on %s (at %d) before %s is scaled to zero (at %d)", p.Actions, v1, switched, v2, scaled)
	}
}

func TestBlueGreenNeverReadyNeverPromotes(t *testing.T) {
	s := newBlueGreenSim(t, true)
	s.ro.Spec.ProgressDeadlineSeconds = ptr(int32(30))
	v1 := s.hashOf("api:1")
	s.settle()
	s.setImage("api:bad")
	v2 := s.hashOf("api:bad")
	s.broken[v2] = true
	for i := 0; i < 10; i++ {
		s.reconcile()
		s.tick(10 * time.Second)
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	if svcHash(s, "api-active") != v1 || s.ro.Status.StableRS != v1 {
		t.Fatal("a version that never became ready was promoted")
	}
	wantCounts(t, s, []string{v1}, 3)
}

func TestBlueGreenScaleDownDelayRevisionLimit(t *testing.T) {
	s, v1, v2 := blueGreenUpdated(t, true, func(s *sim) {
		s.ro.Spec.Strategy.BlueGreen.ScaleDownDelayRevisionLimit = ptr(int32(1))
	})
	s.setImage("api:3")
	v3 := s.hashOf("api:3")
	s.settle()
	wantCounts(t, s, []string{v3, v2, v1}, 3, 3, 0)
}
