package decide

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

// referenceRS returns the ReplicaSet a controller built on k8s.io/api v0.34
// creates for the Rollout's template with image: named and labelled with the
// hash over metadata without "creationTimestamp":null, and its template as
// the API server stores it, defaults filled in.
func referenceRS(s *sim, image string, revision string, replicas int32) *appsv1.ReplicaSet {
	tmpl := s.ro.Spec.Template.DeepCopy()
	tmpl.Spec.Containers[0].Image = image
	h := podhash.TemplateHashes(tmpl, nil).Omitted
	tmpl.Labels = map[string]string{"app": "rails", v1alpha1.DefaultRolloutUniqueLabelKey: h}
	grace := int64(30)
	tmpl.Spec.DNSPolicy, tmpl.Spec.RestartPolicy, tmpl.Spec.SchedulerName = corev1.DNSClusterFirst, corev1.RestartPolicyAlways, corev1.DefaultSchedulerName
	tmpl.Spec.SecurityContext, tmpl.Spec.TerminationGracePeriodSeconds = &corev1.PodSecurityContext{}, &grace
	c := &tmpl.Spec.Containers[0]
	c.ImagePullPolicy, c.TerminationMessagePath, c.TerminationMessagePolicy = corev1.PullIfNotPresent, "/dev/termination-log", corev1.TerminationMessageReadFile
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: "rails-" + h, Namespace: "default", UID: types.UID("ref-" + h), Generation: 1,
			Labels:          map[string]string{"app": "rails", v1alpha1.DefaultRolloutUniqueLabelKey: h},
			Annotations:     map[string]string{v1alpha1.RevisionAnnotation: revision},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(s.ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rails", v1alpha1.DefaultRolloutUniqueLabelKey: h}},
			Template: *tmpl,
		},
	}
}

// TestKeepsReplicaSetsNamedByAnotherHashEncoding takes over a canary that a
// controller built on k8s.io/api v0.34 left paused at its first pause: no
// ReplicaSet is created or scaled, the status keeps that controller's hash,
// and a promote carries the release on with the same two ReplicaSets.
func TestKeepsReplicaSetsNamedByAnotherHashEncoding(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Spec.Template.Spec.Containers[0].Image = "rails:6.1"
	stable := referenceRS(s, "rails:6.0", "1", 5)
	canary := referenceRS(s, "rails:6.1", "2", 1)
	v1, v2 := hashOf(stable), hashOf(canary)
	if v2 == s.hashOf("rails:6.1") {
		t.Fatal("the two encodings give the same hash; the test proves nothing")
	}
	s.rs[stable.Name], s.rs[canary.Name] = stable, canary
	s.ro.Annotations = map[string]string{v1alpha1.RevisionAnnotation: "2"}
	s.ro.Status = v1alpha1.RolloutStatus{
		CurrentPodHash: v2, StableRS: v1, CurrentStepHash: podhash.Steps(s.ro.Spec.Strategy.Canary.Steps),
		CurrentStepIndex: ptr(int32(1)), ControllerPause: true, Phase: v1alpha1.RolloutPhasePaused,
		PauseConditions:    []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(s.now.Add(-time.Minute))}},
		ObservedGeneration: "1",
	}
	s.services["rails-stable"].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey] = v1
	s.services["rails-canary"].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey] = v2
	s.tick(time.Second)

	for i := 0; i < 3; i++ {
		p := s.reconcile()
		for _, a := range p.Actions {
			switch a.(type) {
			case CreateReplicaSet, ScaleReplicaSet, DeleteReplicaSet, EvictPod:
				t.Fatalf("reconcile %d of a paused release planned %s", i, a.Describe())
			}
		}
		s.tick(time.Second)
	}
	if s.ro.Status.CurrentPodHash != v2 || stepIndex(s) != 1 || s.ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("status current %q step %d phase %s, want %q at step 1 Paused", s.ro.Status.CurrentPodHash, stepIndex(s), s.ro.Status.Phase, v2)
	}

	s.promote()
	s.settle()
	if stepIndex(s) != 3 {
		t.Fatalf("after promote step %d, want the timed pause at 3", stepIndex(s))
	}
	wantCounts(t, s, []string{v2, v1}, 3, 3)
	s.tick(21 * time.Second)
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	if s.ro.Status.StableRS != v2 || len(s.rs) != 2 {
		t.Fatalf("stable %q with %d ReplicaSets, want %q with 2", s.ro.Status.StableRS, len(s.rs), v2)
	}
}

// TestKeepsReplicaSetWithEqualTemplateWhateverItsName keeps a ReplicaSet
// whose hash label neither encoding gives, found by comparing templates.
func TestKeepsReplicaSetWithEqualTemplateWhateverItsName(t *testing.T) {
	s := newManualGatesSim(t)
	rs := referenceRS(s, "rails:6.0", "1", 5)
	rs.Name = "rails-old"
	rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] = "old"
	rs.Spec.Template.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] = "old"
	rs.Spec.Selector.MatchLabels[v1alpha1.DefaultRolloutUniqueLabelKey] = "old"
	s.rs[rs.Name] = rs
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	if len(s.rs) != 1 || s.ro.Status.StableRS != "old" || s.ro.Status.CurrentPodHash != "old" {
		t.Fatalf("%d ReplicaSets, stable %q current %q; want the one named old kept", len(s.rs), s.ro.Status.StableRS, s.ro.Status.CurrentPodHash)
	}
	// A real change still makes a new version.
	s.setImage("rails:6.1")
	s.settle()
	if len(s.rs) != 2 || s.ro.Status.CurrentPodHash != s.hashOf("rails:6.1") {
		t.Fatalf("%d ReplicaSets, current %q after a new image", len(s.rs), s.ro.Status.CurrentPodHash)
	}
}

// TestNameTakenByAnotherControllerPicksAnotherName meets a ReplicaSet that
// holds the current template's name but belongs to another controller: the
// decision does not create into it, says who holds it, and takes the next
// collision count, as the reference does.
func TestNameTakenByAnotherControllerPicksAnotherName(t *testing.T) {
	s := newManualGatesSim(t)
	h := s.hashOf("rails:6.0")
	isController := true
	taken := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rails-" + h, Namespace: "default", UID: "foreign",
		Labels:          map[string]string{"app": "rails", v1alpha1.DefaultRolloutUniqueLabelKey: h},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "rails-old", UID: "old-uid", Controller: &isController}},
	}}
	snap := s.snapshot()
	snap.NameTaken = taken
	p := Decide(snap)
	for _, a := range p.Actions {
		if _, ok := a.(CreateReplicaSet); ok {
			t.Fatalf("planned %s into a name another controller holds", a.Describe())
		}
	}
	if deref(p.Status.CollisionCount, 0) != 1 {
		t.Fatalf("collision count %v, want 1", p.Status.CollisionCount)
	}
	found := false
	for _, e := range p.Events {
		if e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, "controlled by Rollout rails-old") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no Warning naming the holder:\n%s", joinEvents(p.Events))
	}
	s.ro.Status = p.Status
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	if rs := s.rsByHash(s.ro.Status.StableRS); rs == nil || rs.Name == taken.Name {
		t.Fatalf("stable ReplicaSet %v, want one under another name than %s", rs, taken.Name)
	}
}
