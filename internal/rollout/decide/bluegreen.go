package decide

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const (
	defaultScaleDownDelaySeconds      = 30
	defaultAbortScaleDownDelaySeconds = 30
)

// blueGreen decides a blue-green Rollout: the new version comes up beside the
// active one behind the preview Service and takes the active Service in one
// write once it is fully available and promoted; the previous version stays
// up for scaleDownDelaySeconds so a switch back is instant.
func (d *decider) blueGreen() {
	st := d.st
	if st.CurrentPodHash != d.newHash {
		if st.CurrentPodHash != "" {
			d.event(corev1.EventTypeNormal, "RolloutUpdated", fmt.Sprintf("Rollout updated to revision %d", d.currentRevision()))
		}
		st.CurrentPodHash = d.newHash
		d.resetUpdate(nil)
		st.BlueGreen.ScaleUpPreviewCheckPoint = false
		d.setCondition(v1alpha1.RolloutProgressing, corev1.ConditionTrue, ReasonRSUpdated,
			fmt.Sprintf("Rollout is progressing to revision %d", d.currentRevision()))
	}
	stable := d.rsByHash[st.StableRS]
	if st.StableRS == "" || stable == nil {
		stable = d.pickStable()
		st.StableRS = hashOf(stable)
	}
	if stable == d.newRS {
		d.blueGreenAtStable()
	} else {
		d.rollbackInWindow = d.isRollbackWithinWindow(stable)
		d.blueGreenUpdate(stable)
	}
	d.blueGreenStatus()
}

// blueGreenAtStable runs the active version at full size and scales previous
// versions down once their delay has passed.
func (d *decider) blueGreenAtStable() {
	b := d.ro.Spec.Strategy.BlueGreen
	st := d.st
	d.scale(d.newRS, d.replicas)
	st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
	d.applyMetadata(d.newRS, b.ActiveMetadata, b.PreviewMetadata)
	d.createNewRSIfPlanned()
	d.pointService(b.ActiveService, d.newRS, nil)
	d.pointService(b.PreviewService, d.newRS, nil)
	d.scaleDownOld(d.others(d.newRS), d.ro.Spec.Strategy.BlueGreen.ScaleDownDelayRevisionLimit)
	d.scaleEvents()
}

// scaleDownOld scales previous versions to zero: at once when they carry no
// scale-down deadline (they never served production since), else when the
// deadline passes, and at once beyond scaleDownDelayRevisionLimit, oldest
// first. Nothing is scaled down while the active version is short of
// available Pods, so a rollback target stays up while it may be needed.
// Blue-green and routed canaries share it.
func (d *decider) scaleDownOld(others []*appsv1.ReplicaSet, limit *int32) {
	if available(d.newRS) < d.replicas {
		return
	}
	d.scaleDownExpired(others, limit)
}

// scaleDownExpired scales others to zero whose scale-down deadline passed
// or who never had one, keeping at most limit of the waiting ones.
func (d *decider) scaleDownExpired(others []*appsv1.ReplicaSet, limit *int32) {
	var waiting []*appsv1.ReplicaSet
	for _, rs := range others {
		if specReplicas(rs) == 0 {
			continue
		}
		deadline, ok := scaleDownDeadline(rs)
		if !ok || !d.s.Now.Before(deadline) {
			d.scale(rs, 0)
			continue
		}
		waiting = append(waiting, rs)
		d.requeue(deadline.Sub(d.s.Now))
	}
	if limit != nil {
		for i := 0; i < len(waiting)-int(*limit); i++ {
			d.scale(waiting[i], 0)
		}
	}
}

