package cachefresh

import (
	"iter"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// Owned is the view of Writes for the objects an owner (a Rollout, an
// Experiment) writes: its ReplicaSets, its AnalysisRuns, in the owner's
// namespace. A reconcile that one write starts can run before the
// informer of another kind has delivered a write of the same reconcile;
// deciding on that older copy sends the same write again. It is asked
// with the owner's cached objects, which tell at once which of them
// predate a write and which the cache has caught up on or no longer
// holds.
type Owned struct {
	w Writes
}

// key is the object name of owner's namespace.
func key(owner types.NamespacedName, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: owner.Namespace, Name: name}
}

// Wrote records that a write to owner's object name left mark m.
func (o *Owned) Wrote(owner types.NamespacedName, name string, m Mark) {
	o.w.Wrote(owner, key(owner, name), m)
}

// OwnedLook is what an Owned knew of one owner's writes when it was
// taken: a reader takes it before it lists the owner's cached objects
// (see Look).
type OwnedLook struct {
	owner types.NamespacedName
	looks map[types.NamespacedName]Look
}

// Look takes what o knows of owner's writes now.
func (o *Owned) Look(owner types.NamespacedName) OwnedLook {
	return OwnedLook{owner: owner, looks: o.w.LookOwned(owner)}
}

// Written returns the object owner's last write to its object name
// returned, as the Look knows it: a reader whose cache has not shown that
// write can go on from it instead of waiting. It is shared: copy it before
// changing it. Like Behind, it is a function only because methods cannot
// take type parameters.
func Written[T metav1.Object](l OwnedLook, name string) (T, bool) {
	var zero T
	lk, ok := l.looks[key(l.owner, name)]
	if !ok || lk.r == nil || lk.r.written == nil {
		return zero, false
	}
	obj, ok := lk.r.written.(T)
	return obj, ok
}

// Behind returns the names of the owner's cached objects, listed after
// the Look was taken, that predate one of the owner's writes, and ends
// the entries of the writes the cache has caught up on or whose object it
// no longer holds. It is a function rather than a method only because
// methods cannot take type parameters.
func Behind[T metav1.Object](l OwnedLook, cached iter.Seq[T]) map[string]bool {
	if len(l.looks) == 0 {
		return nil
	}
	seen := make(map[types.NamespacedName]metav1.Object, len(l.looks))
	for obj := range cached {
		if k := key(l.owner, obj.GetName()); l.looks[k].r != nil {
			seen[k] = obj
		}
	}
	var behind map[string]bool
	for k, lk := range l.looks {
		if lk.Seen(seen[k]).Behind {
			if behind == nil {
				behind = map[string]bool{}
			}
			behind[k.Name] = true
		}
	}
	return behind
}

// Forget drops what is known of owner's writes, when the owner is gone.
func (o *Owned) Forget(owner types.NamespacedName) {
	o.w.Forget(owner)
}

// Len is how many objects Owned holds an entry for.
func (o *Owned) Len() int { return o.w.Len() }

// Handler is the event handler of the owned kind's informer, which ends
// an entry as soon as the cache shows the write it waits for (see Writes).
// Its readers take their Look before they list the cache.
func (o *Owned) Handler() toolscache.ResourceEventHandler { return o.w.Handler() }
