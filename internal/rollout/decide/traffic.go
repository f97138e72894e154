package decide

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/replicas"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// ReasonTrafficWeightUpdated is the Event reason of a new traffic split.
const ReasonTrafficWeightUpdated = "TrafficWeightUpdated"

// routed reports whether a router, not the Pod ratio, splits the canary's
// traffic.
func (d *decider) routed() bool {
	c := d.ro.Spec.Strategy.Canary
	return c != nil && c.TrafficRouting != nil
}

// maxWeight is the weight that stands for all traffic.
func (d *decider) maxWeight() int32 {
	if w := d.ro.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight; w != nil && *w > 0 {
		return *w
	}
	return trafficrouting.DefaultMaxWeight
}

// appliedWeight is the canary weight the routers show: the one the last
// successful reconcile wrote to them and then to the status. The status is
// written only after every write of a plan succeeded, so it never claims a
// weight the routers do not have.
func (d *decider) appliedWeight() int32 {
	if w := d.ro.Status.Canary.Weights; w != nil {
		return w.Canary.Weight
	}
	return 0
}

// percentOf turns a weight out of maxW into a percentage, rounding up so
// the Pods sized from it are never too few for the traffic.
func percentOf(w, maxW int32) int32 {
	if maxW <= 0 {
		return 0
	}
	return int32((int64(w)*100 + int64(maxW) - 1) / int64(maxW))
}

// syncTraffic asks every router to show weight w for the canary, and
// records the split in the status the plan writes after the sync.
func (d *decider) syncTraffic(w int32, canaryHash, stableHash string, headers []trafficrouting.HeaderRoute, mirrors []trafficrouting.MirrorRoute, additional []trafficrouting.Destination) {
	c := d.ro.Spec.Strategy.Canary
	maxW := d.maxWeight()
	desired := trafficrouting.Desired{
		CanaryWeight: w, MaxWeight: maxW, CanaryHash: canaryHash, StableHash: stableHash,
		HeaderRoutes: headers, MirrorRoutes: mirrors, Additional: additional,
	}
	d.add(SyncTraffic{Desired: desired})
	d.st.Canary.Weights = &v1alpha1.TrafficWeights{
		Canary: v1alpha1.WeightDestination{Weight: w, ServiceName: c.CanaryService, PodTemplateHash: canaryHash},
		Stable: v1alpha1.WeightDestination{Weight: desired.StableWeight(), ServiceName: c.StableService, PodTemplateHash: stableHash},
	}
	for _, a := range additional {
		d.st.Canary.Weights.Additional = append(d.st.Canary.Weights.Additional,
			v1alpha1.WeightDestination{Weight: a.Weight, ServiceName: a.ServiceName, PodTemplateHash: a.PodTemplateHash})
	}
	if applied := d.appliedWeight(); applied != w || d.ro.Status.Canary.Weights == nil {
		d.note(ReasonTrafficWeightUpdated,
			fmt.Sprintf("traffic to the canary (%s) set to %d of %d, was %d", canaryHash, w, maxW, applied))
	}
	if prev := d.ro.Status.Canary.Weights; prev == nil || len(prev.Additional) != len(additional) {
		for _, a := range additional {
			d.note(ReasonTrafficWeightUpdated, fmt.Sprintf("traffic to the experiment Service %s set to %d of %d", a.ServiceName, a.Weight, maxW))
		}
	}
}

// canaryScaleAt is the setCanaryScale override in effect at step idx: the
// last one at or before it, until a matchTrafficWeight step ends it.
func canaryScaleAt(steps []v1alpha1.CanaryStep, idx int) *replicas.Scale {
	var sc *replicas.Scale
	for i := 0; i <= idx && i < len(steps); i++ {
		if s := steps[i].SetCanaryScale; s != nil {
			if s.MatchTrafficWeight {
				sc = nil
			} else {
				sc = &replicas.Scale{Replicas: s.Replicas, Weight: s.Weight}
			}
		}
	}
	return sc
}

// managedRoutesAt lists the header and mirror routes that steps up to and
// including idx leave in place, in the order of managedRoutes. A route step
// with no match removes its route.
func managedRoutesAt(c *v1alpha1.CanaryStrategy, idx int) ([]trafficrouting.HeaderRoute, []trafficrouting.MirrorRoute) {
	headers := map[string]*v1alpha1.SetHeaderRoute{}
	mirrors := map[string]*v1alpha1.SetMirrorRoute{}
	for i := 0; i <= idx && i < len(c.Steps); i++ {
		if h := c.Steps[i].SetHeaderRoute; h != nil {
			if len(h.Match) == 0 {
				delete(headers, h.Name)
			} else {
				headers[h.Name] = h
			}
		}
		if m := c.Steps[i].SetMirrorRoute; m != nil {
			if len(m.Match) == 0 {
				delete(mirrors, m.Name)
			} else {
				mirrors[m.Name] = m
			}
		}
	}
	var hs []trafficrouting.HeaderRoute
	var ms []trafficrouting.MirrorRoute
	for _, r := range c.TrafficRouting.ManagedRoutes {
		if h := headers[r.Name]; h != nil {
			hs = append(hs, trafficrouting.HeaderRoute{Name: h.Name, Match: h.Match})
		}
		if m := mirrors[r.Name]; m != nil {
			ms = append(ms, trafficrouting.MirrorRoute{Name: m.Name, Match: m.Match, Percentage: m.Percentage})
		}
	}
	return hs, ms
}

