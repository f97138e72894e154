package decide

import (
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/replicas"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// canary decides a canary Rollout without a traffic router: weights are
// reached by Pod counts.
func (d *decider) canary() {
	c := d.ro.Spec.Strategy.Canary
	st := d.st
	steps := c.Steps
	stepHash := podhash.Steps(steps)

	switch {
	case st.CurrentPodHash != d.newHash:
		// A new template (or a rollback to an older one): everything about
		// the previous update is over and the steps start again.
		if st.CurrentPodHash != "" {
			d.event(corev1.EventTypeNormal, "RolloutUpdated", fmt.Sprintf("Rollout updated to revision %d", d.currentRevision()))
		}
		st.CurrentPodHash = d.newHash
		st.CurrentStepHash = stepHash
		d.resetUpdate(steps)
		d.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, ReasonRSUpdated,
			fmt.Sprintf("Rollout is progressing to revision %d", d.currentRevision()))
	case st.CurrentStepHash != stepHash:
		st.CurrentStepHash = stepHash
		d.resetUpdate(steps)
		d.event(corev1.EventTypeNormal, "StepsChanged", "the canary steps changed; starting them again")
	}

	stable := d.rsByHash[st.StableRS]
	if st.StableRS == "" || stable == nil {
		stable = d.pickStable()
		st.StableRS = hashOf(stable)
	}
	d.stableRS = stable
	if stable == d.newRS {
		d.canaryAtStable()
		return
	}
	d.rollbackInWindow = d.isRollbackWithinWindow(stable)
	if d.rollbackInWindow && d.ro.Status.CurrentPodHash != d.newHash && specReplicas(d.newRS) > 0 {
		d.event(corev1.EventTypeNormal, "SkipSteps", "Rollback to active ReplicaSets within RollbackWindow")
	}
	d.canaryUpdate(stable)
}

// resetUpdate forgets the progress of a previous update.
func (d *decider) resetUpdate(steps []v1alpha1.CanaryStep) {
	st := d.st
	st.Abort, st.AbortedAt, st.PromoteFull = false, nil, false
	st.PauseConditions, st.ControllerPause = nil, false
	st.CurrentStepIndex = nil
	if len(steps) > 0 {
		st.CurrentStepIndex = ptr(int32(0))
	}
	d.clearRuns()
}

// pickStable chooses the stable ReplicaSet when the status names none that
// exists: the newest other ReplicaSet that still has available Pods, so a
// running version is never treated as gone; with none, the current template
// is the first version and becomes stable at once.
func (d *decider) pickStable() *appsv1.ReplicaSet {
	var best *appsv1.ReplicaSet
	for _, rs := range d.rsByHash {
		if rs == d.newRS || available(rs) == 0 {
			continue
		}
		if best == nil || revision(rs) > revision(best) {
			best = rs
		}
	}
	if best == nil {
		return d.newRS
	}
	return best
}

func hashOf(rs *appsv1.ReplicaSet) string {
	return rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
}

// StrictSurgeAnnotation, set to "true" on a Rollout, makes a canary without
// a traffic router count the Pods that still terminate against maxSurge. By
// default Kanaria bounds the ReplicaSets' desired replicas, as the
// Deployment controller and Argo Rollouts do, so a removed Pod's room is
// reused at once; a team whose nodes cannot hold one more Pod than
// replicas + maxSurge opts into the strict count instead.
const StrictSurgeAnnotation = "rollouts.kanaria.dev/strict-surge"

// PausedStepAnnotation records the index of the step whose pause the
// controller set last. A client that removes the pause conditions without
// moving the index (a promote) and one that also moves the index on (Argo
// CD's skip-current-step) leave the same status behind at a following
// pause step, controllerPause included; the index the pause belonged to
// tells them apart, so a skip into a pause stops there instead of reading
// as its promote.
const PausedStepAnnotation = "rollouts.kanaria.dev/paused-step"

// strictSurge reports whether the Rollout opted into the strict Pod count.
func (d *decider) strictSurge() bool {
	return d.ro.Annotations[StrictSurgeAnnotation] == "true"
}

