package cachefresh

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// Tracker is the view of Writes for an object a reconcile writes itself
// (a Rollout's, an AnalysisRun's, an Experiment's own status): it is asked
// per object, before anything else is read and on every watch event, and
// each object is its own owner.
type Tracker struct {
	w Writes
}

// Wrote records that a write to key succeeded on top of resourceVersion
// from, producing resourceVersion to ("" when the caller does not know it).
func (t *Tracker) Wrote(key types.NamespacedName, from, to string) {
	t.w.Wrote(key, key, Mark{from: from, to: to})
}

// WroteCopy is Wrote for a write whose result obj the caller hands over:
// until the cache catches up, Written offers it in place of a cached copy
// that predates it. obj is kept as it is, so the caller must not change
// it afterwards.
func (t *Tracker) WroteCopy(key types.NamespacedName, from string, obj metav1.Object) {
	t.w.Wrote(key, key, ReplacedBy(from, obj))
}

// Written returns the object the last write to key returned when the
// cached copy at resourceVersion rv predates that write, so a reader can
// go on from what it wrote instead of waiting for the cache. The object is
// shared: copy it before changing it.
func (t *Tracker) Written(key types.NamespacedName, rv string) (metav1.Object, bool) {
	return t.Look(key).Written(rv)
}

// Look takes what the tracker knows of key now, for a reader to take
// before it reads the cache when the tracker gets informer events
// (Handler): an event may end the entry while the reader reads.
func (t *Tracker) Look(key types.NamespacedName) Look { return t.w.Look(key) }

// Stale reports whether a cached copy at resourceVersion rv predates the
// writes the Look knows of; a copy that does not ends the entry, the
// cache having caught up.
func (l Look) Stale(rv string) bool { return l.SeenVersion(rv).Behind }

// Written returns the object the last write known to the Look returned,
// when the cached copy at resourceVersion rv predates it. The object is
// shared: copy it before changing it.
func (l Look) Written(rv string) (metav1.Object, bool) {
	f := l.SeenVersion(rv)
	return f.Written, f.Behind && f.Written != nil
}

// DropCopy lets go of the object WroteCopy kept for key, when the write's
// result may no longer be the object's latest version (a conflict says
// another writer came after it). The versions it replaced stay known.
func (t *Tracker) DropCopy(key types.NamespacedName) {
	t.w.DropCopy(key)
}

// Stale reports whether a cached copy at resourceVersion rv predates the
// last writes to key. A copy that does not ends what the tracker knows of
// key: the cache has caught up.
func (t *Tracker) Stale(key types.NamespacedName, rv string) bool {
	return t.Look(key).Stale(rv)
}

// Superseded is Stale for an informer event, whose version may be older
// than the one the cache holds by now: it ends nothing.
func (t *Tracker) Superseded(key types.NamespacedName, rv string) bool {
	return t.w.Predates(key, rv)
}

// Forget drops what the tracker knows of key, when the object is gone.
func (t *Tracker) Forget(key types.NamespacedName) {
	t.w.Forget(key)
}

// Len is how many objects the tracker holds an entry for.
func (t *Tracker) Len() int { return t.w.Len() }

// Handler is the event handler of the tracked kind's informer, which ends
// an entry as soon as the cache shows what it waits for (see Writes).
func (t *Tracker) Handler() toolscache.ResourceEventHandler { return t.w.Handler() }
