package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// TestShardsMoveOffATakenReplicaSetName runs two replicas of --shards 2
// and takes the names of two Rollouts' next ReplicaSets: one with a
// ReplicaSet that a ConfigMap controls, one with an orphan of another
// template that carries no pod-template hash. A sharded replica caches
// neither (they carry no bucket, and the labeller leaves objects another
// controls alone), yet each release must end as it does without shards:
// status.collisionCount raised to 1, a Warning that names the holder, the
// new version under another name, and the holder not written to.
func TestShardsMoveOffATakenReplicaSetName(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ctx := context.Background()
	ns := newNamespace(t, c, "shardcollide")
	holder := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "holder", Namespace: ns}}
	if err := c.ctrl.Create(ctx, holder); err != nil {
		t.Fatal(err)
	}
	applyYAML(t, ns, fmt.Sprintf(plainCanaryManifest, "taken"))
	applyYAML(t, ns, fmt.Sprintf(plainCanaryManifest, "orphaned"))
	runShardedController(t, ns, 2, 0)
	runShardedController(t, ns, 2, 1)

	// As the unsharded e2e test makes it: the Rollout's hash label on it
	// (so an unsharded cache holds it), controlled by the ConfigMap.
	controlled := func(name, h string, tmpl *corev1.PodTemplateSpec) *appsv1.ReplicaSet {
		hashed := map[string]string{"app": name, v1alpha1.DefaultRolloutUniqueLabelKey: h}
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + h, Namespace: ns, Labels: hashed,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(holder, corev1.SchemeGroupVersion.WithKind("ConfigMap"))}},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: hashed},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: hashed}, Spec: tmpl.Spec}},
		}
	}
	// Made by hand: no owner, no pod-template hash, another template.
	orphan := func(name, h string, _ *corev1.PodTemplateSpec) *appsv1.ReplicaSet {
		own := map[string]string{"app": "by-hand"}
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + h, Namespace: ns, Labels: own},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: own},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: own},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/by-hand:1"}}}}},
		}
	}
	moveOffTakenName(t, c, ns, "taken", controlled, "controlled by ConfigMap holder")
	moveOffTakenName(t, c, ns, "orphaned", orphan, "")
}

// moveOffTakenName waits for Rollout name to be Healthy, gives the name of
// its next ReplicaSet to the one holder makes, updates the image and checks
// the release ends under another name with collisionCount 1, a
// HashCollision Warning naming the taken name (and holderSays, when set),
// and the holder untouched.
func moveOffTakenName(t *testing.T, c clients, ns, name string, holder func(name, hash string, next *corev1.PodTemplateSpec) *appsv1.ReplicaSet, holderSays string) {
	t.Helper()
	ctx := context.Background()
	ro := waitRollout(t, c, ns, name, "Healthy on the first version", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	next := ro.Spec.Template.DeepCopy()
	next.Spec.Containers[0].Image = "registry.example/app:2"
	h := podhash.Template(next, ro.Status.CollisionCount)
	foreign := holder(name, h, next)
	zero := int32(0)
	foreign.Spec.Replicas = &zero
	if err := c.ctrl.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}

	setImage(t, ns, name, "registry.example/app:2")
	ro = waitRollout(t, c, ns, name, "Healthy on the second version under another name", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && derefOr(ro.Status.CollisionCount, 0) > 0 &&
			ro.Status.StableRS == ro.Status.CurrentPodHash
	})
	if derefOr(ro.Status.CollisionCount, 0) != 1 {
		t.Fatalf("%s: collision count %v, want 1", name, derefOr(ro.Status.CollisionCount, 0))
	}
	if ro.Status.StableRS == h {
		t.Fatalf("%s: stable on the taken hash %s", name, h)
	}
	rss := replicaSetsOf(t, c, ns, ro)
	if len(rss) != 2 || rss[ro.Status.StableRS] == nil {
		t.Fatalf("%s: the Rollout's ReplicaSets %s, want the first version and %s", name, specCounts(rss), ro.Status.StableRS)
	}
	stable := rss[ro.Status.StableRS]
	if stable.Spec.Template.Spec.Containers[0].Image != "registry.example/app:2" || stable.Name == foreign.Name {
		t.Fatalf("%s: stable ReplicaSet %s runs %s", name, stable.Name, stable.Spec.Template.Spec.Containers[0].Image)
	}
	if stable.Labels[shard.LabelBucket] != shard.BucketLabel(ns, name) {
		t.Fatalf("%s: stable ReplicaSet %s labels %v, want its Rollout's bucket", name, stable.Name, stable.Labels)
	}
	var got appsv1.ReplicaSet
	if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(foreign), &got); err != nil {
		t.Fatal(err)
	}
	// Its status is the ReplicaSet controller's; anything else written to
	// it would be ours.
	if got.Generation != foreign.Generation || !equality.Semantic.DeepEqual(got.Labels, foreign.Labels) ||
		len(got.Annotations) != 0 || !equality.Semantic.DeepEqual(got.OwnerReferences, foreign.OwnerReferences) ||
		!equality.Semantic.DeepEqual(got.Spec.Template.Labels, foreign.Spec.Template.Labels) {
		t.Fatalf("%s: the holder was written to: generation %d (was %d), labels %v, annotations %v, owners %+v, template labels %v",
			name, got.Generation, foreign.Generation, got.Labels, got.Annotations, got.OwnerReferences, got.Spec.Template.Labels)
	}
	eventually(t, time.Minute, "a HashCollision Warning that names the taken name", func() (bool, error) {
		evs := eventsOf(t, c, ns, name)
		for _, e := range evs {
			if strings.HasPrefix(e, "HashCollision: ") && strings.Contains(e, foreign.Name) && strings.Contains(e, holderSays) {
				return true, nil
			}
		}
		return false, fmt.Errorf("events %v", evs)
	})
}