// podsNow is the Pod count the surge room is measured against. By default
// it is 0, so the room follows the ReplicaSets' desired replicas alone
// (Deployment semantics: a terminating Pod does not count). Under the
// strict count it is the Rollout's Pods that exist, terminating ones
// included while they are within their grace period: they still run, so
// maxSurge must leave room for them. A Pod past its grace period is not
// counted, so one stuck terminating (a lost node) cannot stall the rollout.
// While any counted Pod terminates, the decision looks again shortly, since
// Pod deletions themselves trigger no reconcile.
func (d *decider) podsNow() int32 {
	if !d.strictSurge() {
		return 0
	}
	var n int32
	for _, p := range d.s.Pods {
		if p.DeletionTimestamp == nil {
			n++
			continue
		}
		if d.s.Now.Before(p.DeletionTimestamp.Time) {
			n++
			d.requeue(time.Second)
		}
	}
	return n
}

// surgeUnavailable resolves the canary's maxSurge and maxUnavailable.
func (d *decider) surgeUnavailable() (int32, int32) {
	c := d.ro.Spec.Strategy.Canary
	surge, unavailable, err := replicas.ResolveSurgeUnavailable(c.MaxSurge, c.MaxUnavailable, d.replicas)
	if err != nil {
		// Validation rejects unparsable values first; fall back to the defaults.
		surge, unavailable, _ = replicas.ResolveSurgeUnavailable(nil, nil, d.replicas)
	}
	return surge, unavailable
}

func state(rs *appsv1.ReplicaSet) replicas.RSState {
	return replicas.RSState{Replicas: specReplicas(rs), Available: available(rs)}
}

func states(rss []*appsv1.ReplicaSet) []replicas.RSState {
	out := make([]replicas.RSState, len(rss))
	for i, rs := range rss {
		out[i] = state(rs)
	}
	return out
}

// canaryAtStable handles a Rollout whose template is the stable version: the
// first version, a finished update, or a rollback to the stable template,
// which goes straight back without steps or analysis.
func (d *decider) canaryAtStable() {
	if d.routed() {
		d.routedAtStable()
		return
	}
	c := d.ro.Spec.Strategy.Canary
	st := d.st
	others := d.others(d.newRS)
	res := replicas.BasicCanary(replicas.Input{
		Replicas: d.replicas, MaxSurge: c.MaxSurge, MaxUnavailable: c.MaxUnavailable,
		Weight: 100, Canary: state(d.newRS), Others: states(others), Pods: d.podsNow(),
	})
	d.scaleShrinksFirst(append([]*appsv1.ReplicaSet{d.newRS}, others...), append([]int32{res.Canary}, res.Others...))
	if n := len(c.Steps); n > 0 {
		st.CurrentStepIndex = ptr(int32(n))
	}
	st.PauseConditions, st.ControllerPause = nil, false
	st.PromoteFull = false
	d.applyMetadata(d.newRS, c.StableMetadata, c.CanaryMetadata)
	d.createNewRSIfPlanned()
	d.pointService(c.StableService, d.newRS, nil)
	d.pointService(c.CanaryService, d.newRS, nil)
	d.pointPingPongAtStable()
	d.scaleEvents()
}

