package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// durationOf returns status.duration, failing when it is not consistent:
// a finished release has a completion status, no wait under way, and does
// not end before it started (times are kept to the second, and the local
// cluster readies Pods within one, so the two may be equal).
func durationOf(t *testing.T, ro *v1alpha1.Rollout) *v1alpha1.RolloutDurationStatus {
	t.Helper()
	d := ro.Status.Duration
	if d == nil || d.RolloutStartedAt == nil {
		t.Fatalf("no status.duration: %+v", d)
	}
	if d.FinishedAt != nil && (d.CompletionStatus == nil || d.ManualPauseStartedAt != nil || d.FinishedAt.Before(d.RolloutStartedAt)) {
		t.Fatalf("inconsistent finished release %+v (completionStatus %q)", d, d.GetCompletionStatus())
	}
	return d
}

// finishedAs reports whether the last release ended this way.
func finishedAs(how v1alpha1.CompletionStatus) func(*v1alpha1.Rollout) bool {
	return func(ro *v1alpha1.Rollout) bool {
		d := ro.Status.Duration
		return d != nil && d.FinishedAt != nil && d.GetCompletionStatus() == how
	}
}

// releaseCount reads from the controller's /metrics how many releases
// ended this way.
func releaseCount(t *testing.T, p *controllerProcess, how v1alpha1.CompletionStatus) string {
	t.Helper()
	code, body, err := p.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	series := fmt.Sprintf(`rollout_duration_seconds_count{status=%q} `, how)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			return v
		}
	}
	return "0"
}

