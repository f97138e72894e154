package routerclient

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
)

// Copies is the view of cachefresh.Writes for the Ingresses the routers
// write: what our writes returned, kept across reconciles while the
// informer cache has not caught up with them. A create, update or patch
// answers with the object at its new resourceVersion, so a reconcile that
// finds the cache still showing the version the write replaced (or no
// object after a create) already knows what the API server would answer,
// and reads nothing. The Writes rules decide how long a copy lives: until
// the cache shows a version none of our writes replaced, or the Rollout
// whose reconcile wrote last is forgotten.
//
// It is safe for concurrent use: Rollouts that share an Ingress (ALB)
// reconcile in parallel and each must see the other's writes.
type Copies struct {
	w cachefresh.Writes
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

// look takes what Copies knows of key now, before a read of the cache
// (see cachefresh.Look).
func (c *Copies) look(key types.NamespacedName) cachefresh.Look { return c.w.Look(key) }

// lookup tells how to answer a read of key whose cached copy, read after
// the look l was taken, is at resourceVersion rv (absent when the cache
// has no object). A cache that shows a version no write of ours replaced
// ends the entry. The copy returned, for fromCopy, is the caller's own.
func lookup(l cachefresh.Look, rv string) (answer, *networkingv1.Ingress) {
	f := l.SeenVersion(rv)
	switch {
	case !f.Behind:
		return fromCache, nil
	case f.Gone:
		return goneByUs, nil
	case f.Written != nil:
		return fromCopy, f.Written.(*networkingv1.Ingress).DeepCopy()
	default:
		return fromAPI, nil
	}
}

// Wrote records that rollout's reconcile replaced version from of key
// (absent for a create) with result, what the API server answered; a nil
// result means the write deleted the object.
func (c *Copies) Wrote(rollout, key types.NamespacedName, from string, result *networkingv1.Ingress) {
	if result == nil {
		c.w.Wrote(rollout, key, cachefresh.Deleted(from))
		return
	}
	c.w.Wrote(rollout, key, cachefresh.ReplacedBy(from, result.DeepCopy()))
}

// Conflicted records that rollout's write of key failed because the
// object is no longer at version from (absent for a create that found the
// object existing): a cache still showing from is behind, and what we
// hold, if anything, is no longer the object, so reads go to the API
// server until the cache moves past from.
func (c *Copies) Conflicted(rollout, key types.NamespacedName, from string) {
	c.w.Conflicted(rollout, key, from)
}

// Seen tells Copies that the cache now holds key at resourceVersion rv
// (absent once it dropped the object), so that a copy goes when the cache
// catches up even if no reconcile reads it again.
func (c *Copies) Seen(key types.NamespacedName, rv string) {
	c.w.SeenVersion(key, rv)
}

// Forget drops the entries rollout's reconciles wrote last, when the
// Rollout is gone.
func (c *Copies) Forget(rollout types.NamespacedName) { c.w.Forget(rollout) }

// Pending reports whether Copies holds an entry in namespace ns: whether
// the cache may lag one of our writes of an Ingress there.
func (c *Copies) Pending(ns string) bool { return c.w.Pending(ns) }

// Len is how many Ingresses Copies holds an entry for, so tests can show
// that entries do not outlive the cache's lag.
func (c *Copies) Len() int { return c.w.Len() }

// Handler is the Ingress informer's event handler, which ends a copy once
// the informer delivers what our last write produced (see
// cachefresh.Writes.Handler).
func (c *Copies) Handler() toolscache.ResourceEventHandler { return c.w.Handler() }