// canaryUpdate walks the steps of an update from stable to d.newRS.
func (d *decider) canaryUpdate(stable *appsv1.ReplicaSet) {
	c := d.ro.Spec.Strategy.Canary
	st := d.st
	steps := c.Steps
	surge, _ := d.surgeUnavailable()
	others := d.others(stable)
	in := replicas.Input{
		Replicas: d.replicas, MaxSurge: c.MaxSurge, MaxUnavailable: c.MaxUnavailable,
		Canary: state(d.newRS), Stable: ptr(state(stable)), Others: states(others),
		Pods: d.podsNow(),
	}

	if !st.Abort && st.AbortedAt != nil {
		// A client cleared status.abort: retry the update from the first step.
		st.AbortedAt = nil
		d.resetUpdate(steps)
		d.event(corev1.EventTypeNormal, "RolloutRetry", fmt.Sprintf("retrying the update to revision %d from the first step", d.currentRevision()))
	}
	if st.PromoteFull || d.rollbackInWindow {
		// A full promotion, or a return to a version within the rollback
		// window, skips the remaining steps, pauses and analysis.
		st.CurrentStepIndex = ptr(int32(len(steps)))
		st.PauseConditions, st.ControllerPause = nil, false
		d.clearRuns()
	}
	idx := d.stepIndex(steps)
	if bg := c.Analysis; !st.Abort && !st.PromoteFull && !d.rollbackInWindow && bg != nil && len(bg.Templates) > 0 && idx >= int(deref(bg.StartingStep, 0)) {
		switch d.analysisRun(kindBackground, &bg.RolloutAnalysis, 0) {
		case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
			d.analysisFailed(kindBackground)
		case v1alpha1.AnalysisPhaseInconclusive:
			if d.inconclusive(kindBackground) {
				// A person accepted the result: measure afresh from here on.
				st.Canary.CurrentBackgroundAnalysisRunStatus = nil
			}
		}
	}
	if st.Abort {
		if d.routed() {
			d.abortRouted(stable, others, in)
		} else {
			d.abortCanary(stable, others, in)
		}
		return
	}
	if d.ro.Spec.Paused {
		// A person paused the Rollout: hold every count where it is. A new
		// ReplicaSet is still created (at zero) so the status names it.
		d.createNewRSIfPlanned()
		d.pointCanaryServices(stable, false)
		d.releaseEndedExperimentTraffic(stable)
		return
	}

	if findPause(st, v1alpha1.PauseReasonInconclusiveAnalysis) != nil {
		// Hold every count while a person judges an inconclusive analysis.
		d.createNewRSIfPlanned()
		d.pointCanaryServices(stable, false)
		d.releaseEndedExperimentTraffic(stable)
		return
	}
	idx = d.passFinishedPauses(idx)
	d.dropStaleControllerPause(steps, idx)
	if d.routed() {
		d.canaryRoutedUpdate(stable, others, in, idx)
		return
	}
	weight := effectiveWeight(steps, idx)
	in.Weight = weight
	final := idx >= len(steps)
	if final {
		// Past the last step all traffic belongs to the new version: move
		// the stable Service to it before any stable Pod is removed, so it
		// never selects a version that is scaling to zero.
		d.pointCanaryServices(stable, true)
	}
	res := replicas.BasicCanary(in)
	d.scaleShrinksFirst(append([]*appsv1.ReplicaSet{d.newRS, stable}, others...), append([]int32{res.Canary, res.Stable}, res.Others...))
	d.applyMetadata(d.newRS, c.CanaryMetadata, c.StableMetadata)
	d.applyMetadata(stable, c.StableMetadata, c.CanaryMetadata)
	d.injectAntiAffinity(c.AntiAffinity, stable)
	d.createNewRSIfPlanned()
	if !final {
		d.pointCanaryServices(stable, false)
	}
	d.scaleEvents()

	if final {
		// Past the last step: the canary takes every replica, then becomes stable.
		if d.settled(d.newRS) && specReplicas(d.newRS) == d.replicas && available(d.newRS) >= d.replicas {
			d.promote()
		}
		return
	}
	step := steps[idx]
	advance := false
	switch {
	case step.SetWeight != nil:
		canaryT, stableT := replicas.DesiredWeightedCounts(d.replicas, weight, surge)
		advance = d.reached(d.newRS, canaryT) && d.settled(stable) && specReplicas(stable) == stableT && d.othersDown(others)
	case step.SetCanaryScale != nil, step.SetHeaderRoute != nil, step.SetMirrorRoute != nil:
		// Without a traffic router the Pod counts follow the weight alone
		// (as in the reference); validation rejects the route steps there.
		advance = true
	default:
		advance = d.waitStep(idx, step)
	}
	if advance {
		d.advanceStep(idx)
	}
}

// stepIndex returns the step the status names, brought within the steps.
// Anyone who may patch the status can write any number there: an index past
// the last step reads as past the last step, as in the reference; a negative
// one (which makes the reference fail the reconcile for ever) starts the steps
// again from the first, the safe reading, and a Warning Event says so.
func (d *decider) stepIndex(steps []v1alpha1.CanaryStep) int {
	st := d.st
	raw := deref(st.CurrentStepIndex, 0)
	// The reading itself is shared with every reader (the CLI, the
	// dashboard, notifications), so they show the step acted on.
	idx, ok := rolloutview.StepIndex(st.CurrentStepIndex, len(steps))
	switch {
	case ok:
		return idx
	case raw < 0:
		st.PauseConditions, st.ControllerPause = nil, false
		st.Canary.CurrentStepAnalysisRunStatus = nil
		d.event(corev1.EventTypeWarning, "InvalidStepIndex",
			fmt.Sprintf("status.currentStepIndex %d is out of range (0 to %d); the steps start again from the first", raw, len(steps)))
	default:
		d.note("InvalidStepIndex", fmt.Sprintf("status.currentStepIndex %d is past the last step (%d); reading it as %d", raw, len(steps), idx))
	}
	st.CurrentStepIndex = ptr(int32(idx))
	return idx
}