// canaryRoutedUpdate walks the steps of an update whose traffic a router
// splits. The canary is sized to its weight (or setCanaryScale) while the
// stable stays at full size, and the safety rules are:
//   - the weight is raised only once the canary runs all the Pods sized for
//     it, all available; lowering it never waits;
//   - traffic moves before Pods: the routers are synced before any scaling
//     of the same plan, so a lowered weight is in place before the canary
//     shrinks;
//   - at the end every request goes to the canary, and only then does it
//     become stable; the previous stable keeps running for
//     scaleDownDelaySeconds so proxies still sending to it catch up.
func (d *decider) canaryRoutedUpdate(stable *appsv1.ReplicaSet, others []*appsv1.ReplicaSet, in replicas.Input, idx int) {
	c := d.ro.Spec.Strategy.Canary
	steps := c.Steps
	maxW := d.maxWeight()
	final := idx >= len(steps)
	desired := maxW
	if !final {
		desired = effectiveWeight(steps, idx)
		in.CanaryScale = canaryScaleAt(steps, idx)
	}
	applied := d.appliedWeight()
	in.Weight = percentOf(desired, maxW)
	in.DynamicStableScale = c.DynamicStableScale
	in.MinPodsPerReplicaSet = c.MinPodsPerReplicaSet
	appliedPct := percentOf(applied, maxW)
	in.Traffic = &replicas.Weights{Canary: appliedPct, Stable: 100 - appliedPct}
	res := replicas.TrafficRoutedCanary(in)

	// Judged before this plan scales anything: reached needs a settled set.
	canaryReady := d.reached(d.newRS, res.Canary)
	stableReady := available(stable) >= res.Stable
	weight := desired
	if desired > applied && !canaryReady {
		weight = applied
	}
	var headers []trafficrouting.HeaderRoute
	var mirrors []trafficrouting.MirrorRoute
	if !final {
		headers, mirrors = managedRoutesAt(c, idx)
	}

	d.pointCanaryServices(stable, false)
	d.syncTraffic(weight, d.newHash, hashOf(stable), headers, mirrors, d.experimentDestinations(idx))
	d.scale(d.newRS, res.Canary)
	d.scale(stable, res.Stable)
	// Older versions get no traffic (both Services select the stable or
	// the canary), so they go as soon as any scale-down delay ends.
	d.scaleDownExpired(others, c.ScaleDownDelayRevisionLimit)
	d.applyMetadata(d.newRS, c.CanaryMetadata, c.StableMetadata)
	d.applyMetadata(stable, c.StableMetadata, c.CanaryMetadata)
	d.injectAntiAffinity(c.AntiAffinity, stable)
	d.createNewRSIfPlanned()
	d.scaleEvents()
	if weight < desired {
		d.stepNote = fmt.Sprintf("waiting for %d available canary Pods before routing %d of %d to them", res.Canary, desired, maxW)
	}

	// A weight this plan sets counts as reached: the status that records
	// the next step is written only after the routers took the weight, and
	// if they fail the step runs again. Waiting for the next reconcile to
	// see it in the status would cost a status write and a round trip per
	// step.
	if final {
		if weight == maxW && canaryReady && specReplicas(d.newRS) >= d.replicas {
			d.promoteRouted(stable)
		}
		return
	}
	step := steps[idx]
	advance := false
	switch {
	case step.SetWeight != nil:
		advance = weight == desired && canaryReady && stableReady
	case step.SetCanaryScale != nil:
		advance = canaryReady && stableReady
	case step.SetHeaderRoute != nil, step.SetMirrorRoute != nil:
		// The routes of this step are in the sync above; should it fail,
		// the status with the new index is not written and the step runs
		// again.
		advance = true
	default:
		advance = d.waitStep(idx, step)
	}
	if advance {
		d.advanceStep(idx)
	}
}

// promoteRouted makes the canary, which now takes all the traffic, the
// stable version. The previous stable gets its scale-down deadline in the
// same plan as the status names the new stable, so a crash in between
// repeats the step instead of losing the delay.
func (d *decider) promoteRouted(stable *appsv1.ReplicaSet) {
	c := d.ro.Spec.Strategy.Canary
	if delay := time.Duration(deref(c.ScaleDownDelaySeconds, defaultScaleDownDelaySeconds)) * time.Second; delay > 0 {
		deadline := d.s.Now.Add(delay).UTC().Format(time.RFC3339)
		d.add(PatchReplicaSet{Name: stable.Name, Annotations: map[string]*string{v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey: &deadline}})
	}
	d.promote()
}

