// Package cachefresh tells a reconciler when its informer cache has not yet
// seen the reconciler's own last write. Deciding on such a stale copy would
// repeat decisions: create a second AnalysisRun, take a measurement twice,
// record an Event twice, send a scale patch again.
//
// Writes is the one record of such writes; Tracker (an object a reconcile
// writes itself), Owned (the objects an owner's reconciles write) and the
// traffic routers' Ingress copies are views of it, so every kind follows
// the same chain bound and the same drop rule: an entry lives only while
// the cache lags the writes it records.
package cachefresh

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// Absent is the resourceVersion of an object the cache does not hold, and
// the version a create replaced: a cache without the object is then as
// behind as one still showing a replaced version.
const Absent = ""

// maxChain bounds how many superseded versions of one object an entry
// keeps. Dropping the oldest is safe: a cache that still shows it is then
// believed, and a write made from that copy fails on its resourceVersion.
// Entries end as soon as the cache catches up, so only writes made while
// the cache lags, a handful, ever pile up.
const maxChain = 8

// Mark is what one write left for a later cached copy to be compared with:
// the resourceVersion the write replaced, or the generation it produced,
// and the object the write returned when the writer hands it over.
type Mark struct {
	from string
	// to is the version the write produced, or "" when unknown.
	to    string
	gen   int64
	byGen bool
	// written is the object as the write returned it; nil keeps none.
	written metav1.Object
	// deleted says the write removed the object.
	deleted bool
}

// Replaced marks a write that replaced resourceVersion rv: a cached copy
// still at rv predates it. Resource versions are opaque, so only equality
// tells, which is enough when every other writer of the object moves it to
// a version the write did not replace.
func Replaced(rv string) Mark { return Mark{from: rv} }

// ReplacedBy marks a write that replaced resourceVersion rv and returned
// obj: as Replaced, and until the cache shows the write, the object is
// offered in place of the cached copy. obj is kept as it is, so the caller
// must not change it afterwards.
func ReplacedBy(rv string, obj metav1.Object) Mark {
	return Mark{from: rv, to: obj.GetResourceVersion(), written: obj}
}

// Deleted marks a delete of the object at resourceVersion rv: until the
// cache drops the object, it is known to be gone.
func Deleted(rv string) Mark { return Mark{from: rv, to: Absent, deleted: true} }

// Produced marks a write that raised the object's generation to gen: a
// cached copy below gen predates it. Generations order a spec's changes,
// so this holds even when other writers (a status write, say) have moved
// the cached copy to a newer resourceVersion that still lacks the write.
func Produced(gen int64) Mark { return Mark{gen: gen, byGen: true} }

// record is what Writes knows of one object.
type record struct {
	// replaced are the versions our writes replaced, oldest first, and the
	// version a write failed on: a cache showing one of them predates
	// what we know.
	replaced []string
	// gen, when byGen, is the generation our last spec write produced.
	gen   int64
	byGen bool
	// written is what our last write returned. It is nil when that write
	// kept nothing, deleted the object or failed on a conflict: then the
	// current object is unknown.
	written metav1.Object
	// gone says our last write deleted the object.
	gone bool
	// last is the version our last write produced (Absent after a
	// delete), when known.
	last      string
	lastKnown bool
	// owner is whose reconcile wrote last, for Forget.
	owner types.NamespacedName
}

// predates reports whether a cached copy at resourceVersion rv and
// generation gen (rv Absent when the cache holds no object) has not seen
// the writes r records.
func (r *record) predates(rv string, gen int64, present bool) bool {
	if slices.Contains(r.replaced, rv) {
		return true
	}
	return r.byGen && present && gen < r.gen
}

// Writes remembers, per object of one kind, what the controller's own
// writes replaced and, when the writer hands it over, what the last write
// returned, while the informer cache still shows a version those writes
// replaced. Resource versions are opaque, so it never orders them: a
// cached copy is behind exactly when it carries a version a write
// replaced (or, for a spec write, a lower generation).
//
// An entry ends as soon as a read of the cache (Look.Seen) shows a version none
// of our writes replaced: our own last write, or another writer's change,
// which the cache is then trusted with. The cache never goes back, so no
// later read can show an older version. It ends too when the informer
// delivers what our last write produced (Handler), even if no reconcile
// reads the object again. So entries live only while the cache lags, and
// Forget drops those of a deleted owner that no later read or event came
// to drop. A restarted controller has no entries and trusts its cache, as it
// trusts no write it does not remember.
//
// It is safe for concurrent use: reconciles of different owners may write
// the same object (Rollouts that share an ALB Ingress).
type Writes struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*record
	// byOwner lists the objects each owner's reconciles wrote last.
	byOwner map[types.NamespacedName]map[types.NamespacedName]struct{}
}

