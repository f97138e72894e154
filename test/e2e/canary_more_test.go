package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestCanaryWorkloadRefMigration is the Deployment + HPA migration of
// canary-workloadref-hpa-datadog.yaml: the Deployment runs first, then the
// whole file is applied; the Rollout takes the Deployment's template, the
// Deployment is scaled down only as the Rollout's Pods become available
// (never fewer than 4 available between them), the scale subresource works
// for kubectl and the HPA.
func TestCanaryWorkloadRefMigration(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "migrate")
	runController(t, ns)

	applyDocs(t, ns, "canary-workloadref-hpa-datadog.yaml", "Deployment")
	mustKubectl(t, "-n", ns, "rollout", "status", "deployment/measure-api", "--timeout=120s")

	bounds := watchPods(t, c, ns, map[string]string{"app": "measure-api"}, 100, 4)
	applySeed(t, ns, "canary-workloadref-hpa-datadog.yaml")
	ro := waitRollout(t, c, ns, "measure-api", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	eventually(t, time.Minute, "the Deployment scaled to 0", func() (bool, error) {
		var dep appsv1.Deployment
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "measure-api"}, &dep); err != nil {
			return false, err
		}
		return derefOr(dep.Spec.Replicas, 1) == 0 && dep.Status.Replicas == 0, fmt.Errorf("deployment at %d", derefOr(dep.Spec.Replicas, 1))
	})
	bounds.check(t)
	rss := replicaSetsOf(t, c, ns, ro)
	rs := rss[ro.Status.StableRS]
	if rs == nil || rs.Spec.Template.Spec.Containers[0].Image != "registry.example/measure-api:1.0.0" {
		t.Fatalf("the Rollout's ReplicaSet does not run the Deployment's template: %s", specCounts(rss))
	}
	if ro.Status.WorkloadObservedGeneration == "" {
		t.Error("status.workloadObservedGeneration is empty")
	}

	// kubectl scale goes through the scale subresource.
	mustKubectl(t, "-n", ns, "scale", "rollout", "measure-api", "--replicas", "6")
	waitCounts(t, c, ns, "measure-api", map[string]int32{ro.Status.StableRS: 6})
	ro = waitRollout(t, c, ns, "measure-api", "HPA replicas and selector", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.HPAReplicas == 6 && ro.Status.Selector == "app=measure-api"
	})
	// The HPA reads the Rollout's scale subresource (it has no metrics to act
	// on here, but it must be able to get the scale).
	eventually(t, 2*time.Minute, "the HPA to read the Rollout's scale", func() (bool, error) {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "measure-api"}, &hpa); err != nil {
			return false, err
		}
		for _, cond := range hpa.Status.Conditions {
			if cond.Type == autoscalingv2.AbleToScale {
				return cond.Status == corev1.ConditionTrue, fmt.Errorf("AbleToScale %s: %s", cond.Reason, cond.Message)
			}
		}
		return false, fmt.Errorf("no AbleToScale condition yet: %+v", hpa.Status.Conditions)
	})
}

