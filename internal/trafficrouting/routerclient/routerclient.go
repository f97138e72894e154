// Package routerclient is what the traffic routers of one reconcile read
// and write through. Routers read their objects twice per reconcile (to
// check them, then to sync them), and a release reconciles a Rollout many
// times, so reading every one from the API server cost most of a routed
// canary's requests and, when many Rollouts abort at once, queued the
// weight writes that take traffic off the canaries behind those reads.
//
// Ingresses (NGINX, ALB) come from the controller's informer cache: they
// are a built-in kind every cluster serves, so the informer can always
// start. A cached copy that our own write has not reached yet is never
// used: the object our last write returned is served instead (see
// Copies), and only when we hold none (after a write failed on a
// conflict) does the read go to the API server, once per reconcile. Other
// router objects are custom resources the cluster may not have, so they
// are read from the API server, once per reconcile: the second read of the
// same object returns the first one's result unless the router wrote the
// object in between.
package routerclient

import (
	"context"
	"fmt"
	"reflect"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
)

// absent is the resourceVersion Copies records for an object that did not
// exist before our write: a cache without the object is as stale as one
// with a replaced version.
const absent = cachefresh.Absent

// cacheSyncTimeout bounds the wait for the Ingress informer's first list.
const cacheSyncTimeout = 30 * time.Second

// Client reads and writes router objects for one reconcile. It is not safe
// for concurrent use; a reconcile makes a new one.
type Client struct {
	cache  client.Reader
	api    client.Reader
	writer client.Writer
	copies *Copies
	// rollout is the Rollout this reconcile routes, the owner of the
	// copies its writes leave.
	rollout types.NamespacedName
	memo    map[memoKey]memoEntry
	// writes counts the writes that succeeded, so the reconcile can tell a
	// sync that changed the routers from one that found them as desired.
	writes int
}

// Writes is how many creates, updates, patches and deletes made through c
// succeeded (0 for nil, a Rollout without routers). Routers write only
// what differs from what they read, so 0 after a sync means the routers
// already showed the desired split.
func (c *Client) Writes() int {
	if c == nil {
		return 0
	}
	return c.writes
}

// New returns the Client of one reconcile of the Rollout rollout. cache is
// the informer-backed reader (nil reads Ingresses from api too), api reads
// straight from the API server, copies keeps across reconciles what our
// Ingress writes returned until the cache has caught up with them.
func New(cache, api client.Reader, w client.Writer, copies *Copies, rollout types.NamespacedName) *Client {
	return &Client{cache: cache, api: api, writer: w, copies: copies, rollout: rollout, memo: map[memoKey]memoEntry{}}
}

type memoKey struct {
	kind string
	key  types.NamespacedName
}

type memoEntry struct {
	obj runtime.Object
	err error
}

// keyOf identifies an object's kind by its Go type and, for unstructured
// objects, the kind they carry (a typed object's TypeMeta may or may not be
// filled in, so it is not part of the key).
func keyOf(obj client.Object, key types.NamespacedName) memoKey {
	kind := fmt.Sprintf("%T", obj)
	if u, ok := obj.(*unstructured.Unstructured); ok {
		kind += " " + u.GroupVersionKind().String()
	}
	return memoKey{kind: kind, key: key}
}

func cachedKind(obj client.Object) bool {
	_, ok := obj.(*networkingv1.Ingress)
	return ok
}

// Get reads one object: an Ingress from the cache unless the cache has not
// seen our last write of it, anything else from the API server at most once
// per reconcile.
func (c *Client) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if c.cache != nil && cachedKind(obj) {
		return c.getCached(ctx, key, obj.(*networkingv1.Ingress), opts...)
	}
	return c.getAPI(ctx, key, obj, opts...)
}

// getCached reads an Ingress from the cache, or what our write left in its
// place while the cache lags it.
func (c *Client) getCached(ctx context.Context, key client.ObjectKey, ing *networkingv1.Ingress, opts ...client.GetOption) error {
	look := c.copies.look(key)
	// The first read starts the informer and waits for its list; a
	// controller whose role may not list Ingresses must not hang here.
	cctx, cancel := context.WithTimeout(ctx, cacheSyncTimeout)
	err := c.cache.Get(cctx, key, ing, opts...)
	cancel()
	rv := absent
	switch {
	case err == nil:
		rv = ing.ResourceVersion
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("reading %s from the cache: %w", key, err)
	}
	how, copied := lookup(look, rv)
	switch how {
	case fromCopy:
		*ing = *copied
		return nil
	case goneByUs:
		return apierrors.NewNotFound(networkingv1.Resource("ingresses"), key.Name)
	case fromAPI:
		return c.getAPI(ctx, key, ing, opts...)
	}
	return err
}

