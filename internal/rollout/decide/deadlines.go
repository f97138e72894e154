package decide

import (
	"sort"
	"time"

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
// canary keeps its Pods (abortScaleDownDelaySeconds, 30 s by default); 0
// when the release is not aborted, the strategy has no such wait (a basic
// canary rolls back by Pod counts), or the user keeps them for good.
func (d *decider) abortDelay() time.Duration {
	if !d.st.Abort {
		return 0
	}
	var secs *int32
	switch {
	case d.ro.Spec.Strategy.BlueGreen != nil:
		secs = d.ro.Spec.Strategy.BlueGreen.AbortScaleDownDelaySeconds
	case d.routed():
		secs = d.ro.Spec.Strategy.Canary.AbortScaleDownDelaySeconds
	default:
		return 0
	}
	return time.Duration(deref(secs, defaultAbortScaleDownDelaySeconds)) * time.Second
}

// markAbortDeadline writes on the aborted version's ReplicaSet, while it
// still runs Pods, the scale-down-deadline the reference writes there: the
// time its Pods go, abortScaleDownDelaySeconds after the abort.
func (d *decider) markAbortDeadline(delay time.Duration) {
	if d.newRS == nil || d.newRSPlanned || specReplicas(d.newRS) == 0 || delay <= 0 || d.st.AbortedAt == nil {
		return
	}
	key := v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey
	deadline := d.st.AbortedAt.Add(delay).UTC().Format(time.RFC3339)
	if d.newRS.Annotations[key] == deadline || d.writesAnnotation(d.newRS.Name, key) {
		return
	}
	d.add(PatchReplicaSet{Name: d.newRS.Name, Annotations: map[string]*string{key: &deadline}})
}
