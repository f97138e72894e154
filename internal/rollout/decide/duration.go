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
	CompletionStatus v1alpha1.CompletionStatus
	// Duration is the wall-clock time from its start to its end.
	Duration time.Duration
	// ManualPause is the part of Duration spent waiting for a person.
	ManualPause time.Duration
}

// trackDuration maintains status.duration from the status this decision
// started from and the one it produced. A release starts with the first
// decision about a new Rollout (the initial deploy) and whenever the
// desired version differs from the stable one; it counts the time it waits
// for a person, and ends when its version is stable and fully available,
// when it is aborted, or when a newer template replaces it. A return to the
// stable or an older template is the same release going back, so it keeps
// its start. It runs last, once every other part of the status is decided.
func (d *decider) trackDuration() {
	old, st := &d.ro.Status, d.st
	if st.CurrentPodHash == "" {
		return
	}
	dur := st.Duration
	active := dur != nil && dur.RolloutStartedAt != nil && dur.FinishedAt == nil
	if active && old.CurrentPodHash != "" && st.CurrentPodHash != old.CurrentPodHash {
		if back := d.rollbackKind(); back != "" {
			dur.CompletionStatus = ptr(back)
		} else {
			d.finishRelease(v1alpha1.CompletionStatusSuperseded)
			active = false
		}
	}
	if !active && d.startsRelease() {
		st.Duration = &v1alpha1.RolloutDurationStatus{RolloutStartedAt: ptr(d.now)}
		if back := d.rollbackKind(); back != "" {
			st.Duration.CompletionStatus = ptr(back)
		}
		active = true
	}
	if !active {
		return
	}
	d.trackManualPause()
	switch {
	case st.Abort:
		d.finishRelease(v1alpha1.CompletionStatusAborted)
	case d.released():
		how := st.Duration.GetCompletionStatus()
		if how == "" {
			how = d.promotedAs()
		}
		d.finishRelease(how)
	}
}

// startsRelease reports whether a release begins in this decision when none
// is under way: the first decision about a Rollout deploys its first
// version, and a desired version other than the stable one is an update
// (after an abort, once a client retries it).
func (d *decider) startsRelease() bool {
	st := d.st
	if st.Abort {
		return false
	}
	return d.ro.Status.CurrentPodHash == "" || st.StableRS != st.CurrentPodHash
}

// released reports whether the desired version is stable and fully
// available: the release reached what it was started for.
func (d *decider) released() bool {
	st := d.st
	return st.StableRS == st.CurrentPodHash && !d.newRSPlanned && available(d.newRS) >= d.replicas
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

// closeManualPause adds the wait under way to the total, which exists from
// the first wait on so a release that never waited shows none.
func (d *decider) closeManualPause() {
	dur := d.st.Duration
	if dur.ManualPauseStartedAt == nil {
		return
	}
	total := deref(dur.TotalManualPauseDuration, 0)
	if waited := d.now.Sub(dur.ManualPauseStartedAt.Time); waited > 0 {
		total += int64(waited / time.Second)
	}
	dur.TotalManualPauseDuration = ptr(total)
	dur.ManualPauseStartedAt = nil
}

// finishRelease ends the release under way and reports it to the plan.
func (d *decider) finishRelease(how v1alpha1.CompletionStatus) {
	d.closeManualPause()
	dur := d.st.Duration
	dur.FinishedAt = ptr(d.now)
	dur.CompletionStatus = ptr(how)
	d.plan.Releases = append(d.plan.Releases, ReleaseTiming{
		CompletionStatus: how,
		Duration:         max(dur.FinishedAt.Sub(dur.RolloutStartedAt.Time), 0),
		ManualPause:      time.Duration(deref(dur.TotalManualPauseDuration, 0)) * time.Second,
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

// promotedAs classifies a release that reached its version without going
// back: one a client fully promoted is a fast promotion.
func (d *decider) promotedAs() v1alpha1.CompletionStatus {
	if d.ro.Status.PromoteFull {
		return v1alpha1.CompletionStatusFastPromoted
	}
	return v1alpha1.CompletionStatusPromoted
}

// rollbackKind classifies a desired version against the stable one this
// decision started from: the stable template itself comes back at once
// (fast), an older one within spec.rollbackWindow skips its steps (fast),
// any other older one is rolled back through its steps; "" when the
// desired version is not older.
func (d *decider) rollbackKind() v1alpha1.CompletionStatus {
	stableHash := d.ro.Status.StableRS
	switch {
	case stableHash == "":
		return ""
	case d.newHash == stableHash:
		return v1alpha1.CompletionStatusFastRollbacked
	}
	stable := d.rsByHash[stableHash]
	if stable == nil || !d.olderThan(stable) {
		return ""
	}
	if d.withinRollbackWindow(stable) {
		return v1alpha1.CompletionStatusFastRollbacked
	}
	return v1alpha1.CompletionStatusRollbacked
}

// olderThan reports whether newRS existed before stable: the desired
// template is a previous version. A ReplicaSet this decision creates has
// no creation time yet and is the newest of all.
func (d *decider) olderThan(stable *appsv1.ReplicaSet) bool {
	created := d.newRS.CreationTimestamp
	return stable != nil && stable != d.newRS && !d.newRSPlanned && !created.IsZero() &&
		created.Before(&stable.CreationTimestamp)
}

// isRollbackWithinWindow reports whether newRS is a previous version of
// stable within spec.rollbackWindow, which returns without steps, pauses
// or analysis.
func (d *decider) isRollbackWithinWindow(stable *appsv1.ReplicaSet) bool {
	return d.olderThan(stable) && d.withinRollbackWindow(stable)
}

// withinRollbackWindow reports whether newRS, older than stable, is among
// the spec.rollbackWindow.revisions versions before it: fewer ReplicaSets
// than that were created between the two.
func (d *decider) withinRollbackWindow(stable *appsv1.ReplicaSet) bool {
	w := d.ro.Spec.RollbackWindow
	if w == nil || w.Revisions <= 0 {
		return false
	}
	var between int32
	for _, rs := range d.rsByHash {
		if createdBetween(rs, d.newRS.CreationTimestamp, stable.CreationTimestamp) {
			between++
		}
	}
	return between < w.Revisions
}

func createdBetween(rs *appsv1.ReplicaSet, after, before metav1.Time) bool {
	return after.Before(&rs.CreationTimestamp) && rs.CreationTimestamp.Before(&before)
}
