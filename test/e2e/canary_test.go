package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestCanaryManualGates drives canary-manual-gates.yaml through the life its
// README describes: first version straight to stable, an update that pauses
// at 1 of 6 Pods until promoted, 3 and 3 with a timed pause, completion, and
// an abort with a retry; while the ReplicaSets never want more than 6 Pods
// and never fewer than 5 are ready.
func TestCanaryManualGates(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "gates")
	runController(t, ns)

	applySeed(t, ns, "canary-manual-gates.yaml")
	ro := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	v1 := ro.Status.StableRS
	waitCounts(t, c, ns, "rails", map[string]int32{v1: 5})
	if rss := replicaSetsOf(t, c, ns, ro); len(rss) != 1 {
		t.Fatalf("first apply made %d ReplicaSets: %s", len(rss), specCounts(rss))
	}
	if s, cn := serviceHash(t, c, ns, "rails-stable"), serviceHash(t, c, ns, "rails-canary"); s != v1 || cn != v1 {
		t.Fatalf("Services select %q and %q, want both %q", s, cn, v1)
	}
	rs := replicaSetsOf(t, c, ns, ro)[v1]
	if rs.Name != "rails-"+v1 || rs.Annotations[v1alpha1.RevisionAnnotation] != "1" {
		t.Fatalf("ReplicaSet %s revision %q, want rails-%s revision 1", rs.Name, rs.Annotations[v1alpha1.RevisionAnnotation], v1)
	}

	bounds := watchPods(t, c, ns, map[string]string{"app": "rails"}, 6, 5)
	setImage(t, ns, "rails", "registry.example/rails:6.1")
	ro = waitRollout(t, c, ns, "rails", "paused at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	v2 := ro.Status.CurrentPodHash
	waitCounts(t, c, ns, "rails", map[string]int32{v2: 1, v1: 5})
	if s, cn := serviceHash(t, c, ns, "rails-stable"), serviceHash(t, c, ns, "rails-canary"); s != v1 || cn != v2 {
		t.Fatalf("Services select stable %q canary %q, want %q and %q", s, cn, v1, v2)
	}
	if len(ro.Status.PauseConditions) != 1 || ro.Status.PauseConditions[0].Reason != v1alpha1.PauseReasonCanaryPauseStep || !ro.Status.ControllerPause {
		t.Fatalf("pause conditions %+v controllerPause %v", ro.Status.PauseConditions, ro.Status.ControllerPause)
	}
	if w := ro.Status.Canary.Weights; w != nil {
		t.Fatalf("status.canary.weights %+v, want none: as in Argo Rollouts only a traffic router's split is reported", w)
	}
	time.Sleep(3 * time.Second)
	if ro := getRollout(t, c, ns, "rails"); ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("an indefinite pause ended on its own: %s", ro.Status.Phase)
	}

	promote(t, ns, "rails")
	waitRollout(t, c, ns, "rails", "the timed pause at 50%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	waitCounts(t, c, ns, "rails", map[string]int32{v2: 3, v1: 3})
	ro = waitRollout(t, c, ns, "rails", "Healthy on the new version after the 20s pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	waitCounts(t, c, ns, "rails", map[string]int32{v2: 5, v1: 0})
	if s, cn := serviceHash(t, c, ns, "rails-stable"), serviceHash(t, c, ns, "rails-canary"); s != v2 || cn != v2 {
		t.Fatalf("after promotion Services select %q and %q, want %q", s, cn, v2)
	}
	bounds.check(t)

	// Abort at the first step, then retry.
	setImage(t, ns, "rails", "registry.example/rails:6.2")
	ro = waitRollout(t, c, ns, "rails", "paused at the first pause again", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	v3 := ro.Status.CurrentPodHash
	abort(t, ns, "rails")
	ro = waitRollout(t, c, ns, "rails", "Degraded after the abort", time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
	if !strings.Contains(ro.Status.Message, "RolloutAborted") || ro.Status.AbortedAt == nil {
		t.Fatalf("message %q abortedAt %v", ro.Status.Message, ro.Status.AbortedAt)
	}
	waitCounts(t, c, ns, "rails", map[string]int32{v3: 0, v2: 5})
	if s, cn := serviceHash(t, c, ns, "rails-stable"), serviceHash(t, c, ns, "rails-canary"); s != v2 || cn != v2 {
		t.Fatalf("after abort Services select %q and %q, want %q", s, cn, v2)
	}
	retry(t, ns, "rails")
	waitRollout(t, c, ns, "rails", "the steps run again after retry", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1 && ro.Status.AbortedAt == nil
	})
	waitCounts(t, c, ns, "rails", map[string]int32{v3: 1, v2: 5})
	if rss := replicaSetsOf(t, c, ns, ro); len(rss) != 3 {
		t.Fatalf("want 3 revisions kept, have %s", specCounts(rss))
	}
	assertEvents(t, c, ns, "rails", "RolloutUpdated", "RolloutPaused", "RolloutResumed", "RolloutCompleted", "RolloutAborted")
	// Routine decisions are logged, not recorded as Events (a release costs
	// the API server a handful of Event writes, not one per decision).
	evs, err := c.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=rails"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Reason == "ScalingReplicaSet" || e.Reason == "SwitchService" {
			t.Errorf("routine decision recorded as an Event: %s: %s", e.Reason, e.Message)
		}
	}
}

