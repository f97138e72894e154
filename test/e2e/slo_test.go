package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/promserver"
)

// sloManifests are two canaries gated by kanaria.dev/slo on a real
// Prometheus: "gated" holds its release at the first step while the
// budget is spent, "watched" is aborted by a background analysis when the
// fast pair of the policy fires. The policy's windows are seconds long so
// the test needs no hour of data; the arithmetic is the same.
const sloManifests = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: budget-left
spec:
  metrics:
  - name: budget-left
    successCondition: result.budgetRemaining > 0.25
    failureCondition: "false"
    provider:
      plugin:
        kanaria.dev/slo: %[1]s
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: canary-burn
spec:
  metrics:
  - name: canary-burn
    interval: 2s
    successCondition: "!result.firing"
    failureCondition: result.firing
    failureLimit: 0
    provider:
      plugin:
        kanaria.dev/slo: %[1]s
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: gated
spec:
  replicas: 2
  selector: {matchLabels: {app: gated}}
  template:
    metadata: {labels: {app: gated}}
    spec: {containers: [{name: shop, image: registry.example/shop:1.0}]}
  strategy:
    canary:
      steps:
      - analysis: {templates: [{templateName: budget-left}]}
      - setWeight: 50
      - pause: {duration: 1s}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: watched
spec:
  replicas: 2
  selector: {matchLabels: {app: watched}}
  template:
    metadata: {labels: {app: watched}}
    spec: {containers: [{name: shop, image: registry.example/shop:1.0}]}
  strategy:
    canary:
      analysis: {templates: [{templateName: canary-burn}]}
      steps:
      - setWeight: 50
      - pause: {}
`

// TestSLOGates runs both error-budget gates against a real Prometheus
// scraping counters at rates whose burn is known in advance: at half the
// budget's pace both releases go through; at twenty times it the
// background analysis aborts the canary and the release freeze holds the
// other release for a person.
func TestSLOGates(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "slo")
	target := promserver.NewTarget(t)
	prom := promserver.Start(t, []string{target.HostPort()}, time.Second)
	good := map[string]string{"app": "shop", "code": "200"}
	bad := map[string]string{"app": "shop", "code": "500"}
	target.SetRate("http_requests_total", good, 995)
	target.SetRate("http_requests_total", bad, 5)
	prom.WaitForSeries(t, `rate(http_requests_total{code="500"}[5s]) > 0`, time.Minute)

	runController(t, ns)
	cfg := fmt.Sprintf(`{prometheus: {address: %q}, objective: 99, period: 30s, windows: [{long: 10s, short: 5s, burnRate: 14.4}],
          errorQuery: 'sum(rate(http_requests_total{app="shop",code="500"}[{{window}}]))',
          totalQuery: 'sum(rate(http_requests_total{app="shop"}[{{window}}]))'}`, prom.URL)
	applyYAML(t, ns, fmt.Sprintf(sloManifests, cfg))
	waitRollout(t, c, ns, "gated", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	waitRollout(t, c, ns, "watched", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))

	// Burning at half the budget's pace: both releases go through.
	setImage(t, ns, "gated", "registry.example/shop:1.1")
	waitRollout(t, c, ns, "gated", "released past the budget gate", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && strings.HasSuffix(ro.Spec.Template.Spec.Containers[0].Image, ":1.1")
	})
	setImage(t, ns, "watched", "registry.example/shop:1.1")
	waitRollout(t, c, ns, "watched", "paused with its analysis running", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused))
	run := waitMeasurements(t, c, ns, "watched", 2)
	if m := run.Status.MetricResults[0]; m.Successful < 2 || m.Failed != 0 {
		t.Fatalf("the healthy canary's analysis: %+v", m)
	}
	promote(t, ns, "watched")
	waitRollout(t, c, ns, "watched", "Healthy on 1.1", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))

	// Burning at twenty times the pace: the background analysis aborts the
	// canary within the fast pair's windows.
	target.SetRate("http_requests_total", good, 800)
	target.SetRate("http_requests_total", bad, 200)
	target.WaitScrapes(11, time.Minute)
	setImage(t, ns, "watched", "registry.example/shop:1.2")
	ro := waitRollout(t, c, ns, "watched", "aborted by its burn rate", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Abort
	})
	if !strings.Contains(ro.Status.Message, "canary-burn") {
		t.Errorf("abort message %q does not name the metric", ro.Status.Message)
	}

	// The budget is spent: the release freeze holds the next release.
	setImage(t, ns, "gated", "registry.example/shop:1.2")
	ro = waitRollout(t, c, ns, "gated", "held by the release freeze", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && hasPause(ro, v1alpha1.PauseReasonInconclusiveAnalysis)
	})
	if derefOr(ro.Status.CurrentStepIndex, -1) != 0 {
		t.Errorf("held at step %d, want the first", derefOr(ro.Status.CurrentStepIndex, -1))
	}
}

// waitMeasurements waits until the newest AnalysisRun of a Rollout has n
// measurements and returns it.
func waitMeasurements(t *testing.T, c clients, ns, rollout string, n int) *v1alpha1.AnalysisRun {
	t.Helper()
	var found *v1alpha1.AnalysisRun
	eventually(t, time.Minute, fmt.Sprintf("%d measurements of %s's analysis", n, rollout), func() (bool, error) {
		var runs v1alpha1.AnalysisRunList
		if err := c.ctrl.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for i := range runs.Items {
			r := &runs.Items[i]
			if !strings.HasPrefix(r.Name, rollout+"-") || r.Status.Phase.Completed() {
				continue
			}
			if len(r.Status.MetricResults) > 0 && len(r.Status.MetricResults[0].Measurements) >= n {
				found = r
				return true, nil
			}
		}
		return false, fmt.Errorf("no running analysis of %s with %d measurements yet", rollout, n)
	})
	return found
}
