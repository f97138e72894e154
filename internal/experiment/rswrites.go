package experiment

import (
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
)

// rsWrites remembers the resourceVersions of ReplicaSets that the
// controller's own patches replaced. A reconcile that the status write
// starts can run before the informer has delivered the patch of the same
// reconcile (a scale to zero, a scale-down deadline); deciding on the older
// copy would send the patch again and record its Event twice. Entries live
// until the cache has caught up.
type rsWrites struct {
	mu       sync.Mutex
	replaced map[types.NamespacedName]string
}

// wrote records that a patch of the ReplicaSet key replaced version from.
func (w *rsWrites) wrote(key types.NamespacedName, from string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.replaced == nil {
		w.replaced = map[types.NamespacedName]string{}
	}
	w.replaced[key] = from
}

// stale reports whether any cached ReplicaSet still carries a version one
// of our patches replaced; entries the cache has caught up with are dropped.
func (w *rsWrites) stale(cached map[string]*appsv1.ReplicaSet) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	behind := false
	for _, rs := range cached {
		key := types.NamespacedName{Namespace: rs.Namespace, Name: rs.Name}
		from, ok := w.replaced[key]
		switch {
		case !ok:
		case from == rs.ResourceVersion:
			behind = true
		default:
			delete(w.replaced, key)
		}
	}
	return behind
}
