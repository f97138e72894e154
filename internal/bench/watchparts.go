package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// LabelPart splits a large benchmark's Rollouts and Deployments, with
// their ReplicaSets and Pods (it is on the Pod template too), into groups
// of at most Config.WatchPartSize, give or take the spread of the hash,
// that the benchmark watches apart. One watch of every
// Rollout means one list of all of them whenever that watch has to start
// again, and a loaded API server fails to send a list of ten thousand
// Rollouts within its request timeout, again and again, while lists of a
// controller replica's share go through.
const LabelPart = "kanaria.dev/bench-part"

// partCount is how many groups n objects of a kind are split into, size at
// most in each: 1, no split and no label, up to size.
func partCount(n, size int) int {
	if size <= 0 {
		size = DefaultWatchPartSize
	}
	return max(1, (n+size-1)/size)
}

// partOf is the group of the object named name among parts.
func partOf(name string, parts int) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(parts))
}

// labelPart puts the part label of name on an object and its Pod
// template, when the run is split at all.
func labelPart(obj, template *metav1.ObjectMeta, name string, parts int) {
	if parts <= 1 {
		return
	}
	v := strconv.Itoa(partOf(name, parts))
	for _, m := range []*metav1.ObjectMeta{obj, template} {
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		m.Labels[LabelPart] = v
	}
}

// watchCaches are the benchmark's watch caches of its namespace: the
// kinds there are as many of as Rollouts (Rollouts, Deployments,
// ReplicaSets) in one cache per part, selected by LabelPart, and
// everything else in one cache. Reads and event handlers go to the caches
// that hold the kind, so callers see one cache of the namespace.
type watchCaches struct {
	whole cache.Cache
	parts []cache.Cache
}

// newWatchCaches makes the caches of namespace ns for objects of a kind
// split in parts.
func newWatchCaches(rc *rest.Config, scheme *runtime.Scheme, ns string, parts int) (*watchCaches, error) {
	opts := func() cache.Options {
		return cache.Options{
			Scheme:            scheme,
			DefaultNamespaces: map[string]cache.Config{ns: {}},
			DefaultTransform:  cache.TransformStripManagedFields(),
		}
	}
	whole, err := cache.New(rc, opts())
	if err != nil {
		return nil, fmt.Errorf("creating the benchmark's watch cache: %w", err)
	}
	w := &watchCaches{whole: whole}
	if parts > 1 {
		for i := range parts {
			sel := labels.SelectorFromSet(labels.Set{LabelPart: strconv.Itoa(i)})
			o := opts()
			o.ByObject = map[client.Object]cache.ByObject{
				&v1alpha1.Rollout{}:  {Label: sel},
				&appsv1.Deployment{}: {Label: sel},
				&appsv1.ReplicaSet{}: {Label: sel},
			}
			c, err := cache.New(rc, o)
			if err != nil {
				return nil, fmt.Errorf("creating the benchmark's watch cache of part %d: %w", i, err)
			}
			w.parts = append(w.parts, c)
		}
	}
	return w, nil
}

// split reports whether objects of obj's kind (an object or a list) live in
// the part caches.
func (w *watchCaches) split(obj runtime.Object) bool {
	if len(w.parts) == 0 {
		return false
	}
	switch obj.(type) {
	case *v1alpha1.Rollout, *v1alpha1.RolloutList, *appsv1.Deployment, *appsv1.DeploymentList,
		*appsv1.ReplicaSet, *appsv1.ReplicaSetList:
		return true
	}
	return false
}

// Start runs every cache until ctx ends; the error is the first cache's
// that failed.
func (w *watchCaches) Start(ctx context.Context) error {
	all := append([]cache.Cache{w.whole}, w.parts...)
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Start(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Get reads one object from the cache that holds it: a split kind from the
// part its name hashes to, as labelPart labelled it.
func (w *watchCaches) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if w.split(obj) {
		return w.parts[partOf(key.Name, len(w.parts))].Get(ctx, key, obj, opts...)
	}
	return w.whole.Get(ctx, key, obj, opts...)
}

// List lists a split kind from every part, the items in part order.
func (w *watchCaches) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if !w.split(list) {
		return w.whole.List(ctx, list, opts...)
	}
	var all []runtime.Object
	for i, c := range w.parts {
		part, ok := list.DeepCopyObject().(client.ObjectList)
		if !ok {
			return fmt.Errorf("copying a %T", list)
		}
		if err := c.List(ctx, part, opts...); err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
		items, err := apimeta.ExtractList(part)
		if err != nil {
			return fmt.Errorf("part %d: %w", i, err)
		}
		all = append(all, items...)
	}
	return apimeta.SetList(list, all)
}

// AddEventHandler adds h to the informer of obj's kind in every cache that
// holds the kind.
func (w *watchCaches) AddEventHandler(ctx context.Context, obj client.Object, h toolscache.ResourceEventHandler) error {
	caches := []cache.Cache{w.whole}
	if w.split(obj) {
		caches = w.parts
	}
	for _, c := range caches {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
	}
	return nil
}
