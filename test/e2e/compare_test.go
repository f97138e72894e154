package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/dashboard"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/promserver"
)

// compareManifests are a canary whose third step asks kanaria.dev/compare
// whether the canary's Pods serve worse than the stable's, each side
// selected by its pod-template hash. The lookback is seconds long so the
// test needs no ten minutes of data; the statistics are the same.
const compareManifests = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: judge
spec:
  args:
  - name: canary-hash
  - name: baseline-hash
  metrics:
  - name: judge
    provider:
      plugin:
        kanaria.dev/compare:
          lookback: 20s
          step: 2s
          source: {prometheus: {address: %q}}
          metrics:
          - name: error-ratio
            canary: sum(rate(requests_total{hash="{{args.canary-hash}}",code="500"}[5s])) / sum(rate(requests_total{hash="{{args.canary-hash}}"}[5s]))
            baseline: sum(rate(requests_total{hash="{{args.baseline-hash}}",code="500"}[5s])) / sum(rate(requests_total{hash="{{args.baseline-hash}}"}[5s]))
            direction: increase
            critical: true
          - name: throughput
            canary: sum(rate(requests_total{hash="{{args.canary-hash}}"}[5s]))
            baseline: sum(rate(requests_total{hash="{{args.baseline-hash}}"}[5s]))
            direction: decrease
            allowedDecrease: 0.8
          scoring: {pass: 95, marginal: 75}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: judged
spec:
  replicas: 2
  selector: {matchLabels: {app: judged}}
  template:
    metadata: {labels: {app: judged}}
    spec: {containers: [{name: shop, image: registry.example/shop:1.0}]}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause: {}
      - analysis:
          templates: [{templateName: judge}]
          args:
          - name: canary-hash
            valueFrom: {podTemplateHashValue: Latest}
          - name: baseline-hash
            valueFrom: {podTemplateHashValue: Stable}
`

// TestCompareJudgesCanaryAgainstBaseline serves request counters per
// pod-template hash to a real Prometheus: a canary erring as often as the
// stable passes the judge and is released; one erring twenty times as
// often is classified High on a critical metric, fails the analysis step
// and the release is aborted.
func TestCompareJudgesCanaryAgainstBaseline(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "compare")
	target := promserver.NewTarget(t)
	prom := promserver.Start(t, []string{target.HostPort()}, time.Second)
	serve := func(hash string, errorsPerMille float64) {
		target.SetRate("requests_total", map[string]string{"hash": hash, "code": "200"}, 1000-errorsPerMille)
		target.SetRate("requests_total", map[string]string{"hash": hash, "code": "500"}, errorsPerMille)
	}

	runController(t, ns)
	applyYAML(t, ns, fmt.Sprintf(compareManifests, prom.URL))
	stable := waitRollout(t, c, ns, "judged", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS
	serve(stable, 10)

	// A canary as good as the stable: the judge passes it.
	setImage(t, ns, "judged", "registry.example/shop:1.1")
	canary := waitRollout(t, c, ns, "judged", "paused at 50%", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused)).Status.CurrentPodHash
	serve(canary, 10)
	// The lookback and the rate window, plus a margin, of both series.
	target.WaitScrapes(28, time.Minute)
	promote(t, ns, "judged")
	waitRollout(t, c, ns, "judged", "released after a passing judgement", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == canary
	})
	m := judgement(t, c, ns, canary)
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || m.Value != "100" || !strings.Contains(m.Metadata["metric/error-ratio"], "class=Pass") {
		t.Fatalf("the equal canary's judgement: %s %q %q %v", m.Phase, m.Value, m.Message, m.Metadata)
	}
	if !strings.Contains(m.Metadata["metric/throughput"], "class=Pass") {
		t.Errorf("throughput: %q", m.Metadata["metric/throughput"])
	}

	// A canary erring 20% of the time against the stable's 1%: High on a
	// critical metric fails the step, and the release is aborted.
	setImage(t, ns, "judged", "registry.example/shop:1.2")
	bad := waitRollout(t, c, ns, "judged", "paused at 50%", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused)).Status.CurrentPodHash
	serve(bad, 200)
	target.WaitScrapes(28, time.Minute)
	promote(t, ns, "judged")
	ro := waitRollout(t, c, ns, "judged", "aborted by the judge", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Abort
	})
	if ro.Status.StableRS != canary {
		t.Errorf("stable is %q after the abort, want %q", ro.Status.StableRS, canary)
	}
	m = judgement(t, c, ns, bad)
	line := m.Metadata["metric/error-ratio"]
	if m.Phase != v1alpha1.AnalysisPhaseFailed || m.Value != "0" || !strings.Contains(m.Message, "critical metric error-ratio failed") ||
		!strings.Contains(line, "class=High") || !strings.Contains(line, "critical=true") || !strings.Contains(line, "n=11/11") {
		t.Fatalf("the bad canary's judgement: %s %q %q %v", m.Phase, m.Value, m.Message, m.Metadata)
	}

	t.Run("the dashboard shows why", func(t *testing.T) {
		node, browserDir := browserTools(t)
		url := startDashboard(t, dashboard.Options{})
		shots := filepath.Join(repoRoot(t), "test", "output", "compare")
		if err := os.RemoveAll(shots); err != nil {
			t.Fatal(err)
		}
		out, err := runBrowserScript(node, browserDir, "judgement.mjs", url, ns, "judged", shots)
		if err != nil {
			t.Fatalf("the browser test failed (%v): %s; screenshots in %s", err, out, shots)
		}
		// Both judgements are on the page; the failed one has High.
		if !strings.Contains(out, `{"name":"error-ratio","class":"High","p":"`) ||
			!strings.Contains(out, `{"name":"error-ratio","class":"Pass","p":"`) ||
			!strings.Contains(out, `"interval":"[`) {
			t.Errorf("the page shows:\n%s", out)
		}
	})
}

// judgement returns the single measurement of the step analysis that
// judged the canary with hash.
func judgement(t *testing.T, c clients, ns, hash string) v1alpha1.Measurement {
	t.Helper()
	var found v1alpha1.Measurement
	eventually(t, time.Minute, "the judgement of "+hash, func() (bool, error) {
		var runs v1alpha1.AnalysisRunList
		if err := c.ctrl.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, r := range runs.Items {
			if r.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != hash || !r.Status.Phase.Completed() {
				continue
			}
			for _, mr := range r.Status.MetricResults {
				if mr.Name == "judge" && len(mr.Measurements) == 1 {
					found = mr.Measurements[0]
					return true, nil
				}
			}
		}
		return false, fmt.Errorf("no completed analysis of %s yet among %d runs", hash, len(runs.Items))
	})
	return found
}
