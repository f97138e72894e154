package decide

import (
	"sort"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// clearScaleDownDeadlines removes the scale-down-deadline annotation where
// it no longer stands for a wait: on the current and the stable ReplicaSet
// (a rollback made a waiting version current or stable again; its next
// deadline is set when it is replaced), and on a ReplicaSet at zero, whose
// wait is over. A deadline this plan writes is left alone.
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