// routedAtStable handles a routed Rollout whose template is the stable
// version: both Services select it, the routers send it everything (weight
// 0 for the canary, whose Service now selects the same Pods) and the
// managed routes are gone. Previous versions go away once their scale-down
// deadline passes.
func (d *decider) routedAtStable() {
	c := d.ro.Spec.Strategy.Canary
	st := d.st
	if n := len(c.Steps); n > 0 {
		st.CurrentStepIndex = ptr(int32(n))
	}
	st.PauseConditions, st.ControllerPause = nil, false
	st.PromoteFull = false
	d.pointService(c.StableService, d.newRS, nil)
	d.pointService(c.CanaryService, d.newRS, nil)
	d.pointPingPongAtStable()
	d.syncTraffic(0, d.newHash, d.newHash, nil, nil, nil)
	d.scale(d.newRS, d.replicas)
	d.scaleDownOld(d.others(d.newRS), c.ScaleDownDelayRevisionLimit)
	d.applyMetadata(d.newRS, c.StableMetadata, c.CanaryMetadata)
	d.createNewRSIfPlanned()
	d.scaleEvents()
}

// abortRouted sends all traffic back to the stable version first, in the
// first write of the plan, because that is what ends the harm of a bad
// canary. With dynamicStableScale the stable may be short of Pods; the
// canary's share then shrinks only as fast as stable Pods become available.
// The canary is scaled down abortScaleDownDelaySeconds after the stable is
// fully available again (0 keeps it running for inspection).
func (d *decider) abortRouted(stable *appsv1.ReplicaSet, others []*appsv1.ReplicaSet, in replicas.Input) {
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

	maxW := d.maxWeight()
	weight := int32(0)
	if c.DynamicStableScale && d.replicas > 0 && available(stable) < d.replicas {
		covered := int32(int64(maxW) * int64(available(stable)) / int64(d.replicas))
		weight = min(d.appliedWeight(), maxW-covered)
	}
	urgent := len(d.plan.Actions)
	d.syncTraffic(weight, d.newHash, hashOf(stable), nil, nil, nil)
	d.pointService(c.StableService, stable, nil)
	d.pointPingPong(stable)
	if weight == 0 {
		// As the reference does: once the routers send the canary nothing,
		// its Service goes back to the stable version in the same decision,
		// before the status shows the abort.
		d.pointService(c.CanaryService, stable, nil)
	}
	// These writes end the harm of a bad canary, and they are safe before
	// anything else: the stable keeps its replicas during a routed canary
	// (setCanaryScale sizes only the canary), and with dynamicStableScale
	// the weight above never gives the stable more than its available Pods
	// carry. So they go first, ahead even of the writes planned before the
	// strategy ran.
	d.markUrgent(urgent)

	in.Aborted = true
	in.DynamicStableScale = c.DynamicStableScale
	in.MinPodsPerReplicaSet = c.MinPodsPerReplicaSet
	appliedPct := percentOf(d.appliedWeight(), maxW)
	in.Traffic = &replicas.Weights{Canary: appliedPct, Stable: 100 - appliedPct}
	res := replicas.TrafficRoutedCanary(in)
	d.scale(stable, res.Stable)

	// The canary keeps its Pods until the routers show 0 (a reconcile after
	// the sync above) and the delay has passed; a canary with no available
	// Pods serves nothing and goes at once. Without a delay (dynamic stable
	// scaling) it keeps only the Pods the traffic the routers still send it
	// needs.
	delay := d.abortDelay()
	down := false
	switch {
	case available(d.newRS) == 0:
		down = true
	case d.abortKeeps():
	case delay == 0:
		if res.Canary == 0 && d.appliedWeight() == 0 && weight == 0 {
			down = true
		} else if res.Canary < specReplicas(d.newRS) {
			d.scale(d.newRS, res.Canary)
		}
	default:
		// Not before the stable is fully available, the delay after that
		// has passed and the routers show the canary no traffic.
		end, ok := d.abortDeadline(stable, delay)
		switch {
		case !ok:
		case d.s.Now.Before(end):
			d.requeue(end.Sub(d.s.Now))
		default:
			down = d.appliedWeight() == 0 && weight == 0
		}
	}
	if down {
		d.pointService(c.CanaryService, stable, nil)
		d.scale(d.newRS, 0)
	}
	d.scaleDownExpired(others, c.ScaleDownDelayRevisionLimit)
	d.applyMetadata(stable, c.StableMetadata, c.CanaryMetadata)
	d.createNewRSIfPlanned()
	d.scaleEvents()
}
