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
// and takes the name of a Rollout's next ReplicaSet with one that a
// ConfigMap controls. A sharded replica never caches that ReplicaSet (it
// carries no bucket, and the labeller leaves objects another controls
// alone), yet the release must end as it does without shards: status.collisionCount
// raised to 1, a Warning that names the holder, the new version under
// another name, and the foreign ReplicaSet not written to.
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
	runShardedController(t, ns, 2, 0)
	runShardedController(t, ns, 2, 1)
	waitRollout(t, c, ns, "taken", "Healthy on the first version", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))

	// The ReplicaSet the second version would be named after, as the
	// unsharded e2e test makes it: the Rollout's hash label on it (so an
	// unsharded cache holds it), controlled by the ConfigMap.
	ro := getRollout(t, c, ns, "taken")
	next := ro.Spec.Template.DeepCopy()
	next.Spec.Containers[0].Image = "registry.example/app:2"
	h := podhash.Template(next, ro.Status.CollisionCount)
	hashed := map[string]string{"app": "taken", v1alpha1.DefaultRolloutUniqueLabelKey: h}
	zero := int32(0)
	foreign := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "taken-" + h, Namespace: ns, Labels: hashed,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(holder, corev1.SchemeGroupVersion.WithKind("ConfigMap"))}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: hashed},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: hashed}, Spec: next.Spec}},
	}
	if err := c.ctrl.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}

	setImage(t, ns, "taken", "registry.example/app:2")
	ro = waitRollout(t, c, ns, "taken", "Healthy on the second version under another name", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && derefOr(ro.Status.CollisionCount, 0) > 0 &&
			ro.Status.StableRS == ro.Status.CurrentPodHash
	})
	if derefOr(ro.Status.CollisionCount, 0) != 1 {
		t.Fatalf("collision count %v, want 1", derefOr(ro.Status.CollisionCount, 0))
	}
	if ro.Status.StableRS == h {
		t.Fatalf("the Rollout is stable on the taken hash %s", h)
	}
	rss := replicaSetsOf(t, c, ns, ro)
	if len(rss) != 2 || rss[ro.Status.StableRS] == nil {
		t.Fatalf("the Rollout's ReplicaSets %s, want the first version and %s", specCounts(rss), ro.Status.StableRS)
	}
	stable := rss[ro.Status.StableRS]
	if stable.Spec.Template.Spec.Containers[0].Image != "registry.example/app:2" || stable.Name == foreign.Name {
		t.Fatalf("stable ReplicaSet %s runs %s", stable.Name, stable.Spec.Template.Spec.Containers[0].Image)
	}
	if stable.Labels[shard.LabelBucket] != shard.BucketLabel(ns, "taken") {
		t.Fatalf("stable ReplicaSet %s labels %v, want its Rollout's bucket", stable.Name, stable.Labels)
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
		t.Fatalf("the foreign ReplicaSet was written to: generation %d (was %d), labels %v, annotations %v, owners %+v, template labels %v",
			got.Generation, foreign.Generation, got.Labels, got.Annotations, got.OwnerReferences, got.Spec.Template.Labels)
	}
	eventually(t, time.Minute, "a HashCollision Warning that names who holds the name", func() (bool, error) {
		evs := eventsOf(t, c, ns, "taken")
		for _, e := range evs {
			if strings.HasPrefix(e, "HashCollision: ") && strings.Contains(e, foreign.Name) && strings.Contains(e, "controlled by ConfigMap holder") {
				return true, nil
			}
		}
		return false, fmt.Errorf("events %v", evs)
	})
}
