package decide

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// wantFinished checks the last release the status records.
func wantFinished(t *testing.T, s *sim, how v1alpha1.CompletionStatus) *v1alpha1.RolloutDurationStatus {
	t.Helper()
	dur := s.ro.Status.Duration
	if dur == nil || dur.RolloutStartedAt == nil || dur.FinishedAt == nil {
		t.Fatalf("duration %+v, want a finished release", dur)
	}
	if got := dur.GetCompletionStatus(); got != how {
		t.Fatalf("completionStatus %q, want %q", got, how)
	}
	if dur.ManualPauseStartedAt != nil {
		t.Fatalf("a finished release still waits for a person since %v", dur.ManualPauseStartedAt)
	}
	if dur.FinishedAt.Before(dur.RolloutStartedAt) {
		t.Fatalf("finished %v before it started %v", dur.FinishedAt, dur.RolloutStartedAt)
	}
	return dur
}

// wantReleases checks the completion statuses the plans reported, in order.
func wantReleases(t *testing.T, s *sim, want ...v1alpha1.CompletionStatus) {
	t.Helper()
	var got []v1alpha1.CompletionStatus
	for _, r := range s.releases {
		got = append(got, r.CompletionStatus)
	}
	if len(got) != len(want) {
		t.Fatalf("releases reported %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("releases reported %v, want %v", got, want)
		}
	}
}

func wantInProgress(t *testing.T, s *sim) *v1alpha1.RolloutDurationStatus {
	t.Helper()
	dur := s.ro.Status.Duration
	if dur == nil || dur.RolloutStartedAt == nil || dur.FinishedAt != nil {
		t.Fatalf("duration %+v, want a release in progress", dur)
	}
	return dur
}

func wantNoManualPause(t *testing.T, dur *v1alpha1.RolloutDurationStatus) {
	t.Helper()
	if dur.TotalManualPauseDuration != nil {
		t.Fatalf("totalManualPauseDuration %d, want none: the release never waited for a person", *dur.TotalManualPauseDuration)
	}
}

// deployed settles the first version of a Rollout and forgets its release.
func deployed(s *sim) *sim {
	s.settle()
	s.releases = nil
	return s
}

// TestDurationInitialDeploy: the first version is a release too, promoted
// once it is stable and fully available.
func TestDurationInitialDeploy(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    func(t *testing.T) *sim
	}{
		{"canary", func(t *testing.T) *sim { return newManualGatesSim(t) }},
		{"blue-green", func(t *testing.T) *sim { return newBlueGreenSim(t, false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			started := metav1.NewTime(s.now)
			s.reconcile()
			dur := wantInProgress(t, s)
			if !dur.RolloutStartedAt.Equal(&started) || dur.CompletionStatus != nil {
				t.Fatalf("first decision: %+v, want a release started at %v", dur, started)
			}
			s.settle()
			wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
			dur = wantFinished(t, s, v1alpha1.CompletionStatusPromoted)
			if !dur.FinishedAt.After(started.Time) {
				t.Fatalf("finished %v, not after the Pods came up", dur.FinishedAt)
			}
			wantNoManualPause(t, dur)
			wantReleases(t, s, v1alpha1.CompletionStatusPromoted)
		})
	}
}

