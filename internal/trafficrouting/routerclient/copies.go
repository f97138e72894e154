package routerclient

import (
	"slices"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// maxReplaced bounds how many superseded versions of one Ingress Copies
// keeps. Dropping the oldest is safe: a cache that still shows it is then
// believed, and a write made from that copy fails on its resourceVersion
// and marks it stale again (see Conflicted).
const maxReplaced = 8

// Copies remembers, across reconciles, the Ingresses our own writes
// produced while the informer cache has not caught up with them. A
// create, update or patch answers with the object at its new
// resourceVersion, so a reconcile that finds the cache still showing the
// version the write replaced (or no object after a create) already knows
// what the API server would answer, and reads nothing.
//
// An entry is dropped as soon as the cache shows a version none of our
// writes replaced: our own last write, or another writer's change, which
// the cache is then trusted with. So copies live only while the cache
// lags; Forget drops a deleted Rollout's entries that no later read or
// watch event came to drop. A restarted controller has no entries and
// reads the cache, as it trusts no write it does not remember.
//
// It is safe for concurrent use: Rollouts that share an Ingress (ALB)
// reconcile in parallel and each must see the other's writes.
type Copies struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*copyEntry
}

type copyEntry struct {
	// replaced are the versions our writes replaced (absent for an object
	// created by us, or found by a create that failed as existing), and
	// the version a write failed on; a cache showing one predates what we
	// know.
	replaced []string
	// obj is what our last write returned. It is nil when the last write
	// deleted the object (gone) or failed on a conflict: then the current
	// object is unknown and is read from the API server.
	obj  *networkingv1.Ingress
	gone bool
	// rollout is the Rollout whose reconcile wrote last, for Forget.
	rollout types.NamespacedName
}

// answer is what a read of a cached Ingress is served from.
type answer int

const (
	// fromCache: the cache has what we know, or newer.
	fromCache answer = iota
	// fromCopy: the copy our last write returned.
	fromCopy
	// goneByUs: our last write deleted the object.
	goneByUs
	// fromAPI: the cache is behind and we hold no copy.
	fromAPI
)

// lookup tells how to answer a read of key whose cached copy is at
// resourceVersion rv (absent when the cache has no object). A cache that
// shows a version no write of ours replaced ends the entry. The copy
// returned, for fromCopy, is the caller's own.
func (c *Copies) lookup(key types.NamespacedName, rv string) (answer, *networkingv1.Ingress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	switch {
	case e == nil:
		return fromCache, nil
	case !slices.Contains(e.replaced, rv):
		delete(c.m, key)
		return fromCache, nil
	case e.gone:
		return goneByUs, nil
	case e.obj != nil:
		return fromCopy, e.obj.DeepCopy()
	default:
		return fromAPI, nil
	}
}

// entry returns key's entry, made for rollout when missing.
func (c *Copies) entry(rollout, key types.NamespacedName) *copyEntry {
	if c.m == nil {
		c.m = map[types.NamespacedName]*copyEntry{}
	}
	e := c.m[key]
	if e == nil {
		e = &copyEntry{}
		c.m[key] = e
	}
	e.rollout = rollout
	return e
}

// markReplaced adds rv to the versions a cache must not be believed at.
func (e *copyEntry) markReplaced(rv string) {
	if slices.Contains(e.replaced, rv) {
		return
	}
	if len(e.replaced) >= maxReplaced {
		e.replaced = slices.Delete(e.replaced, 0, len(e.replaced)-maxReplaced+1)
	}
	e.replaced = append(e.replaced, rv)
}

// Wrote records that rollout's reconcile replaced version from of key
// (absent for a create) with result, what the API server answered; a nil
// result means the write deleted the object.
func (c *Copies) Wrote(rollout, key types.NamespacedName, from string, result *networkingv1.Ingress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(rollout, key)
	e.markReplaced(from)
	to := absent
	if result != nil {
		to = result.ResourceVersion
	}
	// What we wrote last is current: a version an earlier write of ours
	// replaced can come back only as absent (deleted, then created), and
	// a cache showing it then shows what we know.
	e.replaced = slices.DeleteFunc(e.replaced, func(v string) bool { return v == to })
	e.obj, e.gone = nil, result == nil
	if result != nil {
		e.obj = result.DeepCopy()
	}
}

// Conflicted records that rollout's write of key failed because the
// object is no longer at version from (absent for a create that found the
// object existing): a cache still showing from is behind, and what we
// hold, if anything, is no longer the object, so reads go to the API
// server until the cache moves past from.
func (c *Copies) Conflicted(rollout, key types.NamespacedName, from string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(rollout, key)
	e.markReplaced(from)
	e.obj, e.gone = nil, false
}

// Seen tells Copies that the cache now holds key at resourceVersion rv
// (absent once it dropped the object), for an informer's event handler,
// so that a copy goes when the cache catches up even if no reconcile reads
// it again.
func (c *Copies) Seen(key types.NamespacedName, rv string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil && !slices.Contains(e.replaced, rv) {
		delete(c.m, key)
	}
}

// Forget drops the entries rollout's reconciles wrote last, when the
// Rollout is gone.
func (c *Copies) Forget(rollout types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.rollout == rollout {
			delete(c.m, k)
		}
	}
}

// Pending reports whether Copies holds an entry in namespace ns: whether
// the cache may lag one of our writes of an Ingress there.
func (c *Copies) Pending(ns string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if k.Namespace == ns {
			return true
		}
	}
	return false
}

// Len is how many Ingresses Copies holds an entry for, so tests can show
// that entries do not outlive the cache's lag.
func (c *Copies) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Handler is the Ingress informer's event handler that tells Copies what
// the cache now holds (see Seen).
func (c *Copies) Handler() toolscache.ResourceEventHandler {
	seen := func(obj any) {
		if ing, ok := obj.(*networkingv1.Ingress); ok {
			c.Seen(types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}, ing.ResourceVersion)
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if ing, ok := obj.(*networkingv1.Ingress); ok {
				c.Seen(types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}, absent)
			}
		},
	}
}
