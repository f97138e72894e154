package decide

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// computeCounts fills the replica counts, selector, weights, conditions,
// phase and message from what the cluster shows now.
func (d *decider) computeCounts() {
	st := d.st
	var total, ready, avail int32
	for _, rs := range d.rsByHash {
		total += rs.Status.Replicas
		ready += rs.Status.ReadyReplicas
		avail += rs.Status.AvailableReplicas
	}
	st.Replicas, st.ReadyReplicas, st.AvailableReplicas = total, ready, avail
	st.UpdatedReplicas = 0
	if !d.newRSPlanned {
		st.UpdatedReplicas = d.newRS.Status.Replicas
	}
	st.HPAReplicas = total
	sel := d.sel.DeepCopy()
	if d.ro.Spec.Strategy.BlueGreen != nil {
		// Only the active version counts for an HPA of a blue-green Rollout,
		// and its Pods alone are the ready and available ones the status
		// reports, as the reference does: a preview is not serving.
		if active := d.rsByHash[st.BlueGreen.ActiveSelector]; active != nil && sel != nil {
			st.HPAReplicas = active.Status.Replicas
			st.ReadyReplicas, st.AvailableReplicas = active.Status.ReadyReplicas, active.Status.AvailableReplicas
			if sel.MatchLabels == nil {
				sel.MatchLabels = map[string]string{}
			}
			sel.MatchLabels[v1alpha1.DefaultRolloutUniqueLabelKey] = st.BlueGreen.ActiveSelector
		}
	}
	if sel != nil {
		if s, err := metav1.LabelSelectorAsSelector(sel); err == nil {
			st.Selector = s.String()
		}
	}
	if d.ro.Spec.Strategy.Canary != nil && !d.routed() {
		// As in the reference, status.canary.weights describe what a traffic
		// router was told (syncTraffic); a canary without one splits by Pod
		// counts, which the replica counts already show.
		d.st.Canary.Weights = nil
	}
	d.replicaFailure()
	d.progress()
	d.phase()
}

// changesCluster reports whether the plan changes anything. Re-syncing the
// routers to the split they already show is not a change: it happens on
// every reconcile of a routed Rollout and must not look like progress.
func (d *decider) changesCluster() bool {
	for _, a := range d.plan.Actions {
		if _, ok := a.(SyncTraffic); !ok {
			return true
		}
	}
	old, now := d.ro.Status.Canary.Weights, d.st.Canary.Weights
	return old != nil && now != nil && old.Canary.Weight != now.Canary.Weight
}

// replicaFailure surfaces a ReplicaSet that cannot create its Pods.
func (d *decider) replicaFailure() {
	for _, rs := range d.rsByHash {
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
				d.setCondition(v1alpha1.RolloutReplicaFailure, corev1.ConditionTrue, c.Reason, fmt.Sprintf("ReplicaSet %s: %s", rs.Name, c.Message))
				return
			}
		}
	}
	removeCondition(d.st, v1alpha1.RolloutReplicaFailure)
}

// complete reports whether the desired version is the stable one and runs
// every replica, all available. Old Pods still waiting for their scale-down
// delay do not count against it: waiting for a delay is not a lack of
// progress.
func (d *decider) complete() bool {
	st := d.st
	return st.StableRS == d.newHash && !d.newRSPlanned &&
		specReplicas(d.newRS) == d.replicas && available(d.newRS) >= d.replicas
}

func (d *decider) paused() bool {
	return d.ro.Spec.Paused || len(d.st.PauseConditions) > 0
}

// progress maintains the Progressing condition and enforces
// progressDeadlineSeconds. Progress is any change of the counts, the step,
// or a planned write; its time is the condition's lastUpdateTime.
func (d *decider) progress() {
	st, old := d.st, &d.ro.Status
	switch {
	case st.Abort:
		d.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionFalse, ReasonAborted, fmt.Sprintf("Rollout aborted update to revision %d", d.currentRevision()))
		return
	case d.complete():
		d.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, ReasonNewRSAvailable, fmt.Sprintf("ReplicaSet %q has successfully progressed.", d.newRS.Name))
		return
	case d.paused():
		d.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionUnknown, ReasonPaused, "Rollout is paused")
		return
	}
	cond := FindCondition(st, v1alpha1.RolloutProgressing)
	moved := d.changesCluster() || st.UpdatedReplicas != old.UpdatedReplicas ||
		st.AvailableReplicas != old.AvailableReplicas || st.Replicas != old.Replicas ||
		deref(st.CurrentStepIndex, -1) != deref(old.CurrentStepIndex, -1)
	msg := fmt.Sprintf("ReplicaSet %q is progressing.", d.newRS.Name)
	if cond == nil || moved || cond.Reason == ReasonPaused || cond.Reason == ReasonNewRSAvailable || cond.Reason == ReasonAborted {
		if cond != nil && cond.Reason == ReasonProgressDeadline && !moved {
			// Stays timed out until something moves.
			return
		}
		reason := ReasonRSUpdated
		if cond != nil && (cond.Reason == ReasonPaused || cond.Reason == ReasonResumed) {
			// Resumed stays the reason until the next pause or the end:
			// flipping it to ReplicaSetUpdated on the next Pod count would
			// cost a status write after every pause and tell no one
			// anything.
			reason = ReasonResumed
		}
		d.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, reason, msg)
		FindCondition(st, v1alpha1.RolloutProgressing).LastUpdateTime = d.now
		cond = FindCondition(st, v1alpha1.RolloutProgressing)
	}
	if cond.Reason == ReasonProgressDeadline || d.indefiniteStep() {
		return
	}
	deadline := time.Duration(deref(d.ro.Spec.ProgressDeadlineSeconds, defaultProgressDeadlineSeconds)) * time.Second
	expires := cond.LastUpdateTime.Add(deadline)
	if d.s.Now.Before(expires) {
		d.requeue(expires.Sub(d.s.Now))
		return
	}
	timedOut := fmt.Sprintf("ReplicaSet %q has timed out progressing.", d.newRS.Name)
	d.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionFalse, ReasonProgressDeadline, timedOut)
	d.event(corev1.EventTypeWarning, ReasonProgressDeadline, timedOut)
	if d.ro.Spec.ProgressDeadlineAbort && st.StableRS != d.newHash {
		st.Abort = true
		d.requeue(time.Millisecond)
	}
}

