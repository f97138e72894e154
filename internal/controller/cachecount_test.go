package controller

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fakeInformer keeps the handlers it is given.
type fakeInformer struct {
	cache.Informer
	handlers []toolscache.ResourceEventHandler
}

func (f *fakeInformer) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	f.handlers = append(f.handlers, h)
	return nil, nil
}

// fakeInformers hands out one fakeInformer per kind.
type fakeInformers struct {
	cache.Informers
	byKind map[string]*fakeInformer
}

func (f *fakeInformers) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	for _, k := range cachedKinds {
		if k.obj == obj {
			if f.byKind[k.kind] == nil {
				f.byKind[k.kind] = &fakeInformer{}
			}
			return f.byKind[k.kind], nil
		}
	}
	panic("unexpected kind")
}

func (f *fakeInformers) event(kind string, adds, deletes int) {
	for _, h := range f.byKind[kind].handlers {
		for i := 0; i < adds; i++ {
			h.OnAdd(nil, true)
		}
		for i := 0; i < deletes; i++ {
			h.OnDelete(nil)
		}
	}
}

func wantCounts(t *testing.T, reg *prometheus.Registry, rs, pods, jobs int) {
	t.Helper()
	want := `# HELP kanaria_controller_cached_objects Objects of each kind in this controller replica's informer caches.
# TYPE kanaria_controller_cached_objects gauge
kanaria_controller_cached_objects{kind="AnalysisRun"} 0
kanaria_controller_cached_objects{kind="Experiment"} 0
kanaria_controller_cached_objects{kind="Job"} ` + strconv.Itoa(jobs) + `
kanaria_controller_cached_objects{kind="Pod"} ` + strconv.Itoa(pods) + `
kanaria_controller_cached_objects{kind="ReplicaSet"} ` + strconv.Itoa(rs) + `
kanaria_controller_cached_objects{kind="Rollout"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kanaria_controller_cached_objects"); err != nil {
		t.Fatal(err)
	}
}

// TestCachedObjectsCountsEachKind checks that the metric follows the
// informers' adds and deletes per kind, and that a rebuilt manager's cache
// starts its own counts rather than adding to the previous one's.
func TestCachedObjectsCountsEachKind(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := &fakeInformers{byKind: map[string]*fakeInformer{}}
	if err := countCache(context.Background(), reg, first); err != nil {
		t.Fatal(err)
	}
	first.event("ReplicaSet", 3, 0)
	first.event("Pod", 7, 2)
	first.event("Job", 2, 1)
	wantCounts(t, reg, 3, 5, 1)

	second := &fakeInformers{byKind: map[string]*fakeInformer{}}
	if err := countCache(context.Background(), reg, second); err != nil {
		t.Fatal(err)
	}
	second.event("ReplicaSet", 1, 0)
	second.event("Pod", 2, 0)
	first.event("Pod", 4, 0)
	first.event("Job", 3, 0)
	wantCounts(t, reg, 1, 2, 0)
}
