package rollout

import (
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
)

// rsWrites remembers, per Rollout, the resourceVersions of its ReplicaSets
// that the controller's own last patches replaced. A reconcile that the
// Rollout's status write starts can run before the ReplicaSet informer has
// delivered the scale patch of the same reconcile; deciding on that older
// copy sends the same scale patch again and counts it as progress. The
// ReplicaSet's own watch event brings the Rollout back once the cache has
// it. Entries live only until the cache has caught up, so memory follows
// the Rollouts in flight, not every ReplicaSet ever written.
type rsWrites struct {
	mu sync.Mutex
	// replaced maps a Rollout to its ReplicaSets' names and the version
	// each patch replaced.
	replaced map[types.NamespacedName]map[string]string
}

// wrote records that the patch of ReplicaSet name of Rollout key replaced
// resourceVersion from.
func (w *rsWrites) wrote(key types.NamespacedName, name, from string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.replaced == nil {
		w.replaced = map[types.NamespacedName]map[string]string{}
	}
	m := w.replaced[key]
	if m == nil {
		m = map[string]string{}
		w.replaced[key] = m
	}
	m[name] = from
}

// stale reports whether any of the cached ReplicaSets of Rollout key still
// carries a version the controller's own patch replaced. Once none does,
// the Rollout's entry is dropped.
func (w *rsWrites) stale(key types.NamespacedName, cached []*appsv1.ReplicaSet) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.replaced[key]
	if m == nil {
		return false
	}
	for _, rs := range cached {
		if from, ok := m[rs.Name]; ok && from == rs.ResourceVersion {
			return true
		}
	}
	delete(w.replaced, key)
	return false
}

// forget drops the entry of a Rollout that is gone.
func (w *rsWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.replaced, key)
}