// TestCanaryInvalidSpec applies Rollouts the schema accepts but that make no
// sense; each gets an InvalidSpec condition with a message a person
// understands, no ReplicaSet and no Pod is touched, and fixing the spec
// clears the condition.
func TestCanaryInvalidSpec(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "invalid")
	runController(t, ns)
	mustKubectl(t, "apply", "-n", ns, "-f", filepath.Join(seedsDir(t), "canary-manual-gates.yaml"))
	good := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	podsBefore := podUIDs(t, c, ns, "app=rails")

	cases := []struct {
		name  string
		patch string
		want  string
	}{
		{"both strategies", `[{"op":"add","path":"/spec/strategy/blueGreen","value":{"activeService":"rails-stable"}}]`, "blueGreen"},
		{"weight above 100", `[{"op":"replace","path":"/spec/strategy/canary/steps/0/setWeight","value":120}]`, "steps[0].setWeight"},
		{"two fields in one step", `[{"op":"add","path":"/spec/strategy/canary/steps/1/setWeight","value":20}]`, "steps[1]"},
		{"unparsable pause", `[{"op":"replace","path":"/spec/strategy/canary/steps/3/pause/duration","value":"20 seconds"}]`, "steps[3].pause.duration"},
		{"missing Service", `[{"op":"replace","path":"/spec/strategy/canary/canaryService","value":"nope"}]`, `"nope"`},
		{"selector does not match the template", `[{"op":"replace","path":"/spec/selector/matchLabels/app","value":"other"}]`, "selector"},
		{"workloadRef to a missing Deployment", `[{"op":"remove","path":"/spec/template"},{"op":"add","path":"/spec/workloadRef","value":{"apiVersion":"apps/v1","kind":"Deployment","name":"missing"}}]`, `"missing"`},
		{"surge and unavailable both zero", `[{"op":"replace","path":"/spec/strategy/canary/maxSurge","value":0}]`, "maxSurge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := getRollout(t, c, ns, "rails")
			mustKubectl(t, "-n", ns, "patch", "rollout", "rails", "--type", "json", "-p", tc.patch)
			ro := waitRollout(t, c, ns, "rails", "InvalidSpec", time.Minute, func(ro *v1alpha1.Rollout) bool {
				return conditionStatus(ro, v1alpha1.InvalidSpec) == corev1.ConditionTrue
			})
			cond := condition(ro, v1alpha1.InvalidSpec)
			if !strings.Contains(cond.Message, tc.want) {
				t.Errorf("InvalidSpec message %q does not mention %q", cond.Message, tc.want)
			}
			if ro.Status.Phase != v1alpha1.RolloutPhaseDegraded || !strings.HasPrefix(ro.Status.Message, "InvalidSpec") {
				t.Errorf("phase %s message %q", ro.Status.Phase, ro.Status.Message)
			}
			time.Sleep(time.Second)
			if rss := replicaSetsOf(t, c, ns, ro); len(rss) != 1 || derefOr(rss[good.Status.StableRS].Spec.Replicas, 0) != 5 {
				t.Errorf("ReplicaSets changed while invalid: %s", specCounts(rss))
			}
			if after := podUIDs(t, c, ns, "app=rails"); after != podsBefore {
				t.Errorf("Pods changed while invalid")
			}
			// Put the spec back as it was: the condition clears.
			restoreSpec(t, c, orig)
			waitRollout(t, c, ns, "rails", "InvalidSpec cleared", time.Minute, func(ro *v1alpha1.Rollout) bool {
				return condition(ro, v1alpha1.InvalidSpec) == nil && ro.Status.Phase == v1alpha1.RolloutPhaseHealthy
			})
		})
	}
}

func restoreSpec(t *testing.T, c clients, orig *v1alpha1.Rollout) {
	t.Helper()
	eventually(t, 30*time.Second, "restoring the spec", func() (bool, error) {
		cur := getRollout(t, c, orig.Namespace, orig.Name)
		cur.Spec = orig.Spec
		return c.ctrl.Update(context.Background(), cur) == nil, nil
	})
}

func condition(ro *v1alpha1.Rollout, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == t {
			return &ro.Status.Conditions[i]
		}
	}
	return nil
}

func conditionStatus(ro *v1alpha1.Rollout, t v1alpha1.RolloutConditionType) corev1.ConditionStatus {
	if c := condition(ro, t); c != nil {
		return c.Status
	}
	return ""
}

// podUIDs is a fingerprint of the live Pods matching a label selector.
func podUIDs(t *testing.T, c clients, ns, selector string) string {
	t.Helper()
	pods, err := c.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			uids = append(uids, string(p.UID))
		}
	}
	sort.Strings(uids)
	return strings.Join(uids, ",")
}

