package cachefresh

import (
	"iter"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Mark is what one write left for a later cached copy to be compared with:
// the resourceVersion the write replaced, or the generation it produced.
type Mark struct {
	replaced []string
	gen      int64
	byGen    bool
	// written is the object as the write returned it, for Written.
	written metav1.Object
}

// Replaced marks a write that replaced resourceVersion rv: a cached copy
// still at rv predates it. Resource versions are opaque, so only equality
// tells, which is enough when every other writer of the object moves it to
// a version the write did not replace.
func Replaced(rv string) Mark { return Mark{replaced: []string{rv}} }

// ReplacedBy marks a write that replaced resourceVersion rv and returned
// obj: as Replaced, and until the cache shows the write, Written offers
// obj in place of the cached copy. A later ReplacedBy of the same object
// that starts from obj's version extends the mark, so a cached copy at any
// version the chain replaced predates it. obj is kept as it is, so the
// caller must not change it afterwards.
func ReplacedBy(rv string, obj metav1.Object) Mark {
	return Mark{replaced: []string{rv}, written: obj}
}

// Produced marks a write that raised the object's generation to gen: a
// cached copy below gen predates it. Generations order a spec's changes,
// so this holds even when other writers (a status write, say) have moved
// the cached copy to a newer resourceVersion that still lacks the write.
func Produced(gen int64) Mark { return Mark{gen: gen, byGen: true} }

// predates reports whether the cached copy obj has not seen the write.
func (m Mark) predates(obj metav1.Object) bool {
	if m.byGen {
		return obj.GetGeneration() < m.gen
	}
	return slices.Contains(m.replaced, obj.GetResourceVersion())
}

// Owned remembers, per owner (a Rollout, an Experiment), the writes its
// reconciles made to the objects it owns (its ReplicaSets, its
// AnalysisRuns), by object name. A reconcile that one write starts can run
// before the informer of another kind has delivered a write of the same
// reconcile; deciding on that older copy sends the same write again. A
// mark lives until the owner's cached objects show the write, or no longer
// hold the object, so memory follows the owners in flight, not every
// object ever written.
type Owned struct {
	mu    sync.Mutex
	marks map[types.NamespacedName]map[string]Mark
}

// Wrote records that a write to owner's object name left mark m; a later
// write of the same object replaces the earlier mark.
func (o *Owned) Wrote(owner types.NamespacedName, name string, m Mark) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.marks == nil {
		o.marks = map[types.NamespacedName]map[string]Mark{}
	}
	byName := o.marks[owner]
	if byName == nil {
		byName = map[string]Mark{}
		o.marks[owner] = byName
	}
	if prev, ok := byName[name]; ok && m.written != nil && prev.written != nil && len(m.replaced) == 1 &&
		prev.written.GetResourceVersion() == m.replaced[0] {
		chain := prev.replaced
		if len(chain) >= maxChain {
			chain = chain[len(chain)-maxChain+1:]
		}
		m.replaced = append(slices.Clone(chain), m.replaced[0])
	}
	byName[name] = m
}

// Written returns the object owner's last write to its object name
// returned, while the cache has not shown that write: a reader can go on
// from it instead of waiting. It is shared: copy it before changing it.
// Like Behind, it is a function only because methods cannot take type
// parameters.
func Written[T metav1.Object](o *Owned, owner types.NamespacedName, name string) (T, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var zero T
	m, ok := o.marks[owner][name]
	if !ok || m.written == nil {
		return zero, false
	}
	obj, ok := m.written.(T)
	return obj, ok
}

// Behind returns the names of owner's cached objects that predate one of
// owner's writes, and forgets the writes the cache has caught up on or
// whose object it no longer holds. It is a function rather than a method
// only because methods cannot take type parameters.
func Behind[T metav1.Object](o *Owned, owner types.NamespacedName, cached iter.Seq[T]) map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	byName := o.marks[owner]
	if byName == nil {
		return nil
	}
	var behind map[string]bool
	for obj := range cached {
		if m, ok := byName[obj.GetName()]; ok && m.predates(obj) {
			if behind == nil {
				behind = map[string]bool{}
			}
			behind[obj.GetName()] = true
		}
	}
	for name := range byName {
		if !behind[name] {
			delete(byName, name)
		}
	}
	if len(byName) == 0 {
		delete(o.marks, owner)
	}
	return behind
}

// Forget drops what is known of owner's writes, when the owner is gone.
func (o *Owned) Forget(owner types.NamespacedName) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.marks, owner)
}