func scaleDownDeadline(rs *appsv1.ReplicaSet) (time.Time, bool) {
	v, ok := rs.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// blueGreenUpdate brings the new version up behind the preview Service and
// promotes it when it is fully available and allowed to.
func (d *decider) blueGreenUpdate(stable *appsv1.ReplicaSet) {
	b := d.ro.Spec.Strategy.BlueGreen
	st := d.st
	if st.Abort {
		d.abortBlueGreen(stable)
		return
	}
	if st.AbortedAt != nil {
		st.AbortedAt = nil
		d.resetUpdate(nil)
		st.BlueGreen.ScaleUpPreviewCheckPoint = false
		d.event(corev1.EventTypeNormal, "RolloutRetry", fmt.Sprintf("retrying the update to revision %d", d.currentRevision()))
	}
	if d.switched() {
		d.postPromotion(stable)
		return
	}
	// Production keeps its full size for the whole update.
	if specReplicas(stable) < d.replicas {
		d.scale(stable, d.replicas)
	}
	d.scaleDownOld(d.others(stable), d.ro.Spec.Strategy.BlueGreen.ScaleDownDelayRevisionLimit)
	if d.ro.Spec.Paused {
		d.createNewRSIfPlanned()
		d.pointService(b.ActiveService, stable, nil)
		d.pointService(b.PreviewService, d.newRS, nil)
		return
	}
	previewCount := d.replicas
	if b.PreviewReplicaCount != nil && !st.BlueGreen.ScaleUpPreviewCheckPoint && !d.promotesAtOnce() {
		previewCount = min(*b.PreviewReplicaCount, d.replicas)
	}
	d.scale(d.newRS, previewCount)
	d.applyMetadata(d.newRS, b.PreviewMetadata, b.ActiveMetadata)
	d.applyMetadata(stable, b.ActiveMetadata, b.PreviewMetadata)
	d.injectAntiAffinity(b.AntiAffinity, stable)
	d.createNewRSIfPlanned()
	d.pointService(b.ActiveService, stable, nil)
	d.pointService(b.PreviewService, d.newRS, nil)
	d.scaleEvents()

	if !d.reached(d.newRS, previewCount) {
		return
	}
	if pre := b.PrePromotionAnalysis; pre != nil && len(pre.Templates) > 0 && !d.promotesAtOnce() {
		switch d.analysisRun(kindPre, pre, 0) {
		case v1alpha1.AnalysisPhaseSuccessful:
		case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
			d.analysisFailed(kindPre)
			d.requeue(time.Millisecond)
			return
		case v1alpha1.AnalysisPhaseInconclusive:
			if d.inconclusive(kindPre) {
				// Resuming past an inconclusive verdict is a promotion.
				st.PromoteFull = true
				d.requeue(time.Millisecond)
			}
			return
		default:
			return
		}
	}
	// The checkpoint records an approval already given for a reduced preview
	// that is now being scaled to full size.
	if !d.promotesAtOnce() && !st.BlueGreen.ScaleUpPreviewCheckPoint && !d.mayPromote() {
		return
	}
	if specReplicas(d.newRS) < d.replicas {
		// A reduced preview is scaled to full size before it takes traffic.
		st.BlueGreen.ScaleUpPreviewCheckPoint = true
		d.scale(d.newRS, d.replicas)
		d.scaleEvents()
		return
	}
	if !d.reached(d.newRS, d.replicas) {
		return
	}
	d.promoteBlueGreen(stable)
}

// promotesAtOnce reports whether the new version goes active without a
// reduced preview, pauses or analysis: a client asked for a full promotion,
// or it is a previous version within spec.rollbackWindow.
func (d *decider) promotesAtOnce() bool {
	return d.st.PromoteFull || d.rollbackInWindow
}

// mayPromote applies the promotion gates: a pause for a person when
// autoPromotionEnabled is false (or a pre-promotion analysis asks for a
// verdict this version cannot give), and the autoPromotionSeconds delay.
func (d *decider) mayPromote() bool {
	b := d.ro.Spec.Strategy.BlueGreen
	st := d.st
	cond := findPause(st, v1alpha1.PauseReasonBlueGreenPause)
	if cond == nil && st.ControllerPause {
		// A client cleared the pause condition: promoted by a person.
		st.ControllerPause = false
		d.event(corev1.EventTypeNormal, ReasonResumed, "promoted by a client")
		return true
	}
	manual := !deref(b.AutoPromotionEnabled, true)
	var wait time.Duration
	if !manual {
		wait = time.Duration(b.AutoPromotionSeconds) * time.Second
		if wait <= 0 {
			return true
		}
	}
	if cond == nil {
		st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: v1alpha1.PauseReasonBlueGreenPause, StartTime: d.now})
		st.ControllerPause = true
		what := "until promoted"
		if !manual {
			what = "for " + wait.String() + " before promotion"
			d.requeue(wait)
		}
		d.event(corev1.EventTypeNormal, ReasonPaused, "the preview is ready; paused "+what)
		return false
	}
	if manual {
		return false
	}
	end := cond.StartTime.Add(wait)
	if d.s.Now.Before(end) {
		d.requeue(end.Sub(d.s.Now))
		return false
	}
	removePause(st, v1alpha1.PauseReasonBlueGreenPause)
	st.ControllerPause = false
	return true
}

// promoteBlueGreen switches the active Service to the new version in one
// write. Without post-promotion analysis the update is complete at once;
// with it, the previous version stays stable (and fully up) until the
// analysis succeeds.
func (d *decider) promoteBlueGreen(stable *appsv1.ReplicaSet) {
	b := d.ro.Spec.Strategy.BlueGreen
	st := d.st
	d.setSelector(b.ActiveService, d.newHash)
	d.applyMetadata(d.newRS, b.ActiveMetadata, b.PreviewMetadata)
	st.PauseConditions, st.ControllerPause = nil, false
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
	if post := b.PostPromotionAnalysis; post != nil && len(post.Templates) > 0 && !d.promotesAtOnce() {
		d.event(corev1.EventTypeNormal, "SwitchedActive", fmt.Sprintf("Service %s now selects revision %d (%s); post-promotion analysis decides whether it stays", b.ActiveService, d.currentRevision(), d.newHash))
		d.requeue(time.Millisecond)
		return
	}
	d.completeBlueGreen(stable)
}

// switched reports whether the active Service already selects the new
// version while the previous one is still stable: post-promotion analysis
// is under way.
func (d *decider) switched() bool {
	b := d.ro.Spec.Strategy.BlueGreen
	svc := d.s.Services[b.ActiveService]
	return svc != nil && svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey] == d.newHash && !d.newRSPlanned
}

