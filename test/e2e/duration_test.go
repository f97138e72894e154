package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// durationOf returns status.duration, failing when there is none.
func durationOf(t *testing.T, ro *v1alpha1.Rollout) *v1alpha1.RolloutDuration {
	t.Helper()
	if ro.Status.Duration == nil || ro.Status.Duration.RolloutStartedAt == nil {
		t.Fatalf("no status.duration: %+v", ro.Status.Duration)
	}
	return ro.Status.Duration
}

// finishedAs reports whether the last release ended this way.
func finishedAs(how v1alpha1.RolloutCompletionStatus) func(*v1alpha1.Rollout) bool {
	return func(ro *v1alpha1.Rollout) bool {
		d := ro.Status.Duration
		return d != nil && d.FinishedAt != nil && d.CompletionStatus == how
	}
}

// releaseCount reads how many releases of a Rollout ended this way from the
// controller's /metrics.
func releaseCount(t *testing.T, p *controllerProcess, ns, name string, how v1alpha1.RolloutCompletionStatus) string {
	t.Helper()
	code, body, err := p.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	series := fmt.Sprintf(`kanaria_rollout_release_duration_seconds_count{completion_status=%q,name=%q,namespace=%q} `, how, name, ns)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			return v
		}
	}
	return "0"
}

// durationCanary has the shape of canary-manual-gates.yaml, smaller: a
// weight, a pause for a person, a weight, a timed pause.
const durationCanary = `apiVersion: v1
kind: Service
metadata:
  name: rails-stable
spec:
  selector:
    app: rails
  ports:
    - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: rails-canary
spec:
  selector:
    app: rails
  ports:
    - port: 80
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rails
spec:
  replicas: 3
  selector:
    matchLabels:
      app: rails
  template:
    metadata:
      labels:
        app: rails
    spec:
      containers:
        - name: rails
          image: registry.example/rails:6.0
  strategy:
    canary:
      canaryService: rails-canary
      stableService: rails-stable
      steps:
        - setWeight: 34
        - pause: {}
        - setWeight: 67
        - pause:
            duration: 10s
`

// TestDurationCanary walks a canary with both kinds of pause: the initial
// deploy is no release; an update waits for a person at the indefinite
// pause (counted as manual pause time), runs out its 10 s pause on its own
// (not counted) and ends Promoted; the next update is aborted and ends
// Aborted. Both show on /metrics.
func TestDurationCanary(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "duration")
	ctl := runController(t, ns)

	applyYAML(t, ns, durationCanary)
	ro := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	if ro.Status.Duration != nil {
		t.Fatalf("the initial deploy recorded a release: %+v", ro.Status.Duration)
	}

	setImage(t, ns, "rails", "registry.example/rails:6.1")
	ro = waitRollout(t, c, ns, "rails", "waiting for a person at the indefinite pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1 &&
			ro.Status.Duration != nil && ro.Status.Duration.ManualPauseStartedAt != nil
	})
	d := durationOf(t, ro)
	started := d.RolloutStartedAt.Time
	if d.FinishedAt != nil || d.CompletionStatus != "" || d.ManualPauseStartedAt.Before(d.RolloutStartedAt) {
		t.Fatalf("release in progress shows %+v", d)
	}
	const waited = 3 * time.Second
	time.Sleep(waited)
	promote(t, ns, "rails")
	ro = waitRollout(t, c, ns, "rails", "the timed pause at 67%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	d = durationOf(t, ro)
	if d.ManualPauseStartedAt != nil {
		t.Fatalf("a timed pause counted as waiting for a person: %+v", d)
	}
	total := d.TotalManualPauseDurationSeconds
	if total < int64(waited/time.Second)-1 {
		t.Fatalf("totalManualPauseDurationSeconds %d, want at least the %s waited before promoting", total, waited)
	}

	ro = waitRollout(t, c, ns, "rails", "the release finished Promoted", 2*time.Minute, finishedAs(v1alpha1.CompletionStatusPromoted))
	d = durationOf(t, ro)
	if ro.Status.StableRS != ro.Status.CurrentPodHash || !d.RolloutStartedAt.Time.Equal(started) || d.TotalManualPauseDurationSeconds != total {
		t.Fatalf("finished release %+v (stable %s current %s), want started %v and %d s manual pause",
			d, ro.Status.StableRS, ro.Status.CurrentPodHash, started, total)
	}
	if span := d.FinishedAt.Sub(d.RolloutStartedAt.Time); span < 10*time.Second {
		t.Fatalf("release lasted %s, less than its 10 s pause", span)
	}
	promotedAt := d.FinishedAt.Time

	setImage(t, ns, "rails", "registry.example/rails:6.2")
	ro = waitRollout(t, c, ns, "rails", "the next release at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	d = durationOf(t, ro)
	if d.FinishedAt != nil || d.RolloutStartedAt.Time.Before(promotedAt) || d.TotalManualPauseDurationSeconds != 0 {
		t.Fatalf("next release %+v, want a fresh one started after %v", d, promotedAt)
	}
	abort(t, ns, "rails")
	ro = waitRollout(t, c, ns, "rails", "the release finished Aborted", time.Minute, finishedAs(v1alpha1.CompletionStatusAborted))
	if ro.Status.Phase != v1alpha1.RolloutPhaseDegraded {
		t.Fatalf("phase %s after the abort", ro.Status.Phase)
	}

	eventually(t, 30*time.Second, "both releases on /metrics", func() (bool, error) {
		p, a := releaseCount(t, ctl, ns, "rails", v1alpha1.CompletionStatusPromoted), releaseCount(t, ctl, ns, "rails", v1alpha1.CompletionStatusAborted)
		return p == "1" && a == "1", fmt.Errorf("Promoted %s, Aborted %s", p, a)
	})
}

// TestDurationBlueGreen: a blue-green release waits for a person before its
// promotion, counted as manual pause time, and ends Promoted.
func TestDurationBlueGreen(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "bgduration")
	ctl := runController(t, ns)
	applyYAML(t, ns, bgManualManifest("cart", 2, 0))
	ro := waitRollout(t, c, ns, "cart", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	if ro.Status.Duration != nil {
		t.Fatalf("the initial deploy recorded a release: %+v", ro.Status.Duration)
	}

	setImage(t, ns, "cart", "registry.example/cart:2")
	ro = waitRollout(t, c, ns, "cart", "waiting for a person before promotion", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.Duration != nil && ro.Status.Duration.ManualPauseStartedAt != nil
	})
	d := durationOf(t, ro)
	if d.FinishedAt != nil {
		t.Fatalf("release in progress shows %+v", d)
	}
	const waited = 3 * time.Second
	time.Sleep(waited)
	promote(t, ns, "cart")
	ro = waitRollout(t, c, ns, "cart", "the release finished Promoted", 2*time.Minute, finishedAs(v1alpha1.CompletionStatusPromoted))
	d = durationOf(t, ro)
	if ro.Status.StableRS != ro.Status.CurrentPodHash || d.TotalManualPauseDurationSeconds < int64(waited/time.Second)-1 {
		t.Fatalf("finished release %+v (stable %s current %s), want at least %s of manual pause", d, ro.Status.StableRS, ro.Status.CurrentPodHash, waited)
	}
	eventually(t, 30*time.Second, "the release on /metrics", func() (bool, error) {
		n := releaseCount(t, ctl, ns, "cart", v1alpha1.CompletionStatusPromoted)
		return n == "1", fmt.Errorf("Promoted %s", n)
	})
}
