package decide

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// clearScaleDownDeadlines removes the scale-down-deadline annotation where
// it no longer stands for a wait: on the current and the stable ReplicaSet
// (a rollback made a waiting version current or stable again; its next
// deadline is set when it is replaced), and on a ReplicaSet at zero, whose
// wait is over. A deadline this plan writes is left alone, and so is the
// one an abort gives the current ReplicaSet: as in the reference it stays
// until the release is retried or replaced.
func (d *decider) clearScaleDownDeadlines() {
	key := v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey
	hashes := make([]string, 0, len(d.rsByHash))
	for h := range d.rsByHash {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	for _, h := range hashes {
		rs := d.rsByHash[h]
		if _, ok := rs.Annotations[key]; !ok || (rs == d.newRS && d.newRSPlanned) {
			continue
		}
		if rs != d.newRS && h != d.st.StableRS && specReplicas(rs) > 0 {
			continue
		}
		if rs == d.newRS && d.abortDelay() > 0 {
			continue
		}
		if d.writesAnnotation(rs.Name, key) {
			continue
		}
		d.add(PatchReplicaSet{Name: rs.Name, Annotations: map[string]*string{key: nil}})
		delete(rs.Annotations, key)
	}
}

// writesAnnotation reports whether the plan already sets or removes the
// annotation key of ReplicaSet name.
func (d *decider) writesAnnotation(name, key string) bool {
	for _, a := range d.plan.Actions {
		if p, ok := a.(PatchReplicaSet); ok && p.Name == name {
			if _, ok := p.Annotations[key]; ok {
				return true
			}
		}
	}
	return false
}

// abortDelay is how long an aborted blue-green preview or traffic-routed
// canary keeps its Pods once the stable version is fully available
// (abortScaleDownDelaySeconds, 30 s by default); 0 when the release is not
// aborted, the strategy has no such wait, or the user keeps them for good
// (abortKeeps). As in the reference, a basic canary rolls back by Pod counts
// and a routed canary with dynamicStableScale and no explicit delay scales
// its canary down as its traffic goes, so neither waits.
func (d *decider) abortDelay() time.Duration {
	if !d.st.Abort {
		return 0
	}
	var secs *int32
	switch {
	case d.ro.Spec.Strategy.BlueGreen != nil:
		secs = d.ro.Spec.Strategy.BlueGreen.AbortScaleDownDelaySeconds
	case d.routed():
		c := d.ro.Spec.Strategy.Canary
		if c.DynamicStableScale && c.AbortScaleDownDelaySeconds == nil {
			return 0
		}
		secs = c.AbortScaleDownDelaySeconds
	default:
		return 0
	}
	return time.Duration(deref(secs, defaultAbortScaleDownDelaySeconds)) * time.Second
}

// abortKeeps reports whether the user asked, with
// abortScaleDownDelaySeconds: 0, to keep an aborted version's Pods for
// inspection.
func (d *decider) abortKeeps() bool {
	var secs *int32
	switch {
	case d.ro.Spec.Strategy.BlueGreen != nil:
		secs = d.ro.Spec.Strategy.BlueGreen.AbortScaleDownDelaySeconds
	case d.routed():
		secs = d.ro.Spec.Strategy.Canary.AbortScaleDownDelaySeconds
	}
	return secs != nil && *secs == 0
}

// abortDeadline is when the aborted version's Pods go. As in the reference
// the delay counts from the first decision that finds the stable version
// fully available, not from the abort, so a stable that has to scale back
// up first (dynamicStableScale, a blue-green stable that lost Pods) is
// given the whole delay at full strength. That moment is recorded in the
// aborted ReplicaSet's scale-down-deadline annotation, which later
// decisions read back; ok is false while the stable is still short.
func (d *decider) abortDeadline(stable *appsv1.ReplicaSet, delay time.Duration) (deadline time.Time, ok bool) {
	if t, ok := scaleDownDeadline(d.newRS); ok {
		return t, true
	}
	if available(stable) < d.replicas {
		return time.Time{}, false
	}
	deadline = d.s.Now.Add(delay)
	if !d.newRSPlanned && specReplicas(d.newRS) > 0 && !d.writesAnnotation(d.newRS.Name, v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey) {
		v := deadline.UTC().Format(time.RFC3339)
		d.add(PatchReplicaSet{Name: d.newRS.Name, Annotations: map[string]*string{v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey: &v}})
	}
	return deadline, true
}
