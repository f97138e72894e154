package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestRestartHonoursPodDisruptionBudget: as in the reference, spec.restartAt
// evicts Pods through the Eviction API, so a PodDisruptionBudget that allows
// no disruption keeps every Pod and status.restartedAt unset; once the
// budget is gone the restart completes.
func TestRestartHonoursPodDisruptionBudget(t *testing.T) {
	c, ns, _ := controlledNamespace(t, "restart-pdb")
	applySeed(t, ns, "canary-manual-gates.yaml")
	waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	ctx := context.Background()
	all := intstr.FromString("100%")
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rails"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &all,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rails"}}},
	}
	if err := c.ctrl.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the budget to count the Pods", func() (bool, error) {
		var cur policyv1.PodDisruptionBudget
		if err := c.ctrl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rails"}, &cur); err != nil {
			return false, err
		}
		return cur.Status.ObservedGeneration == cur.Generation && cur.Status.ExpectedPods == 5,
			fmt.Errorf("observed %d of %d, expected Pods %d", cur.Status.ObservedGeneration, cur.Generation, cur.Status.ExpectedPods)
	})
	before := podUIDs(t, c, ns, "app=rails")

	at := time.Now().UTC().Add(time.Second).Format(time.RFC3339)
	mergePatch(t, ns, "rails", fmt.Sprintf(`{"spec":{"restartAt":%q}}`, at))
	time.Sleep(15 * time.Second)
	if now := podUIDs(t, c, ns, "app=rails"); now != before {
		t.Fatalf("Pods changed while the budget allowed no disruption:\nbefore %s\nnow    %s", before, now)
	}
	if ro := getRollout(t, c, ns, "rails"); ro.Status.RestartedAt != nil {
		t.Fatalf("restartedAt %v while no Pod could be restarted", ro.Status.RestartedAt)
	}

	if err := c.ctrl.Delete(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, c, ns, "rails", "the restart to finish", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.RestartedAt != nil && ro.Status.RestartedAt.UTC().Format(time.RFC3339) == at
	})
	var pods corev1.PodList
	if err := c.ctrl.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "rails"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.CreationTimestamp.UTC().Format(time.RFC3339) < at {
			t.Errorf("Pod %s created %s, before restartAt %s", p.Name, p.CreationTimestamp.UTC().Format(time.RFC3339), at)
		}
	}
}
