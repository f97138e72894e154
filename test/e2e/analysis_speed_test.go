package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestAnalysisRunsStartWithTheirStep releases a canary whose second step is
// an analysis and whose background analysis starts there too, watching
// every version of the Rollout: the first version that reaches the analysis
// step already names both runs, and the release then completes, the
// background run terminated.
func TestAnalysisRunsStartWithTheirStep(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "stepruns")
	runController(t, ns)
	target := newWebTarget(t)
	applyYAML(t, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: once}
spec:
  metrics:
  - name: check
    successCondition: result.ok == true
    provider: {web: {url: "%[1]s/ok"}}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: every-second}
spec:
  metrics:
  - name: check
    interval: 1s
    successCondition: result.ok == true
    provider: {web: {url: "%[1]s/ok"}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: shop, image: registry.example/shop:1.0}]
  strategy:
    canary:
      analysis:
        startingStep: 1
        templates: [{templateName: every-second}]
      steps:
      - setWeight: 50
      - analysis: {templates: [{templateName: once}]}
      - setWeight: 100
`, target.URL))
	ro := waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w, err := c.dynamic.Resource(v1alpha1.GroupVersion.WithResource("rollouts")).Namespace(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=shop", ResourceVersion: ro.ResourceVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	setImage(t, ns, "shop", "registry.example/shop:2.0")

	var atStep *v1alpha1.Rollout
	for atStep == nil {
		seen := nextRollout(t, w, "the Rollout reached the analysis step")
		if seen.Status.CurrentPodHash != ro.Status.CurrentPodHash && derefOr(seen.Status.CurrentStepIndex, 0) >= 1 {
			atStep = &seen
		}
	}
	if idx := derefOr(atStep.Status.CurrentStepIndex, -1); idx != 1 {
		t.Fatalf("the first version past step 0 is at step %d, want the analysis step 1", idx)
	}
	step, bg := atStep.Status.Canary.CurrentStepAnalysisRunStatus, atStep.Status.Canary.CurrentBackgroundAnalysisRunStatus
	if step == nil || bg == nil {
		t.Fatalf("the status that moved to the analysis step names step run %+v and background run %+v, want both", step, bg)
	}

	done := waitRollout(t, c, ns, "shop", "Healthy on the new version", 2*time.Minute, func(r *v1alpha1.Rollout) bool {
		return r.Status.Phase == v1alpha1.RolloutPhaseHealthy && r.Status.StableRS == r.Status.CurrentPodHash && r.Status.StableRS != ro.Status.StableRS
	})
	if got := waitRun(t, c, ns, step.Name, time.Minute); got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("step run %s ended %s", step.Name, got.Status.Phase)
	}
	bgRun := waitRun(t, c, ns, bg.Name, time.Minute)
	if !bgRun.Spec.Terminate || bgRun.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("background run %s: terminate %v, phase %s; want terminated and Successful", bg.Name, bgRun.Spec.Terminate, bgRun.Status.Phase)
	}
	if n := len(bgRun.Status.MetricResults); n != 1 || bgRun.Status.MetricResults[0].Count < 1 {
		t.Errorf("background run %s took no measurement: %+v", bg.Name, bgRun.Status.MetricResults)
	}
	if c := done.Status.Canary; c.CurrentStepAnalysisRunStatus != nil || c.CurrentBackgroundAnalysisRunStatus != nil {
		t.Errorf("the completed Rollout still names runs: %+v", c)
	}
}