// entry installs and returns a new record for key, a copy of the current
// one (or an empty one) for owner to change; the caller holds mu. Records
// are never changed once installed, so a Look taken before keeps what it
// saw.
func (w *Writes) entry(owner, key types.NamespacedName) *record {
	if w.m == nil {
		w.m = map[types.NamespacedName]*record{}
		w.byOwner = map[types.NamespacedName]map[types.NamespacedName]struct{}{}
	}
	r := &record{owner: owner}
	if old := w.m[key]; old != nil {
		*r = *old
		r.replaced = slices.Clone(old.replaced)
		if old.owner != owner {
			w.unindex(old.owner, key)
			r.owner = owner
		}
	}
	w.m[key] = r
	keys := w.byOwner[owner]
	if keys == nil {
		keys = map[types.NamespacedName]struct{}{}
		w.byOwner[owner] = keys
	}
	keys[key] = struct{}{}
	return r
}

// unindex removes key from owner's list; the caller holds mu.
func (w *Writes) unindex(owner, key types.NamespacedName) {
	keys := w.byOwner[owner]
	delete(keys, key)
	if len(keys) == 0 {
		delete(w.byOwner, owner)
	}
}

// drop removes key's record; the caller holds mu.
func (w *Writes) drop(key types.NamespacedName) {
	if r, ok := w.m[key]; ok {
		w.unindex(r.owner, key)
		delete(w.m, key)
	}
	w.release()
}

// release lets the maps go once they hold nothing: a map keeps the size a
// burst of writes grew it to, and entries live only while the cache lags,
// so an idle controller would otherwise keep that size for good.
func (w *Writes) release() {
	if len(w.m) == 0 {
		w.m, w.byOwner = nil, nil
	}
}

// markReplaced adds rv to the versions a cache must not be believed at.
func (r *record) markReplaced(rv string) {
	if slices.Contains(r.replaced, rv) {
		return
	}
	if len(r.replaced) >= maxChain {
		r.replaced = slices.Delete(r.replaced, 0, len(r.replaced)-maxChain+1)
	}
	r.replaced = append(r.replaced, rv)
}

// Wrote records that owner's reconcile wrote the object key, leaving m.
// Writes that follow each other before the cache catches up (a status
// write, then a metadata patch of the same object) add to one entry, and
// every version they replaced is behind.
func (w *Writes) Wrote(owner, key types.NamespacedName, m Mark) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.entry(owner, key)
	if m.byGen {
		r.gen, r.byGen = m.gen, true
	} else {
		r.markReplaced(m.from)
		// What we wrote last is current: a version an earlier write of
		// ours replaced can come back only as Absent (deleted, then
		// created), and a cache showing it then shows what we know.
		r.replaced = slices.DeleteFunc(r.replaced, func(v string) bool { return v == m.to })
		r.last, r.lastKnown = m.to, m.to != "" || m.deleted
	}
	r.written, r.gone = m.written, m.deleted
}

// Conflicted records that owner's write of key failed because the object
// is no longer at version from (Absent for a create that found the object
// existing): a cache still showing from is behind, and what we hold, if
// anything, is no longer the object, so it is no longer offered.
func (w *Writes) Conflicted(owner, key types.NamespacedName, from string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.entry(owner, key)
	r.markReplaced(from)
	r.written, r.gone = nil, false
	r.last, r.lastKnown = "", false
}

// DropCopy lets go of the object the last write of key returned, when it
// may no longer be the object's latest version (a conflict says another
// writer came after it). The versions it replaced stay known.
func (w *Writes) DropCopy(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.m[key]; r != nil && r.written != nil {
		w.entry(r.owner, key).written = nil
	}
}

// Found is what a read of an object learns from Writes.
type Found struct {
	// Behind says the cached copy predates our writes.
	Behind bool
	// Written is what our last write returned, offered while Behind; nil
	// when it was not kept. It is shared: copy it before changing it.
	Written metav1.Object
	// Gone says our last write deleted the object, while Behind.
	Gone bool
}