// getAPI reads obj from the API server, at most once per reconcile until
// it is written.
func (c *Client) getAPI(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	mk := keyOf(obj, key)
	if e, ok := c.memo[mk]; ok {
		if e.err != nil {
			return e.err
		}
		copyInto(obj, e.obj)
		return nil
	}
	err := c.api.Get(ctx, key, obj, opts...)
	if err == nil {
		c.memo[mk] = memoEntry{obj: obj.DeepCopyObject()}
	} else if apierrors.IsNotFound(err) {
		c.memo[mk] = memoEntry{err: err}
	}
	return err
}

// copyInto sets *dst to a copy of src, both pointers to the same type.
func copyInto(dst client.Object, src runtime.Object) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src.DeepCopyObject()).Elem())
}

// List is not cached: routers look objects up by name.
func (c *Client) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return c.api.List(ctx, list, opts...)
}

// wrote forgets what this reconcile read of obj and, for a cached kind,
// keeps what the write left: obj as the API server answered it, or
// nothing after a delete, in place of the version from it replaced.
func (c *Client) wrote(ctx context.Context, obj client.Object, key types.NamespacedName, from string, deleted bool) {
	delete(c.memo, keyOf(obj, key))
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok || c.cache == nil {
		return
	}
	if deleted {
		ing = nil
	}
	c.copies.Wrote(c.rollout, key, from, ing)
	// The write's result is known; this read asks only whether the
	// informer delivered it before it was recorded. Then no event would
	// end the copy, and no reconcile follows an Ingress event to read it
	// again: a cache that already shows the write ends it now.
	look := c.copies.look(key)
	cctx, cancel := context.WithTimeout(ctx, cacheSyncTimeout)
	defer cancel()
	var cached networkingv1.Ingress
	switch err := c.cache.Get(cctx, key, &cached); {
	case err == nil:
		look.SeenVersion(cached.ResourceVersion)
	case apierrors.IsNotFound(err):
		look.SeenVersion(absent)
	}
}

// failed handles a write that did not happen. A conflict (or a create
// that found the object) means the object is not what this reconcile read:
// the read is forgotten and, for a cached kind, the version the write was
// made from is known to be behind, so later reads ask the API server until
// the cache moves past it.
func (c *Client) failed(obj client.Object, key types.NamespacedName, from string, err error) {
	if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
		return
	}
	delete(c.memo, keyOf(obj, key))
	if c.cache != nil && cachedKind(obj) {
		c.copies.Conflicted(c.rollout, key, from)
	}
}

// Create creates obj.
func (c *Client) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	key := client.ObjectKeyFromObject(obj)
	if err := c.writer.Create(ctx, obj, opts...); err != nil {
		c.failed(obj, key, absent, err)
		return err
	}
	c.writes++
	c.wrote(ctx, obj, key, absent, false)
	return nil
}

// Update replaces obj.
func (c *Client) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	key, from := client.ObjectKeyFromObject(obj), obj.GetResourceVersion()
	if err := c.writer.Update(ctx, obj, opts...); err != nil {
		c.failed(obj, key, from, err)
		return err
	}
	c.writes++
	c.wrote(ctx, obj, key, from, false)
	return nil
}

// Patch patches obj.
func (c *Client) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	key, from := client.ObjectKeyFromObject(obj), obj.GetResourceVersion()
	if err := c.writer.Patch(ctx, obj, patch, opts...); err != nil {
		c.failed(obj, key, from, err)
		return err
	}
	c.writes++
	c.wrote(ctx, obj, key, from, false)
	return nil
}

// Delete deletes obj. An object already gone counts as no write, but is
// gone all the same for the reads that follow.
func (c *Client) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	key, from := client.ObjectKeyFromObject(obj), obj.GetResourceVersion()
	err := c.writer.Delete(ctx, obj, opts...)
	switch {
	case err == nil:
		c.writes++
		c.wrote(ctx, obj, key, from, true)
	case apierrors.IsNotFound(err):
		c.wrote(ctx, obj, key, from, true)
	default:
		c.failed(obj, key, from, err)
	}
	return err
}

// DeleteAllOf deletes every matching object and forgets this reconcile's
// reads, since any of them may be gone.
func (c *Client) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	err := c.writer.DeleteAllOf(ctx, obj, opts...)
	if err == nil {
		c.writes++
	}
	clear(c.memo)
	return err
}

var (
	_ client.Reader = (*Client)(nil)
	_ client.Writer = (*Client)(nil)
)