// phase sets status.phase and status.message, and the Available, Healthy,
// Completed and Paused conditions.
func (d *decider) phase() {
	st := d.st
	minAvail := d.replicas
	if d.ro.Spec.Strategy.Canary != nil {
		_, unavailable := d.surgeUnavailable()
		minAvail = max(d.replicas-unavailable, 0)
	}
	if st.AvailableReplicas >= minAvail && st.AvailableReplicas > 0 || d.replicas == 0 {
		d.setCondition(v1alpha1.RolloutAvailable, corev1.ConditionTrue, ReasonAvailable, "Rollout has minimum availability")
	} else {
		d.setCondition(v1alpha1.RolloutAvailable, corev1.ConditionFalse, ReasonNotAvailable, "Rollout does not have minimum availability")
	}
	if st.StableRS == d.newHash && !d.newRSPlanned {
		d.setCondition(v1alpha1.RolloutCompleted, corev1.ConditionTrue, ReasonCompleted, "Rollout completed update to revision "+fmt.Sprint(d.currentRevision()))
	} else {
		d.setCondition(v1alpha1.RolloutCompleted, corev1.ConditionFalse, ReasonNotCompleted, "Rollout not completed, started update to revision "+fmt.Sprint(d.currentRevision()))
	}
	if d.paused() {
		d.setCondition(v1alpha1.RolloutPaused, corev1.ConditionTrue, ReasonPaused, "Rollout is paused")
	} else if FindCondition(st, v1alpha1.RolloutPaused) != nil {
		d.setCondition(v1alpha1.RolloutPaused, corev1.ConditionFalse, ReasonResumed, "Rollout is resumed")
	}

	phase, msg := v1alpha1.RolloutPhaseHealthy, ""
	progressing := FindCondition(st, v1alpha1.RolloutProgressing)
	switch {
	case st.Abort:
		phase, msg = v1alpha1.RolloutPhaseDegraded, fmt.Sprintf("%s: Rollout aborted update to revision %d%s", ReasonAborted, d.currentRevision(), d.abortCause())
	case progressing != nil && progressing.Reason == ReasonProgressDeadline:
		phase, msg = v1alpha1.RolloutPhaseDegraded, ReasonProgressDeadline+": "+progressing.Message
	case d.ro.Spec.Paused:
		phase, msg = v1alpha1.RolloutPhasePaused, "manually paused"
	case len(st.PauseConditions) > 0:
		phase, msg = v1alpha1.RolloutPhasePaused, string(st.PauseConditions[0].Reason)
	case st.UpdatedReplicas < d.replicas:
		phase, msg = v1alpha1.RolloutPhaseProgressing, "more replicas need to be updated"
	case st.AvailableReplicas < st.UpdatedReplicas || available(d.newRS) < d.replicas:
		phase, msg = v1alpha1.RolloutPhaseProgressing, "updated replicas are still becoming available"
	case st.StableRS != d.newHash && d.ro.Spec.Strategy.BlueGreen != nil:
		phase, msg = v1alpha1.RolloutPhaseProgressing, "waiting for the new version to be promoted"
	case st.StableRS != d.newHash:
		phase, msg = v1alpha1.RolloutPhaseProgressing, "waiting for all steps to complete"
	case st.Replicas > st.UpdatedReplicas && d.ro.Spec.Strategy.Canary != nil && !d.routed():
		// A blue-green or a routed canary keeps the previous version up for
		// its scale-down delay on purpose; that wait does not make the
		// release unhealthy.
		phase, msg = v1alpha1.RolloutPhaseProgressing, "old replicas are pending termination"
	}
	if d.stepNote != "" && (phase == v1alpha1.RolloutPhasePaused || phase == v1alpha1.RolloutPhaseProgressing) {
		msg += ": " + d.stepNote
	}
	st.Phase, st.Message = phase, msg
	if phase == v1alpha1.RolloutPhaseHealthy {
		d.setCondition(v1alpha1.RolloutHealthy, corev1.ConditionTrue, ReasonHealthy, "Rollout is healthy")
	} else {
		d.setCondition(v1alpha1.RolloutHealthy, corev1.ConditionFalse, ReasonNotHealthy, "Rollout is not healthy")
	}
}

// indefiniteStep reports whether a canary waits at a step that takes as
// long as it takes (an experiment or an analysis): as in the reference,
// progressDeadlineSeconds does not run out there, or every Experiment
// longer than the deadline would fail its release.
func (d *decider) indefiniteStep() bool {
	c := d.ro.Spec.Strategy.Canary
	if c == nil || d.st.StableRS == d.newHash {
		return false
	}
	idx := int(deref(d.st.CurrentStepIndex, 0))
	return idx < len(c.Steps) && (c.Steps[idx].Experiment != nil || c.Steps[idx].Analysis != nil)
}