// waitStep runs the steps that wait the same way with or without a traffic
// router (pause, analysis, experiment) and reports whether step idx is over.
func (d *decider) waitStep(idx int, step v1alpha1.CanaryStep) bool {
	switch {
	case step.Pause != nil:
		return d.pauseStep(idx, step.Pause)
	case step.Analysis != nil:
		switch d.analysisRun(kindStep, step.Analysis, idx) {
		case v1alpha1.AnalysisPhaseSuccessful:
			return true
		case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
			d.analysisFailed(kindStep)
			d.requeue(time.Millisecond)
		case v1alpha1.AnalysisPhaseInconclusive:
			return d.inconclusive(kindStep)
		}
		return false
	case step.Experiment != nil:
		return d.experimentStep(idx, step.Experiment)
	}
	return true
}

// advanceStep moves past step idx. Only the index moves in this reconcile;
// the next one acts on the new step. Were the two written together, a crash
// between the scaling and the status write would undo the scaling.
func (d *decider) advanceStep(idx int) {
	d.stepCompleted(idx)
	d.st.CurrentStepIndex = ptr(int32(idx + 1))
	d.st.Canary.CurrentStepAnalysisRunStatus = nil
	d.st.Canary.CurrentExperiment = ""
	d.requeue(time.Millisecond)
	// A pause that follows starts in the same status write: it changes no
	// Pod count, so the two together are as safe as the index alone, and
	// the release costs one write less.
	next := d.passFinishedPauses(idx + 1)
	d.startStepRuns(next)
}

// startStepRuns creates the AnalysisRuns that step idx starts (its own
// analysis, and the background analysis whose startingStep it is) in the
// reconcile that moves the index onto it, so a run measures from that
// status write on instead of one watch round trip later. A run changes no
// Pod count: were the status write lost, the next reconcile would move the
// index again and take the run over, and a run of a step the Rollout never
// reaches is terminated as stray.
func (d *decider) startStepRuns(idx int) {
	c := d.ro.Spec.Strategy.Canary
	if d.st.Abort || d.st.PromoteFull || d.rollbackInWindow || d.ro.Spec.Paused || idx >= len(c.Steps) {
		return
	}
	if bg := c.Analysis; bg != nil && len(bg.Templates) > 0 && idx == int(deref(bg.StartingStep, 0)) && d.st.Canary.CurrentBackgroundAnalysisRunStatus == nil {
		d.analysisRun(kindBackground, &bg.RolloutAnalysis, 0)
	}
	if a := c.Steps[idx].Analysis; a != nil {
		d.analysisRun(kindStep, a, idx)
	}
}

// stepCompleted notes that step idx is over. It is routine (no Kubernetes
// Event, as each step would cost one) but it is what the
// on-rollout-step-completed notification announces.
func (d *decider) stepCompleted(idx int) {
	d.note(ReasonStepCompleted, fmt.Sprintf("Rollout step %d/%d completed", idx+1, len(d.ro.Spec.Strategy.Canary.Steps)))
}

// passFinishedPauses starts the pause step at idx, or moves past it and any
// following pause that is already over: a timed pause whose time has
// passed, or one a client promoted past. Whether a pause is over depends
// only on the status and the clock, never on the cluster, so the step after
// it may be acted on in the same reconcile: were the status write lost, the
// next reconcile would reach the same step from the old status. It returns
// the step to act on.
func (d *decider) passFinishedPauses(idx int) int {
	steps := d.ro.Spec.Strategy.Canary.Steps
	for idx < len(steps) && steps[idx].Pause != nil && d.pauseStep(idx, steps[idx].Pause) {
		d.stepCompleted(idx)
		idx++
		d.st.CurrentStepIndex = ptr(int32(idx))
		d.requeue(time.Millisecond)
	}
	return idx
}

// dropStaleControllerPause forgets a controller pause whose condition a
// client removed while moving the step index itself, as Argo CD's
// skip-current-step action does (currentStepIndex+1 and no pauseConditions).
// Left set, it would read as a promote at the next pause step and skip that
// one too. It is kept while the current step is one that reads it (a pause,
// or an analysis or experiment step, which pause for a person): there it is
// the promote itself.
func (d *decider) dropStaleControllerPause(steps []v1alpha1.CanaryStep, idx int) {
	st := d.st
	if !st.ControllerPause || len(st.PauseConditions) > 0 {
		return
	}
	if idx < len(steps) {
		if s := steps[idx]; s.Pause != nil || s.Analysis != nil || s.Experiment != nil {
			return
		}
	}
	st.ControllerPause = false
}

