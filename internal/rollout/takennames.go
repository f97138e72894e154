package rollout

import (
	"errors"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/internal/collision"
)

// takenNames remembers, per Rollout, the ReplicaSet a create found holding
// the name of the Rollout's next ReplicaSet when it is not the Rollout's.
// The cache cannot always show such a ReplicaSet: a sharded replica caches
// only ReplicaSets with its buckets' label, which one another object
// controls never gets, and no replica caches one without a pod-template
// hash. Handing it to the next decision, as the cache would have, lets that
// one pure decision raise status.collisionCount instead of creating into
// the taken name at every pass.
type takenNames struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*appsv1.ReplicaSet
}

// record keeps rs as the holder of the name it has, for key's next pass.
func (t *takenNames) record(key types.NamespacedName, rs *appsv1.ReplicaSet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[types.NamespacedName]*appsv1.ReplicaSet{}
	}
	t.m[key] = rs.DeepCopy()
}

// holder returns the ReplicaSet recorded for key when it holds name, and
// nil otherwise. A record of another name is dropped: the Rollout has
// moved to a new name (a raised collision count or a new template), so the
// old one no longer matters.
func (t *takenNames) holder(key types.NamespacedName, name string) *appsv1.ReplicaSet {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	rs := t.m[key]
	if rs == nil {
		return nil
	}
	if rs.Name != name {
		delete(t.m, key)
		return nil
	}
	return rs.DeepCopy()
}

// forget drops key's record, for a Rollout that is gone.
func (t *takenNames) forget(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// isNameTaken tells whether err ended an apply on a taken name: the next
// ReplicaSet's, an AnalysisRun's or an Experiment's. Either way the holder
// is recorded and the next decision moves to another name.
func isNameTaken(err error) bool {
	var held *collision.Error
	return errors.As(err, &held)
}

// takenReason is the reason the log line of a pass ended on a taken name
// gives: the kind whose name was taken.
func takenReason(err error) string {
	var held *collision.Error
	if errors.As(err, &held) {
		return held.Kind + "NameTaken"
	}
	return "NameTaken"
}
