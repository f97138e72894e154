package trafficrouting

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AbsentKinds remembers for a while the kinds the API server said it does
// not serve. controller-runtime's REST mapper keeps no record of a miss: each
// read of a kind whose group is not installed (Istio's DestinationRules on a
// cluster without Istio) asks discovery again, a round trip that answers
// 404 every time. The zero value is ready to use; it is safe for concurrent
// use.
type AbsentKinds struct {
	// TTL is how long a miss is believed, so a CRD installed later is seen
	// within it; zero means DefaultAbsentTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	until map[schema.GroupVersionKind]time.Time
}

// DefaultAbsentTTL is how long AbsentKinds believes a miss by default.
const DefaultAbsentTTL = time.Minute

// Reader returns r answering reads of unstructured objects of a kind known
// to be absent with that kind's no-match error, without a request, and
// recording the misses r reports.
func (a *AbsentKinds) Reader(r client.Reader) client.Reader {
	return absentReader{next: r, kinds: a}
}

func (a *AbsentKinds) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *AbsentKinds) known(gvk schema.GroupVersionKind) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.until[gvk]
	if ok && !a.now().Before(until) {
		delete(a.until, gvk)
		return false
	}
	return ok
}

func (a *AbsentKinds) remember(gvk schema.GroupVersionKind) {
	ttl := a.TTL
	if ttl <= 0 {
		ttl = DefaultAbsentTTL
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.until == nil {
		a.until = map[schema.GroupVersionKind]time.Time{}
	}
	a.until[gvk] = a.now().Add(ttl)
}

// absentReader consults AbsentKinds for objects that carry their kind
// (unstructured ones, which is how routers read custom resources); typed
// objects are built-in kinds every cluster serves, and pass through.
type absentReader struct {
	next  client.Reader
	kinds *AbsentKinds
}

func (r absentReader) read(obj runtime.Object, do func() error) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" {
		return do()
	}
	if r.kinds.known(gvk) {
		// The error the REST mapper gave, so IsNoKind callers behave
		// the same.
		return &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
	}
	err := do()
	if err != nil && IsNoKind(err) {
		r.kinds.remember(gvk)
	}
	return err
}

// Get implements client.Reader.
func (r absentReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(runtime.Unstructured); !ok {
		return r.next.Get(ctx, key, obj, opts...)
	}
	return r.read(obj, func() error { return r.next.Get(ctx, key, obj, opts...) })
}

// List implements client.Reader.
func (r absentReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(runtime.Unstructured); !ok {
		return r.next.List(ctx, list, opts...)
	}
	return r.read(list, func() error { return r.next.List(ctx, list, opts...) })
}
