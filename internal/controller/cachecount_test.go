package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fakeInformer is a synced informer over a store.
type fakeInformer struct {
	cache.Informer
	store toolscache.Store
}

func (f fakeInformer) HasSynced() bool            { return true }
func (f fakeInformer) GetStore() toolscache.Store { return f.store }

// fakeCache serves informers of ReplicaSets and Pods only.
type fakeCache struct {
	cache.Cache
	rs, pods toolscache.Store
}

func (f fakeCache) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	switch obj.(type) {
	case *appsv1.ReplicaSet:
		return fakeInformer{store: f.rs}, nil
	case *corev1.Pod:
		return fakeInformer{store: f.pods}, nil
	}
	return nil, errors.New("no informer")
}

// TestCachedObjectsCountsEachKind checks that the metric counts what the
// current manager's cache holds per kind, follows a rebuilt manager to its
// new cache, and leaves out kinds without an informer.
func TestCachedObjectsCountsEachKind(t *testing.T) {
	store := func(n int) toolscache.Store {
		s := toolscache.NewStore(toolscache.MetaNamespaceKeyFunc)
		for i := 0; i < n; i++ {
			if err := s.Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: strings.Repeat("p", i+1)}}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	reg := prometheus.NewRegistry()
	if err := countCache(reg, fakeCache{rs: store(3), pods: store(5)}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP kanaria_controller_cached_objects Objects of each kind in this controller replica's informer caches.
# TYPE kanaria_controller_cached_objects gauge
kanaria_controller_cached_objects{kind="Pod"} 5
kanaria_controller_cached_objects{kind="ReplicaSet"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kanaria_controller_cached_objects"); err != nil {
		t.Fatal(err)
	}
	if err := countCache(reg, fakeCache{rs: store(1), pods: store(2)}); err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(strings.Replace(want, `"Pod"} 5`, `"Pod"} 2`, 1), `"ReplicaSet"} 3`, `"ReplicaSet"} 1`, 1)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kanaria_controller_cached_objects"); err != nil {
		t.Fatal(err)
	}
}
