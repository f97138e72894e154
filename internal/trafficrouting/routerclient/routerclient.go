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
// used; the read then goes to the API server. Other router objects are
// custom resources the cluster may not have, so they are read from the API
// server, once per reconcile: the second read of the same object returns
// the first one's result unless the router wrote the object in between.
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

// absent is the resourceVersion the freshness tracker records for an
// object that did not exist before our write: a cache without the object
// is as stale as one with a replaced version.
const absent = ""

// cacheSyncTimeout bounds the wait for the Ingress informer's first list.
const cacheSyncTimeout = 30 * time.Second

// Client reads and writes router objects for one reconcile. It is not safe
// for concurrent use; a reconcile makes a new one.
type Client struct {
	cache  client.Reader
	api    client.Reader
	writer client.Writer
	fresh  *cachefresh.Tracker
	memo   map[memoKey]memoEntry
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

// New returns the Client of one reconcile. cache is the informer-backed
// reader (nil reads Ingresses from api too), api reads straight from the
// API server, fresh remembers across reconciles the Ingress versions our
// writes replaced.
func New(cache, api client.Reader, w client.Writer, fresh *cachefresh.Tracker) *Client {
	return &Client{cache: cache, api: api, writer: w, fresh: fresh, memo: map[memoKey]memoEntry{}}
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
		// The first read starts the informer and waits for its list; a
		// controller whose role may not list Ingresses must not hang here.
		cctx, cancel := context.WithTimeout(ctx, cacheSyncTimeout)
		err := c.cache.Get(cctx, key, obj, opts...)
		cancel()
		switch {
		case err == nil && !c.fresh.Stale(key, obj.GetResourceVersion()):
			return nil
		case apierrors.IsNotFound(err) && !c.fresh.Stale(key, absent):
			return err
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("reading %s from the cache: %w", key, err)
		}
		// Our own write is not in the cache yet.
		return c.api.Get(ctx, key, obj, opts...)
	}
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
// records that our write replaced version from with version to (absent
// for a delete), so a cache still showing from is not believed.
func (c *Client) wrote(obj client.Object, key types.NamespacedName, from, to string) {
	delete(c.memo, keyOf(obj, key))
	if cachedKind(obj) {
		c.fresh.Wrote(key, from, to)
	}
}

// Create creates obj.
func (c *Client) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.writer.Create(ctx, obj, opts...); err != nil {
		return err
	}
	c.writes++
	c.wrote(obj, client.ObjectKeyFromObject(obj), absent, obj.GetResourceVersion())
	return nil
}

// Update replaces obj.
func (c *Client) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	key, from := client.ObjectKeyFromObject(obj), obj.GetResourceVersion()
	if err := c.writer.Update(ctx, obj, opts...); err != nil {
		return err
	}
	c.writes++
	c.wrote(obj, key, from, obj.GetResourceVersion())
	return nil
}

// Patch patches obj.
func (c *Client) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	key, from := client.ObjectKeyFromObject(obj), obj.GetResourceVersion()
	if err := c.writer.Patch(ctx, obj, patch, opts...); err != nil {
		return err
	}
	c.writes++
	c.wrote(obj, key, from, obj.GetResourceVersion())
	return nil
}

// Delete deletes obj.
func (c *Client) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	key, from := client.ObjectKeyFromObject(obj), obj.GetResourceVersion()
	err := c.writer.Delete(ctx, obj, opts...)
	if err == nil {
		c.writes++
	}
	if err == nil || apierrors.IsNotFound(err) {
		c.wrote(obj, key, from, absent)
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