// effectiveWeight is the weight of the last setWeight at or before step idx,
// or 100 past the last step.
func effectiveWeight(steps []v1alpha1.CanaryStep, idx int) int32 {
	if idx >= len(steps) {
		return 100
	}
	var w int32
	for i := 0; i <= idx; i++ {
		if steps[i].SetWeight != nil {
			w = *steps[i].SetWeight
		}
	}
	return w
}

// settled reports whether rs's status describes its current spec and no
// write of this plan changes it.
func (d *decider) settled(rs *appsv1.ReplicaSet) bool {
	if rs == d.newRS && d.newRSPlanned {
		return false
	}
	for _, a := range d.plan.Actions {
		switch a := a.(type) {
		case ScaleReplicaSet:
			if a.Name == rs.Name {
				return false
			}
		case CreateReplicaSet:
			if a.ReplicaSet.Name == rs.Name {
				return false
			}
		}
	}
	return rs.Status.ObservedGeneration >= rs.Generation
}

// reached reports whether rs runs target Pods, all available.
func (d *decider) reached(rs *appsv1.ReplicaSet, target int32) bool {
	return d.settled(rs) && specReplicas(rs) == target && available(rs) >= target
}

func (d *decider) othersDown(others []*appsv1.ReplicaSet) bool {
	for _, rs := range others {
		if specReplicas(rs) != 0 {
			return false
		}
	}
	return true
}

// pauseStep handles a pause step and reports whether it is over.
func (d *decider) pauseStep(idx int, p *v1alpha1.RolloutPause) bool {
	st := d.st
	cond := findPause(st, v1alpha1.PauseReasonCanaryPauseStep)
	var dur time.Duration
	if p.Duration != nil {
		dur, _ = pauseDuration(p.Duration)
	}
	if cond == nil {
		if st.ControllerPause && !d.skippedInto(idx) {
			// The controller paused and a client cleared the condition: that
			// is how the kubectl plugin and Argo CD promote.
			st.ControllerPause = false
			d.event(corev1.EventTypeNormal, ReasonResumed, fmt.Sprintf("promoted past the pause at step %d", idx+1))
			return true
		}
		if p.Duration != nil && dur <= 0 {
			return true
		}
		st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: d.now})
		st.ControllerPause = true
		d.recordPausedStep(idx)
		if p.Duration != nil {
			d.requeue(dur)
			d.note(ReasonPaused, fmt.Sprintf("paused at step %d for %s", idx+1, dur))
		} else {
			d.event(corev1.EventTypeNormal, ReasonPaused, fmt.Sprintf("paused at step %d until promoted", idx+1))
		}
		return false
	}
	if st.ControllerPause {
		d.recordPausedStep(idx)
	}
	if p.Duration == nil {
		return false
	}
	end := cond.StartTime.Add(dur)
	if d.s.Now.Before(end) {
		d.requeue(end.Sub(d.s.Now))
		return false
	}
	removePause(st, v1alpha1.PauseReasonCanaryPauseStep)
	st.ControllerPause = false
	d.note(ReasonResumed, fmt.Sprintf("the %s pause at step %d ended", dur, idx+1))
	return true
}

// promote makes the canary the stable version. The next reconcile points the
// Services at it and scales the previous stable down, in that order.
func (d *decider) promote() {
	st := d.st
	st.StableRS = d.newHash
	st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
	d.clearRuns()
	d.event(corev1.EventTypeNormal, ReasonCompleted, fmt.Sprintf("Rollout completed update to revision %d (%s)", d.currentRevision(), d.newHash))
	d.requeue(time.Millisecond)
}