// TestCanaryUpstreamBugs covers the three known bugs of the reference.
func TestCanaryUpstreamBugs(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)

	t.Run("an unavailable stable does not stop a healthy canary", func(t *testing.T) {
		ns := newNamespace(t, c, "bug-stable")
		runController(t, ns)
		// The first version never becomes ready, so the stable has nothing
		// available; the next, good version must still roll out completely.
		path := filepath.Join(t.TempDir(), "rollout.yaml")
		if err := os.WriteFile(path, []byte(brokenStableRollout), 0o600); err != nil {
			t.Fatal(err)
		}
		mustKubectl(t, "apply", "-n", ns, "-f", path)
		waitRollout(t, c, ns, "web", "the broken first version to be stable", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.StableRS != "" && ro.Status.StableRS == ro.Status.CurrentPodHash && ro.Status.UpdatedReplicas == 5 && ro.Status.AvailableReplicas == 0
		})
		setImage(t, ns, "web", "registry.example/web:2")
		waitRollout(t, c, ns, "web", "paused at the pause step", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused))
		promote(t, ns, "web")
		ro := waitRollout(t, c, ns, "web", "Healthy on the good version", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash
		})
		waitCounts(t, c, ns, "web", map[string]int32{ro.Status.StableRS: 5})
	})

	t.Run("abort works when the canary never became available", func(t *testing.T) {
		ns := newNamespace(t, c, "bug-abort")
		runController(t, ns)
		applySeed(t, ns, "canary-manual-gates.yaml")
		v1 := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS
		setImage(t, ns, "rails", "registry.example/rails:never-ready")
		ro := waitRollout(t, c, ns, "rails", "a canary ReplicaSet", time.Minute, func(ro *v1alpha1.Rollout) bool { return ro.Status.UpdatedReplicas == 1 })
		v2 := ro.Status.CurrentPodHash
		if h := serviceHash(t, c, ns, "rails-canary"); h != v1 {
			t.Fatalf("canary Service points at %q while the canary has no available Pods", h)
		}
		abort(t, ns, "rails")
		waitRollout(t, c, ns, "rails", "Degraded", time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
		waitCounts(t, c, ns, "rails", map[string]int32{v2: 0, v1: 5})
	})

	t.Run("progressDeadlineAbort fires for a canary that never becomes available, with workloadRef", func(t *testing.T) {
		ns := newNamespace(t, c, "bug-deadline")
		runController(t, ns)
		applyDocs(t, ns, "canary-workloadref-hpa-datadog.yaml", "Deployment")
		applySeed(t, ns, "canary-workloadref-hpa-datadog.yaml")
		v1 := waitRollout(t, c, ns, "measure-api", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS
		mustKubectl(t, "-n", ns, "patch", "rollout", "measure-api", "--type", "merge", "-p", `{"spec":{"progressDeadlineSeconds":10,"progressDeadlineAbort":true}}`)
		mustKubectl(t, "-n", ns, "set", "image", "deployment/measure-api", "api=registry.example/measure-api:never-ready")
		ro := waitRollout(t, c, ns, "measure-api", "aborted by the progress deadline", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Abort && ro.Status.Phase == v1alpha1.RolloutPhaseDegraded
		})
		waitCounts(t, c, ns, "measure-api", map[string]int32{ro.Status.CurrentPodHash: 0, v1: 4})
		if h := serviceHash(t, c, ns, "measure-api-stable"); h != v1 {
			t.Fatalf("stable Service points at %q, want %q", h, v1)
		}
	})

	t.Run("a new template mid-canary replaces the canary", func(t *testing.T) {
		ns := newNamespace(t, c, "bug-third")
		runController(t, ns)
		applySeed(t, ns, "canary-manual-gates.yaml")
		v1 := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS
		setImage(t, ns, "rails", "registry.example/rails:6.1")
		v2 := waitRollout(t, c, ns, "rails", "paused", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused)).Status.CurrentPodHash
		promote(t, ns, "rails")
		waitCounts(t, c, ns, "rails", map[string]int32{v2: 3, v1: 3})
		setImage(t, ns, "rails", "registry.example/rails:6.2")
		ro := waitRollout(t, c, ns, "rails", "paused at the first pause of the newest version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.CurrentPodHash != v2 && derefOr(ro.Status.CurrentStepIndex, -1) == 1
		})
		waitCounts(t, c, ns, "rails", map[string]int32{ro.Status.CurrentPodHash: 1, v2: 0, v1: 5})
	})
}

// brokenStableRollout is a canary whose first version never becomes ready.
const brokenStableRollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 5
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.example/web:never-ready
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
`