// durationCanary is a small canary: a weight, a pause for a person, a
// weight, a timed pause.
var durationCanary = servicesYAML("rails", 0, "rails-stable", "rails-canary") + `---
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

// TestDurationCanary walks the reference's canary duration cases on one
// Rollout: the initial deploy is a promoted release with no manual pause;
// an update waits for a person at the indefinite pause (counted), runs out
// its 10 s pause on its own (not counted) and is promoted; the next update
// is aborted, retried as a new release, and rolled back to the stable
// template mid-release, which keeps the retry's start. Each ending shows
// on /metrics.
func TestDurationCanary(t *testing.T) {
	c, ns, ctl := controlledNamespace(t, "duration")

	applyYAML(t, ns, durationCanary)
	ro := waitRollout(t, c, ns, "rails", "the initial deploy promoted", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && finishedAs(v1alpha1.CompletionStatusPromoted)(ro)
	})
	if d := durationOf(t, ro); d.TotalManualPauseDuration != nil {
		t.Fatalf("the initial deploy waited for a person: %+v", d)
	}

	setImage(t, ns, "rails", "registry.example/rails:6.1")
	ro = waitRollout(t, c, ns, "rails", "waiting for a person at the indefinite pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1 &&
			ro.Status.Duration != nil && ro.Status.Duration.ManualPauseStartedAt != nil
	})
	d := durationOf(t, ro)
	started := d.RolloutStartedAt.Time
	if d.FinishedAt != nil || d.CompletionStatus != nil || d.ManualPauseStartedAt.Before(d.RolloutStartedAt) {
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
	total := derefOr(d.TotalManualPauseDuration, 0)
	if total < int64(waited/time.Second)-1 || total <= 0 {
		t.Fatalf("totalManualPauseDuration %v, want at least the %s waited before promoting", d.TotalManualPauseDuration, waited)
	}

	ro = waitRollout(t, c, ns, "rails", "the release promoted", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && finishedAs(v1alpha1.CompletionStatusPromoted)(ro)
	})
	d = durationOf(t, ro)
	if ro.Status.StableRS != ro.Status.CurrentPodHash || !d.RolloutStartedAt.Time.Equal(started) || derefOr(d.TotalManualPauseDuration, -1) != total {
		t.Fatalf("finished release %+v (stable %s current %s), want started %v and %d s manual pause",
			d, ro.Status.StableRS, ro.Status.CurrentPodHash, started, total)
	}
	if span := d.FinishedAt.Sub(d.RolloutStartedAt.Time); span < 10*time.Second {
		t.Fatalf("release lasted %s, less than its 10 s pause", span)
	}
	promotedAt := d.FinishedAt.Time

	setImage(t, ns, "rails", "registry.example/rails:6.2")
	waitRollout(t, c, ns, "rails", "the next release at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	abort(t, ns, "rails")
	ro = waitRollout(t, c, ns, "rails", "the release aborted", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && finishedAs(v1alpha1.CompletionStatusAborted)(ro)
	})
	d = durationOf(t, ro)
	if !d.RolloutStartedAt.After(promotedAt) && !d.RolloutStartedAt.Time.Equal(promotedAt) {
		t.Fatalf("aborted release %+v started before the previous one ended at %v", d, promotedAt)
	}
	aborted := d.RolloutStartedAt.Time

	time.Sleep(time.Second) // status times have a resolution of a second
	retry(t, ns, "rails")
	ro = waitRollout(t, c, ns, "rails", "the retried release at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1 &&
			ro.Status.Duration != nil && ro.Status.Duration.FinishedAt == nil
	})
	d = durationOf(t, ro)
	if !d.RolloutStartedAt.After(aborted) || d.CompletionStatus != nil {
		t.Fatalf("retried release %+v, want a new one started after %v", d, aborted)
	}
	retried := d.RolloutStartedAt.Time

	// Back to the stable template in the middle of the release.
	setImage(t, ns, "rails", "registry.example/rails:6.1")
	ro = waitRollout(t, c, ns, "rails", "the release rolled back", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && finishedAs(v1alpha1.CompletionStatusFastRollbacked)(ro)
	})
	d = durationOf(t, ro)
	if !d.RolloutStartedAt.Time.Equal(retried) || d.TotalManualPauseDuration == nil {
		t.Fatalf("rolled back release %+v, want the one started at %v, with its wait counted", d, retried)
	}

	eventually(t, 30*time.Second, "every ending on /metrics", func() (bool, error) {
		p, a, f := releaseCount(t, ctl, v1alpha1.CompletionStatusPromoted), releaseCount(t, ctl, v1alpha1.CompletionStatusAborted),
			releaseCount(t, ctl, v1alpha1.CompletionStatusFastRollbacked)
		return p == "2" && a == "1" && f == "1", fmt.Errorf("promoted %s, aborted %s, fast-rollbacked %s", p, a, f)
	})
}

// windowCanary is a canary with one pause for a person and a rollback
// window of one revision.
func windowCanary(name string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: %[1]s
spec:
  replicas: 2
  revisionHistoryLimit: 5
  rollbackWindow:
    revisions: 1
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
        - name: app
          image: registry.example/%[1]s:1
  strategy:
    canary:
      steps:
        - setWeight: 50
        - pause: {}
`, name)
}

