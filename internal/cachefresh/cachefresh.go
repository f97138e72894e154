// Package cachefresh tells a reconciler when its informer cache has not yet
// seen the reconciler's own last write. Deciding on such a stale copy would
// repeat decisions: create a second AnalysisRun, take a measurement twice,
// record an Event twice.
package cachefresh

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Tracker remembers, per object, the resourceVersion the last write started
// from. Resource versions are opaque, so it never orders them: a cached
// copy is stale exactly when it still carries the version the write replaced.
type Tracker struct {
	from sync.Map
}

// Wrote records that a write to key succeeded on top of resourceVersion from.
func (t *Tracker) Wrote(key types.NamespacedName, from string) {
	t.from.Store(key, from)
}

// Stale reports whether a cached copy at resourceVersion rv predates the
// last write to key.
func (t *Tracker) Stale(key types.NamespacedName, rv string) bool {
	from, ok := t.from.Load(key)
	return ok && from.(string) == rv
}

// Forget drops what is known about key, e.g. when it was deleted.
func (t *Tracker) Forget(key types.NamespacedName) {
	t.from.Delete(key)
}
