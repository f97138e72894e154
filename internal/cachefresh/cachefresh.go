// Package cachefresh tells a reconciler when its informer cache has not yet
// seen the reconciler's own last write. Deciding on such a stale copy would
// repeat decisions: create a second AnalysisRun, take a measurement twice,
// record an Event twice, send a scale patch again.
package cachefresh

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// maxChain bounds how many superseded versions of one object a Tracker
// keeps; one reconcile writes an object at most a few times in a row.
const maxChain = 4

// Tracker remembers, per object, the resourceVersions its own writes
// replaced. Resource versions are opaque, so it never orders them: a cached
// copy is stale exactly when it still carries a version a write replaced.
// Writes that follow each other (a status write, then a metadata patch of
// the same object) form a chain, and every version in it is stale.
//
// Tracker guards a reconciled object (or an object a router writes) against
// its own writes, and differs from Owned, which covers the objects an
// owner's reconciles write: it is asked per object, before anything else is
// read and on every watch event, with no list of the owner's objects to
// tell that the cache has caught up, and one reconcile writes the object
// several times in a row, so it keeps a chain of versions per object until
// the object is gone (Forget).
type Tracker struct {
	entries sync.Map
}

type entry struct {
	// replaced are the versions the chain of writes replaced.
	replaced []string
	// last is the version the last write produced, or "" when unknown.
	last string
	// written is the object as the last write returned it, when the
	// writer handed it over (WroteCopy); nil otherwise.
	written metav1.Object
}

// Wrote records that a write to key succeeded on top of resourceVersion
// from, producing resourceVersion to ("" when the caller does not know it).
// A write on top of the previous write's result extends the chain; any
// other write starts a new one.
func (t *Tracker) Wrote(key types.NamespacedName, from, to string) {
	e := entry{replaced: []string{from}, last: to}
	if v, ok := t.entries.Load(key); ok {
		prev := v.(entry)
		if prev.last != "" && prev.last == from {
			chain := prev.replaced
			if len(chain) >= maxChain {
				chain = chain[len(chain)-maxChain+1:]
			}
			e.replaced = append(slices.Clone(chain), from)
		}
	}
	// The version just written is the current one, never stale: this only
	// matters for a caller that gives a deleted object the version "" it
	// also gave the object before it was created.
	e.replaced = slices.DeleteFunc(e.replaced, func(rv string) bool { return rv == to })
	t.entries.Store(key, e)
}

// WroteCopy is Wrote for a write whose result obj the caller hands over:
// until the cache catches up, Written offers it in place of a cached copy
// that predates it. obj is kept as it is, so the caller must not change
// it afterwards.
func (t *Tracker) WroteCopy(key types.NamespacedName, from string, obj metav1.Object) {
	t.Wrote(key, from, obj.GetResourceVersion())
	v, _ := t.entries.Load(key)
	e := v.(entry)
	e.written = obj
	t.entries.Store(key, e)
}

// Written returns the object the last write to key returned when the
// cached copy at resourceVersion rv predates that write, so a reader can
// go on from what it wrote instead of waiting for the cache. The object is
// shared: copy it before changing it.
func (t *Tracker) Written(key types.NamespacedName, rv string) (metav1.Object, bool) {
	v, ok := t.entries.Load(key)
	if !ok {
		return nil, false
	}
	e := v.(entry)
	if e.written == nil || e.written.GetResourceVersion() != e.last || !slices.Contains(e.replaced, rv) {
		return nil, false
	}
	return e.written, true
}

// DropCopy lets go of the object WroteCopy kept for key: once the cache
// holds the write (or a later one), and when the write's result may no
// longer be the object's latest version (a conflict says another writer
// came after it). The versions it replaced stay known.
func (t *Tracker) DropCopy(key types.NamespacedName) {
	v, ok := t.entries.Load(key)
	if !ok || v.(entry).written == nil {
		return
	}
	e := v.(entry)
	e.written = nil
	t.entries.Store(key, e)
}

// Stale reports whether a cached copy at resourceVersion rv predates the
// last writes to key.
func (t *Tracker) Stale(key types.NamespacedName, rv string) bool {
	v, ok := t.entries.Load(key)
	return ok && slices.Contains(v.(entry).replaced, rv)
}

// Forget drops what the tracker knows of key, when the object is gone.
func (t *Tracker) Forget(key types.NamespacedName) {
	t.entries.Delete(key)
}