// assertEvents checks that the Rollout's Events include these reasons.
func assertEvents(t *testing.T, c clients, ns, name string, reasons ...string) {
	t.Helper()
	eventually(t, 30*time.Second, "events "+strings.Join(reasons, ", "), func() (bool, error) {
		evs, err := c.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return false, err
		}
		seen := map[string]bool{}
		for _, e := range evs.Items {
			seen[e.Reason] = true
		}
		for _, r := range reasons {
			if !seen[r] {
				return false, nil
			}
		}
		return true, nil
	})
}

// TestCanaryVersionedSecret follows canary-versioned-secret.yaml: canary and
// stable labels on the Pods of each side, only canary Pods mounting the new
// Secret, and a pause that ends on its own (shortened from 2h by a patch, as
// the fixtures README allows).
func TestCanaryVersionedSecret(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "secret")
	runController(t, ns)

	applySeed(t, ns, "canary-versioned-secret.yaml")
	mustKubectl(t, "-n", ns, "patch", "rollout", "monolith-api", "--type", "json",
		"-p", `[{"op":"replace","path":"/spec/strategy/canary/steps/1/pause/duration","value":"8s"}]`)
	ro := waitRollout(t, c, ns, "monolith-api", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	v1 := ro.Status.StableRS
	waitCounts(t, c, ns, "monolith-api", map[string]int32{v1: 10})
	eventually(t, time.Minute, "stable Pods labelled role=stable", func() (bool, error) {
		return countPods(t, c, ns, v1, func(p *corev1.Pod) bool { return p.Labels["role"] == "stable" }) == 10, nil
	})

	mustKubectl(t, "-n", ns, "patch", "rollout", "monolith-api", "--type", "json",
		"-p", `[{"op":"replace","path":"/spec/template/spec/volumes/0/secret/secretName","value":"api-secret-5e6f7a8b"}]`)
	ro = waitRollout(t, c, ns, "monolith-api", "paused at 10%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused
	})
	v2 := ro.Status.CurrentPodHash
	if v2 == v1 {
		t.Fatal("changing secretName did not make a new revision")
	}
	// 10% of 10 by Pod counts with the default 25% surge: 1 canary Pod.
	eventually(t, time.Minute, "canary and stable Pods labelled and mounting their own Secret", func() (bool, error) {
		canary := countPods(t, c, ns, v2, func(p *corev1.Pod) bool {
			return p.Labels["role"] == "canary" && secretOf(p) == "api-secret-5e6f7a8b"
		})
		stable := countPods(t, c, ns, v1, func(p *corev1.Pod) bool {
			return p.Labels["role"] == "stable" && secretOf(p) == "api-secret-1a2b3c4d"
		})
		return canary >= 1 && stable >= 9, nil
	})
	ro = waitRollout(t, c, ns, "monolith-api", "Healthy on the new Secret without any action", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	waitCounts(t, c, ns, "monolith-api", map[string]int32{v2: 10, v1: 0})
	eventually(t, time.Minute, "every Pod of the new stable labelled role=stable and none canary", func() (bool, error) {
		stable := countPods(t, c, ns, v2, func(p *corev1.Pod) bool { return p.Labels["role"] == "stable" })
		canary := countPods(t, c, ns, "", func(p *corev1.Pod) bool { return p.Labels["role"] == "canary" })
		return stable == 10 && canary == 0, nil
	})
	for _, s := range []string{"api-secret-1a2b3c4d", "api-secret-5e6f7a8b"} {
		if _, err := c.kube.CoreV1().Secrets(ns).Get(context.Background(), s, metav1.GetOptions{}); err != nil {
			t.Errorf("Secret %s: %v", s, err)
		}
	}
}

// countPods counts the live Pods of hash h (any hash when h is "") for
// which match holds.
func countPods(t *testing.T, c clients, ns, h string, match func(*corev1.Pod) bool) int {
	t.Helper()
	pods, err := c.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || (h != "" && p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != h) {
			continue
		}
		if match(p) {
			n++
		}
	}
	return n
}

func secretOf(p *corev1.Pod) string {
	for _, v := range p.Spec.Volumes {
		if v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	return ""
}