// TestDurationRollbackWindow follows the reference's rollbackWindow cases
// with a window of one revision: after completing v2 and starting v3, a
// return to v1 is inside the window and goes straight to Healthy as
// fast-rollbacked; after completing v2 and v3 and starting v4, v1 is
// outside it, so the rollback pauses at its step like any release and is
// rollbacked once promoted.
func TestDurationRollbackWindow(t *testing.T) {
	c, ns, _ := controlledNamespace(t, "rbwindow")
	applyYAML(t, ns, windowCanary("inside")+"---\n"+windowCanary("outside"))

	paused := func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	}
	// A ReplicaSet's creation time, which orders versions for the window,
	// has a resolution of a second, and the local cluster can take a
	// version from creation to Healthy within one: wait a second before
	// every new version so no two share a creation time.
	complete := func(name string, version int) {
		t.Helper()
		time.Sleep(time.Second)
		setImage(t, ns, name, fmt.Sprintf("registry.example/%s:%d", name, version))
		waitRollout(t, c, ns, name, fmt.Sprintf("v%d at the pause", version), 2*time.Minute, paused)
		promote(t, ns, name)
		waitRollout(t, c, ns, name, fmt.Sprintf("v%d promoted", version), 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && finishedAs(v1alpha1.CompletionStatusPromoted)(ro)
		})
	}
	for _, name := range []string{"inside", "outside"} {
		waitRollout(t, c, ns, name, "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
		complete(name, 2)
	}

	time.Sleep(time.Second)
	setImage(t, ns, "inside", "registry.example/inside:3")
	ro := waitRollout(t, c, ns, "inside", "v3 at the pause", 2*time.Minute, paused)
	started := durationOf(t, ro).RolloutStartedAt.Time
	setImage(t, ns, "inside", "registry.example/inside:1")
	ro = waitRollout(t, c, ns, "inside", "v1 back without its steps", time.Minute, func(ro *v1alpha1.Rollout) bool {
		if ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.Duration != nil && ro.Status.Duration.GetCompletionStatus() != "" {
			t.Fatalf("a rollback within the window paused: %+v", ro.Status.PauseConditions)
		}
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && finishedAs(v1alpha1.CompletionStatusFastRollbacked)(ro)
	})
	if d := durationOf(t, ro); !d.RolloutStartedAt.Time.Equal(started) {
		t.Fatalf("fast rollback %+v, want the start of the v3 release %v", d, started)
	}

	complete("outside", 3)
	time.Sleep(time.Second)
	setImage(t, ns, "outside", "registry.example/outside:4")
	ro = waitRollout(t, c, ns, "outside", "v4 at the pause", 2*time.Minute, paused)
	started = durationOf(t, ro).RolloutStartedAt.Time
	setImage(t, ns, "outside", "registry.example/outside:1")
	ro = waitRollout(t, c, ns, "outside", "the rollback to v1 at the pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return paused(ro) && ro.Status.Duration != nil && ro.Status.Duration.GetCompletionStatus() == v1alpha1.CompletionStatusRollbacked
	})
	if d := durationOf(t, ro); d.FinishedAt != nil || !d.RolloutStartedAt.Time.Equal(started) {
		t.Fatalf("rollback in progress %+v, want the v4 release started at %v", d, started)
	}
	promote(t, ns, "outside")
	waitRollout(t, c, ns, "outside", "the rollback finished", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && finishedAs(v1alpha1.CompletionStatusRollbacked)(ro)
	})
}

// TestDurationBlueGreen: the initial deploy is a promoted release; an
// update waits for a person before its promotion, counted as manual pause
// time, and is promoted.
func TestDurationBlueGreen(t *testing.T) {
	c, ns, ctl := controlledNamespace(t, "bgduration")
	applyYAML(t, ns, bgManualManifest("cart", 2, 0))
	ro := waitRollout(t, c, ns, "cart", "the initial deploy promoted", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && finishedAs(v1alpha1.CompletionStatusPromoted)(ro)
	})
	if d := durationOf(t, ro); d.TotalManualPauseDuration != nil {
		t.Fatalf("the initial deploy waited for a person: %+v", d)
	}

	setImage(t, ns, "cart", "registry.example/cart:2")
	ro = waitRollout(t, c, ns, "cart", "waiting for a person before promotion", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.Duration != nil && ro.Status.Duration.ManualPauseStartedAt != nil
	})
	if d := durationOf(t, ro); d.FinishedAt != nil || d.CompletionStatus != nil {
		t.Fatalf("release in progress shows %+v", d)
	}
	const waited = 3 * time.Second
	time.Sleep(waited)
	promote(t, ns, "cart")
	ro = waitRollout(t, c, ns, "cart", "the release promoted", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && finishedAs(v1alpha1.CompletionStatusPromoted)(ro)
	})
	d := durationOf(t, ro)
	if ro.Status.StableRS != ro.Status.CurrentPodHash || derefOr(d.TotalManualPauseDuration, 0) < int64(waited/time.Second)-1 ||
		derefOr(d.TotalManualPauseDuration, 0) <= 0 {
		t.Fatalf("finished release %+v (stable %s current %s), want at least %s of manual pause", d, ro.Status.StableRS, ro.Status.CurrentPodHash, waited)
	}
	eventually(t, 30*time.Second, "both releases on /metrics", func() (bool, error) {
		n := releaseCount(t, ctl, v1alpha1.CompletionStatusPromoted)
		return n == "2", fmt.Errorf("promoted %s", n)
	})
}
