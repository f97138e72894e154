package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// cachedObjectsDesc describes kanaria_controller_cached_objects: how many
// objects of each kind this replica's caches hold. With shards it shows
// each replica holding only its shards' share, which is where its memory
// goes.
var cachedObjectsDesc = prometheus.NewDesc("kanaria_controller_cached_objects",
	"Objects of each kind in this controller replica's informer caches.", []string{"kind"}, nil)

// cachedKinds are the kinds counted, with their metric label.
var cachedKinds = []struct {
	kind string
	obj  client.Object
}{
	{"Rollout", &v1alpha1.Rollout{}},
	{"AnalysisRun", &v1alpha1.AnalysisRun{}},
	{"Experiment", &v1alpha1.Experiment{}},
	{"ReplicaSet", &appsv1.ReplicaSet{}},
	{"Pod", &corev1.Pod{}},
}

// cacheCounter counts the objects of the current manager's cache on each
// scrape. It is registered once; each manager built (one per change of
// held shards) points it at its own cache.
type cacheCounter struct {
	mu    sync.Mutex
	cache cache.Cache
}

var cachedObjects = &cacheCounter{}

var cachedObjectsRegistered sync.Once

// countCache makes the scrapes count c, registering the metric the first
// time.
func countCache(reg prometheus.Registerer, c cache.Cache) error {
	cachedObjects.mu.Lock()
	cachedObjects.cache = c
	cachedObjects.mu.Unlock()
	var err error
	cachedObjectsRegistered.Do(func() {
		err = reg.Register(cachedObjects)
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			err = nil
		}
	})
	if err != nil {
		return fmt.Errorf("registering the cached object counts: %w", err)
	}
	return nil
}

// Describe implements prometheus.Collector.
func (c *cacheCounter) Describe(ch chan<- *prometheus.Desc) { ch <- cachedObjectsDesc }

// storeOwner is what client-go's shared informers offer beyond
// controller-runtime's Informer interface: their store, whose List hands
// out the cached pointers without copying the objects.
type storeOwner interface{ GetStore() toolscache.Store }

// Collect implements prometheus.Collector. A kind whose informer has not
// started (a manager before its first sync) is left out rather than waited
// for.
func (c *cacheCounter) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	cc := c.cache
	c.mu.Unlock()
	if cc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, k := range cachedKinds {
		inf, err := cc.GetInformer(ctx, k.obj, cache.BlockUntilSynced(false))
		if err != nil {
			continue
		}
		so, ok := inf.(storeOwner)
		if !ok || !inf.HasSynced() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(cachedObjectsDesc, prometheus.GaugeValue, float64(len(so.GetStore().List())), k.kind)
	}
}