// Look is what Writes knew of one object when the Look was taken. A
// reader takes it before it reads the cache, then compares: an informer
// event can end the entry between the two (see Handler), and a copy read
// before that event would then seem to need nothing.
type Look struct {
	w   *Writes
	key types.NamespacedName
	r   *record
}

// Look takes what Writes knows of key now.
func (w *Writes) Look(key types.NamespacedName) Look {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Look{w: w, key: key, r: w.m[key]}
}

// Seen reports what our writes known at the Look hold past the cached
// copy a read of the cache found (nil when it holds no object). A cached
// copy that shows none of the replaced versions ends the entry, unless a
// later write changed it since.
func (l Look) Seen(cached metav1.Object) Found {
	rv, gen := Absent, int64(0)
	if cached != nil {
		rv, gen = cached.GetResourceVersion(), cached.GetGeneration()
	}
	return l.seen(rv, gen, cached != nil)
}

// SeenVersion is Seen for a caller that has only the cached copy's
// resourceVersion (Absent when the cache holds no object).
func (l Look) SeenVersion(rv string) Found {
	return l.seen(rv, 0, rv != Absent)
}

func (l Look) seen(rv string, gen int64, present bool) Found {
	if l.r == nil {
		return Found{}
	}
	if !l.r.predates(rv, gen, present) {
		l.w.mu.Lock()
		if l.w.m[l.key] == l.r {
			l.w.drop(l.key)
		}
		l.w.mu.Unlock()
		return Found{}
	}
	return Found{Behind: true, Written: l.r.written, Gone: l.r.gone}
}

// SeenVersion is Look(key).SeenVersion(rv), for a reader whose Writes
// gets no informer events.
func (w *Writes) SeenVersion(key types.NamespacedName, rv string) Found {
	return w.Look(key).SeenVersion(rv)
}

// Predates reports whether a copy of key at resourceVersion rv predates
// our writes, ending nothing: for an informer event, whose version may be
// older than the cache's by now.
func (w *Writes) Predates(key types.NamespacedName, rv string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.m[key]
	return r != nil && r.predates(rv, 0, rv != Absent)
}

// event tells Writes that an informer delivered key at resourceVersion rv
// and generation gen (rv Absent for a delete). An event may carry a
// version older than the one the cache holds by now, one a reconcile has
// already read and written on top of, and resource versions cannot be
// ordered, so unlike a read it ends an entry only when it shows what our
// last write produced: the version it returned, the object gone after our
// delete, or the generation a spec write raised.
func (w *Writes) event(key types.NamespacedName, rv string, gen int64, present bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.m[key]
	if r == nil {
		return
	}
	if (r.lastKnown && r.last == rv) || (r.byGen && !r.predates(rv, gen, present)) {
		w.drop(key)
	}
}

// LookOwned takes what Writes knows now of the objects owner's reconciles
// wrote last, by key.
func (w *Writes) LookOwned(owner types.NamespacedName) map[types.NamespacedName]Look {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.byOwner[owner]) == 0 {
		return nil
	}
	looks := make(map[types.NamespacedName]Look, len(w.byOwner[owner]))
	for k := range w.byOwner[owner] {
		looks[k] = Look{w: w, key: k, r: w.m[k]}
	}
	return looks
}

// Forget drops the entries owner's reconciles wrote last, when the owner
// is gone.
func (w *Writes) Forget(owner types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.byOwner[owner] {
		delete(w.m, k)
	}
	delete(w.byOwner, owner)
	w.release()
}

// Pending reports whether Writes holds an entry in namespace ns: whether
// the cache may lag one of our writes there.
func (w *Writes) Pending(ns string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.m {
		if k.Namespace == ns {
			return true
		}
	}
	return false
}

// Len is how many objects Writes holds an entry for, so tests can show
// that entries do not outlive the cache's lag.
func (w *Writes) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}

// Handler is the event handler of the informer that fills the cache the
// writes are compared with: it ends an entry as soon as the informer
// delivers what our last write produced (see event), so an entry goes
// when the cache catches up even if no reconcile reads the object again.
// Readers of a Writes with a Handler take a Look before they read the
// cache.
func (w *Writes) Handler() toolscache.ResourceEventHandler {
	seen := func(obj any) {
		if o, ok := obj.(metav1.Object); ok {
			w.event(types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}, o.GetResourceVersion(), o.GetGeneration(), true)
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { seen(obj) },
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if o, ok := obj.(metav1.Object); ok {
				w.event(types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}, Absent, 0, false)
			}
		},
	}
}