// TestDurationCanaryPauses walks the canary-manual-gates steps: the
// indefinite pause counts as waiting for a person, the 20 s pause does not.
func TestDurationCanaryPauses(t *testing.T) {
	s := deployed(newManualGatesSim(t))
	s.setImage("rails:6.1")
	started := metav1.NewTime(s.now)
	s.reconcile()
	dur := wantInProgress(t, s)
	if !dur.RolloutStartedAt.Equal(&started) || dur.CompletionStatus != nil {
		t.Fatalf("rolloutStartedAt %v, want %v; completionStatus %v", dur.RolloutStartedAt, started, dur.CompletionStatus)
	}
	s.settle() // at the indefinite pause of step 1
	dur = wantInProgress(t, s)
	if dur.ManualPauseStartedAt == nil {
		t.Fatalf("no manual pause at the indefinite pause step: %+v", dur)
	}
	wantNoManualPause(t, dur)
	pauseStart := dur.ManualPauseStartedAt.Time
	s.tick(time.Hour)
	s.promote()
	s.reconcile()
	dur = wantInProgress(t, s)
	waited := int64(s.now.Sub(pauseStart) / time.Second)
	if dur.ManualPauseStartedAt != nil || deref(dur.TotalManualPauseDuration, -1) != waited {
		t.Fatalf("after promote: %+v, want %d s waited", dur, waited)
	}
	// The 20 s pause at step 3 ends by itself.
	for i := 0; i < 60 && s.ro.Status.StableRS != s.ro.Status.CurrentPodHash; i++ {
		s.reconcile()
		if d := s.ro.Status.Duration; d.FinishedAt == nil && d.ManualPauseStartedAt != nil {
			t.Fatalf("timed pause counted as manual at step %d", stepIndex(s))
		}
		s.tick(time.Second)
	}
	s.settle()
	dur = wantFinished(t, s, v1alpha1.CompletionStatusPromoted)
	if deref(dur.TotalManualPauseDuration, -1) != waited {
		t.Fatalf("total manual pause %v, want %d", dur.TotalManualPauseDuration, waited)
	}
	wantReleases(t, s, v1alpha1.CompletionStatusPromoted)
	r := s.releases[0]
	if r.Duration != dur.FinishedAt.Sub(dur.RolloutStartedAt.Time) || r.ManualPause != time.Duration(waited)*time.Second {
		t.Fatalf("reported %+v for %+v", r, dur)
	}
	// Nothing changes once the release is over; a scale is not a release.
	before := dur.DeepCopy()
	s.ro.Spec.Replicas = ptr(int32(7))
	s.settle()
	if got := s.ro.Status.Duration; !got.RolloutStartedAt.Equal(before.RolloutStartedAt) || !got.FinishedAt.Equal(before.FinishedAt) ||
		got.GetCompletionStatus() != before.GetCompletionStatus() {
		t.Fatalf("scaling changed the release record: %+v -> %+v", before, got)
	}
	wantReleases(t, s, v1alpha1.CompletionStatusPromoted)
}

// TestDurationTimedPausesOnly: a release that only waits for time never
// waited for a person, so it shows no manual pause total at all.
func TestDurationTimedPausesOnly(t *testing.T) {
	ro := manualGates()
	ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(50))},
		{Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("10s"))}},
	}
	s := newSim(t, ro)
	s.addService("rails-stable", map[string]string{"app": "rails"})
	s.addService("rails-canary", map[string]string{"app": "rails"})
	deployed(s)
	s.setImage("rails:6.1")
	s.settle() // at the timed pause
	if d := wantInProgress(t, s); d.ManualPauseStartedAt != nil {
		t.Fatalf("a timed pause counted as manual: %+v", d)
	}
	s.tick(11 * time.Second)
	s.settle()
	wantNoManualPause(t, wantFinished(t, s, v1alpha1.CompletionStatusPromoted))
}

func TestDurationSpecPausedCountsAsManual(t *testing.T) {
	s := deployed(newManualGatesSim(t))
	s.ro.Spec.Paused = true
	s.setImage("rails:6.1")
	s.reconcile()
	dur := wantInProgress(t, s)
	if dur.ManualPauseStartedAt == nil {
		t.Fatal("spec.paused did not start a manual pause")
	}
	from := dur.ManualPauseStartedAt.Time
	s.tick(10 * time.Minute)
	s.reconcile()
	s.ro.Spec.Paused = false
	s.reconcile()
	dur = wantInProgress(t, s)
	if want := int64(s.now.Sub(from) / time.Second); dur.ManualPauseStartedAt != nil || deref(dur.TotalManualPauseDuration, -1) != want {
		t.Fatalf("after resume %+v, want total %d", dur, want)
	}
}

func TestDurationPromoteFull(t *testing.T) {
	s := deployed(newManualGatesSim(t))
	s.setImage("rails:6.1")
	s.settle()
	s.ro.Status.PromoteFull = true
	s.settle()
	dur := wantFinished(t, s, v1alpha1.CompletionStatusFastPromoted)
	if dur.TotalManualPauseDuration == nil {
		t.Fatal("the wait at the indefinite pause before promote --full was not counted")
	}
	wantReleases(t, s, v1alpha1.CompletionStatusFastPromoted)
}