// postPromotion runs the post-promotion analysis while both versions are up:
// success completes the update, failure aborts it and the active Service
// goes straight back to the previous version, which never went away.
func (d *decider) postPromotion(stable *appsv1.ReplicaSet) {
	b := d.ro.Spec.Strategy.BlueGreen
	d.scale(d.newRS, d.replicas)
	d.pointService(b.PreviewService, d.newRS, nil)
	post := b.PostPromotionAnalysis
	if post == nil || len(post.Templates) == 0 || d.promotesAtOnce() {
		d.completeBlueGreen(stable)
		return
	}
	switch d.analysisRun(kindPost, post, 0) {
	case v1alpha1.AnalysisPhaseSuccessful:
		d.completeBlueGreen(stable)
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		d.analysisFailed(kindPost)
		d.abortBlueGreen(stable)
	case v1alpha1.AnalysisPhaseInconclusive:
		if d.inconclusive(kindPost) {
			d.completeBlueGreen(stable)
		}
	}
	d.scaleEvents()
}

// completeBlueGreen makes the new version stable and gives the previous one
// its scale-down deadline. The status names the new stable only after the
// deadline is written, so a crash in between repeats this step instead of
// losing the deadline.
func (d *decider) completeBlueGreen(stable *appsv1.ReplicaSet) {
	b := d.ro.Spec.Strategy.BlueGreen
	st := d.st
	delay := time.Duration(deref(b.ScaleDownDelaySeconds, defaultScaleDownDelaySeconds)) * time.Second
	if delay > 0 {
		deadline := d.s.Now.Add(delay).UTC().Format(time.RFC3339)
		d.add(PatchReplicaSet{Name: stable.Name, Annotations: map[string]*string{v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey: &deadline}})
	}
	st.StableRS = d.newHash
	st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
	d.clearRuns()
	d.event(corev1.EventTypeNormal, ReasonCompleted, fmt.Sprintf("promoted revision %d: Service %s selects %s; the previous version scales down in %s", d.currentRevision(), b.ActiveService, d.newHash, delay))
	d.requeue(time.Millisecond)
}

// setSelector points a Service at hash unconditionally; callers have checked
// that the version is available.
func (d *decider) setSelector(name, hash string) {
	svc := d.s.Services[name]
	if svc == nil || svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey] == hash {
		return
	}
	d.add(SetServiceSelector{Service: name, Hash: hash})
	d.note("SwitchService", fmt.Sprintf("Service %s now selects %s=%s", name, v1alpha1.DefaultRolloutUniqueLabelKey, hash))
}

// abortBlueGreen puts production back on the stable version: the active
// Service selects it (it never left it before promotion), and the new
// version is scaled to zero abortScaleDownDelaySeconds after the stable is
// fully available again (0 keeps it for inspection).
func (d *decider) abortBlueGreen(stable *appsv1.ReplicaSet) {
	b := d.ro.Spec.Strategy.BlueGreen
	st := d.st
	if st.AbortedAt == nil {
		st.AbortedAt = &metav1.Time{Time: d.s.Now}
		d.event(corev1.EventTypeWarning, ReasonAborted, fmt.Sprintf("Rollout aborted update to revision %d%s", d.currentRevision(), d.abortCause()))
	}
	st.PauseConditions, st.ControllerPause, st.PromoteFull = nil, false, false
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
	if specReplicas(stable) < d.replicas {
		d.scale(stable, d.replicas)
	}
	d.pointService(b.ActiveService, stable, nil)
	scaleDown := false
	if delay := d.abortDelay(); delay > 0 {
		// Not before the stable is fully available and the delay after it
		// has passed.
		if end, ok := d.abortDeadline(stable, delay); ok {
			scaleDown = !d.s.Now.Before(end)
			if !scaleDown {
				d.requeue(end.Sub(d.s.Now))
			}
		}
	}
	if scaleDown {
		// The preview Service leaves the new version before its Pods go,
		// so it never selects Pods that are terminating.
		d.pointService(b.PreviewService, stable, nil)
		d.scale(d.newRS, 0)
	}
	d.createNewRSIfPlanned()
	if !scaleDown {
		d.pointService(b.PreviewService, d.newRS, stable)
	}
	d.scaleDownOld(d.others(stable), d.ro.Spec.Strategy.BlueGreen.ScaleDownDelayRevisionLimit)
	d.scaleEvents()
}

// blueGreenStatus records what the two Services select after this plan.
func (d *decider) blueGreenStatus() {
	b := d.ro.Spec.Strategy.BlueGreen
	d.st.BlueGreen.ActiveSelector = d.plannedSelector(b.ActiveService)
	d.st.BlueGreen.PreviewSelector = d.plannedSelector(b.PreviewService)
}

// plannedSelector is the hash a Service selects once the plan is applied.
func (d *decider) plannedSelector(name string) string {
	if name == "" {
		return ""
	}
	h := ""
	if svc := d.s.Services[name]; svc != nil {
		h = svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
	}
	for _, a := range d.plan.Actions {
		if s, ok := a.(SetServiceSelector); ok && s.Service == name {
			h = s.Hash
		}
	}
	return h
}