// abortCanary sends everything back to the stable version: the stable is
// scaled up first and the canary scaled down only as far as availability
// allows; a canary that never became available goes to zero at once.
func (d *decider) abortCanary(stable *appsv1.ReplicaSet, others []*appsv1.ReplicaSet, in replicas.Input) {
	c := d.ro.Spec.Strategy.Canary
	st := d.st
	if st.AbortedAt == nil {
		st.AbortedAt = &metav1.Time{Time: d.s.Now}
		d.event(corev1.EventTypeWarning, ReasonAborted, fmt.Sprintf("Rollout aborted update to revision %d%s", d.currentRevision(), d.abortCause()))
	}
	if len(c.Steps) > 0 {
		st.CurrentStepIndex = ptr(int32(0))
	}
	st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
	// Traffic first: both Services go back to the stable version before
	// any canary Pod is removed.
	d.pointService(c.StableService, stable, nil)
	d.pointService(c.CanaryService, stable, nil)
	d.pointPingPong(stable)
	in.Aborted = true
	res := replicas.BasicCanary(in)
	d.scaleShrinksFirst(append([]*appsv1.ReplicaSet{d.newRS, stable}, others...), append([]int32{res.Canary, res.Stable}, res.Others...))
	d.applyMetadata(stable, c.StableMetadata, c.CanaryMetadata)
	d.createNewRSIfPlanned()
	d.scaleEvents()
}

// abortCause names why the rollout aborted when the controller did it.
func (d *decider) abortCause() string {
	if msg := d.analysisAbortMessage(); msg != "" {
		return ": " + msg
	}
	if msg := d.experimentAbortMessage(); msg != "" {
		return ": " + msg
	}
	if c := FindCondition(d.st, v1alpha1.RolloutProgressing); c != nil && c.Reason == ReasonProgressDeadline {
		return ": " + c.Message
	}
	return ""
}

// pointCanaryServices points the stable Service at the stable version and the
// canary Service at the canary, each falling back to the other version while
// its own has no available Pods. Past the last step (final) both prefer the
// new version.
func (d *decider) pointCanaryServices(stable *appsv1.ReplicaSet, final bool) {
	c := d.ro.Spec.Strategy.Canary
	if final {
		d.pointService(c.StableService, d.newRS, stable)
	} else {
		d.pointService(c.StableService, stable, d.newRS)
	}
	d.pointService(c.CanaryService, d.newRS, stable)
	d.pointPingPong(stable)
}

func findPause(st *v1alpha1.RolloutStatus, r v1alpha1.PauseReason) *v1alpha1.PauseCondition {
	for i := range st.PauseConditions {
		if st.PauseConditions[i].Reason == r {
			return &st.PauseConditions[i]
		}
	}
	return nil
}

func removePause(st *v1alpha1.RolloutStatus, r v1alpha1.PauseReason) {
	var out []v1alpha1.PauseCondition
	for _, p := range st.PauseConditions {
		if p.Reason != r {
			out = append(out, p)
		}
	}
	st.PauseConditions = out
}

func ptr[T any](v T) *T { return &v }

// skippedInto reports whether the controller's pause belongs to another
// step than idx: a client moved the index on from that pause, so nobody
// promoted the pause at idx yet. Only a pause right after a step that
// pauses for a person can be skipped into with the controller pause still
// set; elsewhere, and for a Rollout without the record (paused by an older
// controller), a cleared condition reads as a promote, as before.
func (d *decider) skippedInto(idx int) bool {
	if !d.followsPausingStep(idx) {
		return false
	}
	at, ok := d.ro.Annotations[PausedStepAnnotation]
	return ok && at != strconv.Itoa(idx)
}

// recordPausedStep plans the write of PausedStepAnnotation for a
// controller pause at idx where skippedInto may read it: at idx itself, or
// at the pause that follows. Elsewhere the record costs a write for
// nothing. A record lost to a failed write is written again by the next
// decision at the pause.
func (d *decider) recordPausedStep(idx int) {
	steps := d.ro.Spec.Strategy.Canary.Steps
	nextIsPause := idx+1 < len(steps) && steps[idx+1].Pause != nil
	if !nextIsPause && !d.followsPausingStep(idx) {
		return
	}
	if at := strconv.Itoa(idx); d.ro.Annotations[PausedStepAnnotation] != at {
		d.add(AnnotateRollout{Key: PausedStepAnnotation, Value: at})
	}
}

// followsPausingStep reports whether the step before idx is one that sets
// the controller pause: a pause, an analysis or an experiment step.
func (d *decider) followsPausingStep(idx int) bool {
	steps := d.ro.Spec.Strategy.Canary.Steps
	if idx < 1 || idx > len(steps) {
		return false
	}
	s := steps[idx-1]
	return s.Pause != nil || s.Analysis != nil || s.Experiment != nil
}