func TestDurationAbortAndRetry(t *testing.T) {
	s := deployed(newManualGatesSim(t))
	s.setImage("rails:6.1")
	s.settle() // waiting for a person at step 1
	s.tick(time.Minute)
	s.ro.Status.Abort = true
	s.reconcile()
	dur := wantFinished(t, s, v1alpha1.CompletionStatusAborted)
	if deref(dur.TotalManualPauseDuration, 0) < 60 {
		t.Fatalf("the wait before the abort was not counted: %+v", dur)
	}
	finished := *dur.FinishedAt
	s.settle()
	if got := s.ro.Status.Duration; !got.FinishedAt.Equal(&finished) {
		t.Fatalf("an aborted release kept changing: %+v", got)
	}
	// A retry is a new attempt with its own clock.
	s.ro.Status.Abort = false
	retried := metav1.NewTime(s.now)
	s.reconcile()
	dur = wantInProgress(t, s)
	if !dur.RolloutStartedAt.Equal(&retried) || dur.TotalManualPauseDuration != nil || dur.CompletionStatus != nil {
		t.Fatalf("after retry %+v, want a fresh release started at %v", dur, retried)
	}
	s.ro.Status.PromoteFull = true
	s.settle()
	wantFinished(t, s, v1alpha1.CompletionStatusFastPromoted)
	wantReleases(t, s, v1alpha1.CompletionStatusAborted, v1alpha1.CompletionStatusFastPromoted)
}

// TestDurationSuperseded: a newer template mid-release ends the release
// and starts another; going back to the stable template mid-release is
// the same release rolled back at once.
func TestDurationSuperseded(t *testing.T) {
	s := deployed(newManualGatesSim(t))
	s.setImage("rails:6.1")
	s.settle()
	first := wantInProgress(t, s).RolloutStartedAt.DeepCopy()
	s.tick(time.Minute)
	s.setImage("rails:6.2")
	s.reconcile()
	wantReleases(t, s, v1alpha1.CompletionStatusSuperseded)
	dur := wantInProgress(t, s)
	if !dur.RolloutStartedAt.After(first.Time) || dur.CompletionStatus != nil {
		t.Fatalf("the new release %+v, want one started after %v", dur, first)
	}
	if s.releases[0].Duration < time.Minute {
		t.Fatalf("superseded release reported %v, want at least a minute", s.releases[0].Duration)
	}
	second := dur.RolloutStartedAt.DeepCopy()
	s.settle() // waiting at the indefinite pause
	s.tick(time.Minute)
	s.setImage("rails:6.0")
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	dur = wantFinished(t, s, v1alpha1.CompletionStatusFastRollbacked)
	if !dur.RolloutStartedAt.Equal(second) || dur.TotalManualPauseDuration == nil {
		t.Fatalf("rolled back release %+v, want the one started at %v with its wait counted", dur, second)
	}
	wantReleases(t, s, v1alpha1.CompletionStatusSuperseded, v1alpha1.CompletionStatusFastRollbacked)
}

// completeRelease walks a release of image to the end past its pauses.
func completeRelease(t *testing.T, s *sim, image string) {
	t.Helper()
	s.setImage(image)
	for range 10 {
		s.settle()
		if s.ro.Status.StableRS == s.hashOf(image) {
			return
		}
		s.promote()
		s.tick(30 * time.Second)
	}
	t.Fatalf("release of %s did not complete: %+v", image, s.ro.Status)
}

