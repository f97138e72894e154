package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
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
	{"Job", &batchv1.Job{}},
}

// cacheCounter counts the objects of the current manager's cache by the
// informers' add and delete events, which cost nothing per scrape however
// many objects there are. It is registered once; each manager built (one
// per change of held shards) gives it fresh counts of its own cache.
//
// The reference metrics' series store (ctrlmetrics) is fed by the same
// informers' events but cannot serve these counts: it keeps an entry per
// object only for the kinds with per-object gauges, so counting
// ReplicaSets, Pods and Jobs there would hold an entry per Pod for no
// series, and a kind it lists instead of watching is known only as of the
// last scrape. One integer per kind here costs nothing per object.
type cacheCounter struct {
	mu     sync.Mutex
	counts map[string]*atomic.Int64
}

var cachedObjects = &cacheCounter{}

var cachedObjectsRegistered sync.Once

// countCache makes the scrapes count the objects of c, registering the
// metric the first time. It adds event handlers to c's informers, creating
// them if the controllers have not yet.
func countCache(ctx context.Context, reg prometheus.Registerer, c cache.Informers) error {
	counts := map[string]*atomic.Int64{}
	for _, k := range cachedKinds {
		inf, err := c.GetInformer(ctx, k.obj, cache.BlockUntilSynced(false))
		if err != nil {
			return fmt.Errorf("counting cached %ss: %w", k.kind, err)
		}
		n := &atomic.Int64{}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { n.Add(1) },
			DeleteFunc: func(any) { n.Add(-1) },
		}); err != nil {
			return fmt.Errorf("counting cached %ss: %w", k.kind, err)
		}
		counts[k.kind] = n
	}
	cachedObjects.mu.Lock()
	cachedObjects.counts = counts
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

// Collect implements prometheus.Collector.
func (c *cacheCounter) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	counts := c.counts
	c.mu.Unlock()
	for _, k := range cachedKinds {
		if n := counts[k.kind]; n != nil {
			ch <- prometheus.MustNewConstMetric(cachedObjectsDesc, prometheus.GaugeValue, float64(n.Load()), k.kind)
		}
	}
}
