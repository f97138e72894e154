package decide

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// ReleaseTiming is a release that ended in this decision, for the
// controller's metrics. A release superseded by another template ends and
// the next one starts in the same decision, so the status alone, which
// keeps only the most recent release, cannot tell the controller about it.
type ReleaseTiming struct {
	// CompletionStatus is how the release ended.
	CompletionStatus v1alpha1.RolloutCompletionStatus
	// Duration is the wall-clock time from its start to its end.
	Duration time.Duration
	// ManualPause is the part of Duration spent waiting for a person.
	ManualPause time.Duration
}

// trackDuration maintains status.duration from the status this decision
// started from and the one it produced: a release starts when the desired
// version differs from the stable one (never at the initial deploy, which
// has no stable version to differ from), counts the time it waits for a
// person, and ends when it is promoted, aborted or replaced by another
// template. It runs last, once every other part of the status is decided.
func (d *decider) trackDuration() {
	old, st := &d.ro.Status, d.st
	dur := st.Duration
	active := dur != nil && dur.RolloutStartedAt != nil && dur.FinishedAt == nil
	if active {
		switch {
		case old.CurrentPodHash != "" && st.CurrentPodHash != old.CurrentPodHash:
			d.finishRelease(v1alpha1.CompletionStatusSuperseded)
			active = false
		case st.Abort:
			d.finishRelease(v1alpha1.CompletionStatusAborted)
			active = false
		case st.StableRS == st.CurrentPodHash:
			d.finishRelease(d.promotedAs())
			active = false
		}
	}
	inRelease := st.StableRS != "" && st.CurrentPodHash != "" && st.StableRS != st.CurrentPodHash && !st.Abort
	if !active && inRelease {
		st.Duration = &v1alpha1.RolloutDuration{RolloutStartedAt: ptr(d.now)}
		active = true
	}
	if active {
		d.trackManualPause()
	}
}

// trackManualPause opens or closes the current wait for a person.
func (d *decider) trackManualPause() {
	dur := d.st.Duration
	switch waiting := d.waitsForPerson(); {
	case waiting && dur.ManualPauseStartedAt == nil:
		dur.ManualPauseStartedAt = ptr(d.now)
	case !waiting && dur.ManualPauseStartedAt != nil:
		d.closeManualPause()
	}
}

// closeManualPause adds the wait under way to the total.
func (d *decider) closeManualPause() {
	dur := d.st.Duration
	if dur.ManualPauseStartedAt == nil {
		return
	}
	if waited := d.now.Sub(dur.ManualPauseStartedAt.Time); waited > 0 {
		dur.TotalManualPauseDurationSeconds += int64(waited / time.Second)
	}
	dur.ManualPauseStartedAt = nil
}

// finishRelease ends the release under way and reports it to the plan.
func (d *decider) finishRelease(how v1alpha1.RolloutCompletionStatus) {
	d.closeManualPause()
	dur := d.st.Duration
	dur.FinishedAt = ptr(d.now)
	dur.CompletionStatus = how
	d.plan.Releases = append(d.plan.Releases, ReleaseTiming{
		CompletionStatus: how,
		Duration:         max(dur.FinishedAt.Sub(dur.RolloutStartedAt.Time), 0),
		ManualPause:      time.Duration(dur.TotalManualPauseDurationSeconds) * time.Second,
	})
}

// waitsForPerson reports whether the release now waits for a person rather
// than for time or Pods: a paused spec, an indefinite pause step (or a step
// this version cannot run, which pauses the same way), a blue-green
// promotion without autoPromotion, or an inconclusive analysis. A timed
// pause and autoPromotionSeconds end by themselves and do not count.
func (d *decider) waitsForPerson() bool {
	if d.ro.Spec.Paused {
		return true
	}
	for _, p := range d.st.PauseConditions {
		switch p.Reason {
		case v1alpha1.PauseReasonInconclusiveAnalysis, v1alpha1.PauseReasonInconclusiveExperiment:
			return true
		case v1alpha1.PauseReasonCanaryPauseStep:
			if !d.atTimedPause() {
				return true
			}
		case v1alpha1.PauseReasonBlueGreenPause:
			if b := d.ro.Spec.Strategy.BlueGreen; b != nil && !deref(b.AutoPromotionEnabled, true) {
				return true
			}
		}
	}
	return false
}

// atTimedPause reports whether the current canary step is a pause with a
// duration.
func (d *decider) atTimedPause() bool {
	c := d.ro.Spec.Strategy.Canary
	if c == nil || d.st.CurrentStepIndex == nil {
		return false
	}
	idx := int(*d.st.CurrentStepIndex)
	return idx >= 0 && idx < len(c.Steps) && c.Steps[idx].Pause != nil && c.Steps[idx].Pause.Duration != nil
}

// promotedAs classifies a release whose version just became stable: a
// return to a template older than the stable it replaced is a rollback
// (fast inside spec.rollbackWindow), and a release a client fully promoted
// is a fast promotion.
func (d *decider) promotedAs() v1alpha1.RolloutCompletionStatus {
	old := &d.ro.Status
	if prev := d.rsByHash[old.StableRS]; prev != nil && prev != d.newRS && !d.newRSPlanned &&
		d.newRS.CreationTimestamp.Before(&prev.CreationTimestamp) {
		if d.withinRollbackWindow(prev) {
			return v1alpha1.CompletionStatusFastRolledBack
		}
		return v1alpha1.CompletionStatusRolledBack
	}
	if old.PromoteFull {
		return v1alpha1.CompletionStatusFastPromoted
	}
	return v1alpha1.CompletionStatusPromoted
}

// withinRollbackWindow reports whether the new version, older than prev, is
// among the spec.rollbackWindow.revisions versions before it: fewer
// ReplicaSets than that were created between the two.
func (d *decider) withinRollbackWindow(prev *appsv1.ReplicaSet) bool {
	w := d.ro.Spec.RollbackWindow
	if w == nil || w.Revisions <= 0 {
		return false
	}
	var between int32
	for _, rs := range d.rsByHash {
		if createdBetween(rs, d.newRS.CreationTimestamp, prev.CreationTimestamp) {
			between++
		}
	}
	return between < w.Revisions
}

func createdBetween(rs *appsv1.ReplicaSet, after, before metav1.Time) bool {
	return after.Before(&rs.CreationTimestamp) && rs.CreationTimestamp.Before(&before)
}