// TestDurationRollback follows the reference's rollbackWindow cases: a
// return to a version outside the window walks its steps and ends
// rollbacked, keeping the start of the release it interrupted; one inside
// the window skips steps, pauses and analysis and ends fast-rollbacked.
func TestDurationRollback(t *testing.T) {
	t.Run("outside the window", func(t *testing.T) {
		s := newManualGatesSim(t)
		s.ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 1}
		deployed(s)
		completeRelease(t, s, "rails:6.1")
		completeRelease(t, s, "rails:6.2")
		s.setImage("rails:6.3")
		s.settle()
		started := wantInProgress(t, s).RolloutStartedAt.DeepCopy()
		s.releases = nil
		s.setImage("rails:6.0")
		s.settle()
		wantPhase(t, s, v1alpha1.RolloutPhasePaused)
		dur := wantInProgress(t, s)
		if !dur.RolloutStartedAt.Equal(started) || dur.GetCompletionStatus() != v1alpha1.CompletionStatusRollbacked {
			t.Fatalf("rollback in progress %+v, want the release started at %v marked rollbacked", dur, started)
		}
		s.promote()
		for range 4 {
			s.tick(30 * time.Second)
			s.settle()
		}
		wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
		wantFinished(t, s, v1alpha1.CompletionStatusRollbacked)
		wantReleases(t, s, v1alpha1.CompletionStatusRollbacked)
	})
	t.Run("from a finished release", func(t *testing.T) {
		s := deployed(newManualGatesSim(t))
		completeRelease(t, s, "rails:6.1")
		s.releases = nil
		s.setImage("rails:6.0")
		started := metav1.NewTime(s.now)
		s.settle()
		dur := wantInProgress(t, s)
		if !dur.RolloutStartedAt.Equal(&started) || dur.GetCompletionStatus() != v1alpha1.CompletionStatusRollbacked {
			t.Fatalf("rollback %+v, want a release started at %v marked rollbacked", dur, started)
		}
		completeRelease(t, s, "rails:6.0")
		wantFinished(t, s, v1alpha1.CompletionStatusRollbacked)
		wantReleases(t, s, v1alpha1.CompletionStatusRollbacked)
	})
	t.Run("inside the window", func(t *testing.T) {
		s := newManualGatesSim(t)
		s.ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 1}
		deployed(s)
		completeRelease(t, s, "rails:6.1")
		s.setImage("rails:6.2")
		s.settle()
		started := wantInProgress(t, s).RolloutStartedAt.DeepCopy()
		s.releases = nil
		s.setImage("rails:6.0")
		for range 100 {
			s.reconcile()
			if len(s.ro.Status.PauseConditions) > 0 {
				t.Fatalf("a rollback within the window paused: %+v", s.ro.Status.PauseConditions)
			}
			if s.ro.Status.Duration.FinishedAt != nil {
				break
			}
			s.tick(time.Second)
		}
		s.settle()
		wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
		if s.ro.Status.StableRS != s.hashOf("rails:6.0") {
			t.Fatalf("stable %s after the rollback", s.ro.Status.StableRS)
		}
		dur := wantFinished(t, s, v1alpha1.CompletionStatusFastRollbacked)
		if !dur.RolloutStartedAt.Equal(started) {
			t.Fatalf("rollback %+v, want the release started at %v", dur, started)
		}
		wantReleases(t, s, v1alpha1.CompletionStatusFastRollbacked)
	})
}

func TestDurationBlueGreen(t *testing.T) {
	t.Run("manual promotion waits for a person", func(t *testing.T) {
		s := deployed(newBlueGreenSim(t, false))
		s.setImage("api:2")
		s.settle()
		dur := wantInProgress(t, s)
		if dur.ManualPauseStartedAt == nil {
			t.Fatal("a blue-green pause without autoPromotion is not a manual pause")
		}
		from := dur.ManualPauseStartedAt.Time
		s.tick(5 * time.Minute)
		s.promote()
		s.reconcile()
		waited := int64(s.now.Sub(from) / time.Second)
		s.settle()
		dur = wantFinished(t, s, v1alpha1.CompletionStatusPromoted)
		if deref(dur.TotalManualPauseDuration, -1) != waited {
			t.Fatalf("total manual pause %v, want %d", dur.TotalManualPauseDuration, waited)
		}
	})
	t.Run("autoPromotionSeconds is not a manual pause", func(t *testing.T) {
		s := newBlueGreenSim(t, true)
		s.ro.Spec.Strategy.BlueGreen.AutoPromotionSeconds = 20
		deployed(s)
		s.setImage("api:2")
		for range 40 {
			s.reconcile()
			if d := s.ro.Status.Duration; d != nil && d.ManualPauseStartedAt != nil {
				t.Fatal("a timed blue-green pause counted as manual")
			}
			s.tick(time.Second)
		}
		s.settle()
		wantNoManualPause(t, wantFinished(t, s, v1alpha1.CompletionStatusPromoted))
	})
	t.Run("promote full", func(t *testing.T) {
		s := deployed(newBlueGreenSim(t, false))
		s.setImage("api:2")
		s.settle()
		s.ro.Status.PromoteFull = true
		s.settle()
		wantFinished(t, s, v1alpha1.CompletionStatusFastPromoted)
	})
	t.Run("abort", func(t *testing.T) {
		s := deployed(newBlueGreenSim(t, false))
		s.setImage("api:2")
		s.settle()
		s.ro.Status.Abort = true
		s.settle()
		wantFinished(t, s, v1alpha1.CompletionStatusAborted)
		wantReleases(t, s, v1alpha1.CompletionStatusAborted)
	})
	t.Run("rollback inside the window skips the pause", func(t *testing.T) {
		s := newBlueGreenSim(t, false)
		s.ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 1}
		deployed(s)
		completeRelease(t, s, "api:2")
		s.setImage("api:3")
		s.settle()
		wantPhase(t, s, v1alpha1.RolloutPhasePaused)
		s.releases = nil
		s.setImage("api:1")
		s.settle()
		wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
		if svcHash(s, "api-active") != s.hashOf("api:1") {
			t.Fatalf("active selects %s after the rollback", svcHash(s, "api-active"))
		}
		wantFinished(t, s, v1alpha1.CompletionStatusFastRollbacked)
		wantReleases(t, s, v1alpha1.CompletionStatusFastRollbacked)
	})
}

func TestWaitsForPerson(t *testing.T) {
	timed := intstr.FromString("1m")
	canary := &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
		{Pause: &v1alpha1.RolloutPause{}},
		{Pause: &v1alpha1.RolloutPause{Duration: &timed}},
		{Experiment: &v1alpha1.RolloutExperimentStep{}},
	}}
	pause := func(r v1alpha1.PauseReason) []v1alpha1.PauseCondition {
		return []v1alpha1.PauseCondition{{Reason: r}}
	}
	for _, tc := range []struct {
		name     string
		strategy v1alpha1.RolloutStrategy
		paused   bool
		step     int32
		conds    []v1alpha1.PauseCondition
		want     bool
	}{
		{"running", v1alpha1.RolloutStrategy{Canary: canary}, false, 0, nil, false},
		{"spec.paused", v1alpha1.RolloutStrategy{Canary: canary}, true, 0, nil, true},
		{"indefinite pause step", v1alpha1.RolloutStrategy{Canary: canary}, false, 0, pause(v1alpha1.PauseReasonCanaryPauseStep), true},
		{"timed pause step", v1alpha1.RolloutStrategy{Canary: canary}, false, 1, pause(v1alpha1.PauseReasonCanaryPauseStep), false},
		{"step this version cannot run", v1alpha1.RolloutStrategy{Canary: canary}, false, 2, pause(v1alpha1.PauseReasonCanaryPauseStep), true},
		{"inconclusive analysis", v1alpha1.RolloutStrategy{Canary: canary}, false, 0, pause(v1alpha1.PauseReasonInconclusiveAnalysis), true},
		{"inconclusive experiment", v1alpha1.RolloutStrategy{Canary: canary}, false, 0, pause(v1alpha1.PauseReasonInconclusiveExperiment), true},
		{"blue-green without autoPromotion", v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr(false)}}, false, 0, pause(v1alpha1.PauseReasonBlueGreenPause), true},
		{"blue-green autoPromotionSeconds", v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{AutoPromotionSeconds: 30}}, false, 0, pause(v1alpha1.PauseReasonBlueGreenPause), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: tc.strategy, Paused: tc.paused}}
			d := &decider{ro: ro, st: &v1alpha1.RolloutStatus{PauseConditions: tc.conds, CurrentStepIndex: ptr(tc.step)}}
			if got := d.waitsForPerson(); got != tc.want {
				t.Fatalf("waitsForPerson = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBlueGreenCountsActiveOnly: with a reduced preview waiting for
// promotion, ready and available count the active version alone, as the
// reference reports them; replicas and updatedReplicas count every Pod
// and the new version's.
func TestBlueGreenCountsActiveOnly(t *testing.T) {
	s := newBlueGreenSim(t, false)
	s.ro.Spec.Replicas = ptr(int32(2))
	s.ro.Spec.Strategy.BlueGreen.PreviewReplicaCount = ptr(int32(1))
	s.settle()
	s.setImage("api:2")
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	st := s.ro.Status
	if st.Replicas != 3 || st.UpdatedReplicas != 1 || st.ReadyReplicas != 2 || st.AvailableReplicas != 2 || st.HPAReplicas != 2 {
		t.Fatalf("replicas %d updated %d ready %d available %d HPA %d, want 3 1 2 2 2",
			st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, st.HPAReplicas)
	}
	if c := FindCondition(&st, v1alpha1.RolloutAvailable); c == nil || c.Status != "True" {
		t.Fatalf("Available condition %+v", c)
	}
	s.promote()
	s.settle()
	st = s.ro.Status
	// Promoted: the new version is active; the previous one waits out its
	// scale-down delay and is not counted as ready.
	if st.Replicas != 4 || st.UpdatedReplicas != 2 || st.ReadyReplicas != 2 || st.AvailableReplicas != 2 {
		t.Fatalf("after promotion replicas %d updated %d ready %d available %d, want 4 2 2 2",
			st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas)
	}
}
