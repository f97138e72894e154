package ctrlmetrics

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// listReader answers lists of Rollouts the way the informer cache does with
// UnsafeDisableDeepCopy: the items are shallow copies of the stored objects
// in a fresh slice. Every other list is empty.
type listReader struct {
	rollouts []*v1alpha1.Rollout
}

func (r *listReader) Get(context.Context, types.NamespacedName, client.Object, ...client.GetOption) error {
	return fmt.Errorf("not served")
}

func (r *listReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	if l, ok := list.(*v1alpha1.RolloutList); ok {
		l.Items = make([]v1alpha1.Rollout, len(r.rollouts))
		for i, ro := range r.rollouts {
			l.Items[i] = *ro
		}
	}
	return nil
}

// benchRollouts are n idle canaries, each as the controller's cache holds
// one after a finished release.
func benchRollouts(n int) []*v1alpha1.Rollout {
	out := make([]*v1alpha1.Rollout, n)
	for i := range out {
		out[i] = &v1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("ro-%05d", i), ResourceVersion: fmt.Sprint(1000 + i)},
			Spec: v1alpha1.RolloutSpec{
				Replicas: ptr(int32(1)),
				Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}},
			},
			Status: v1alpha1.RolloutStatus{
				Replicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1,
				Conditions: []v1alpha1.RolloutCondition{
					{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
				},
			},
		}
	}
	return out
}

// scrape gathers reg and writes the page in the text format, as the
// /metrics endpoint does.
func scrape(b *testing.B, reg prometheus.Gatherer) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrape10000Rollouts measures one scrape of the reference's
// gauges of 10,000 idle Rollouts: read by listing the cache at each scrape
// (a reader without informers), kept current by informer events (the
// manager's cache), and those served by a Gatherer (as the controller
// serves them).
func BenchmarkScrape10000Rollouts(b *testing.B) {
	rollouts := benchRollouts(10000)
	for _, tc := range []struct {
		name     string
		reader   client.Reader
		gatherer bool
	}{
		{"list", &listReader{rollouts: rollouts}, false},
		{"informer", &fakeInformers{}, false},
		{"gatherer", &fakeInformers{}, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m := New(logr.Discard(), Build{Version: "dev"})
			m.ReadFrom(tc.reader)
			if f, ok := tc.reader.(*fakeInformers); ok {
				inf := f.informer(&v1alpha1.Rollout{})
				for _, ro := range rollouts {
					inf.Add(ro)
				}
			}
			benchmarkScrapes(b, m, tc.gatherer)
		})
	}
}

// fakeInformers is a reader whose informers a test drives by hand; its
// lists are empty, so anything the gauges show came from the events.
type fakeInformers struct {
	listReader
	informers map[string]*controllertest.FakeInformer
}

func (f *fakeInformers) informer(obj client.Object) *controllertest.FakeInformer {
	key := fmt.Sprintf("%T", obj)
	if f.informers == nil {
		f.informers = map[string]*controllertest.FakeInformer{}
	}
	inf := f.informers[key]
	if inf == nil {
		inf = &controllertest.FakeInformer{Synced: true}
		f.informers[key] = inf
	}
	return inf
}

func (f *fakeInformers) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	return f.informer(obj), nil
}

// BenchmarkScrapePage10000Rollouts measures the whole page of 10,000 idle
// Rollouts as the controller serves it after one release each: the gauges
// from informer events plus each Rollout's reconcile histogram, request
// counters and Event counter, which the reference also keeps per Rollout.
func BenchmarkScrapePage10000Rollouts(b *testing.B) {
	for _, gatherer := range []bool{false, true} {
		name := "registry"
		if gatherer {
			name = "gatherer"
		}
		b.Run(name, func(b *testing.B) { benchmarkPage(b, gatherer) })
	}
}

func benchmarkPage(b *testing.B, gatherer bool) {
	rollouts := benchRollouts(10000)
	src := &fakeInformers{}
	m := New(logr.Discard(), Build{Version: "dev"})
	m.ReadFrom(src)
	inf := src.informer(&v1alpha1.Rollout{})
	for _, ro := range rollouts {
		inf.Add(ro)
		m.reconcile[KindRollout].observe(keyOf(ro), 0.2)
		m.requests.add(1, "rollouts", ro.Namespace, ro.Name, "Patch", "200")
		m.requests.add(1, "replicasets", ro.Namespace, ro.Name, "Create", "201")
		m.events.add(1, ro.Namespace, ro.Name, "Normal", "RolloutCompleted")
	}
	benchmarkScrapes(b, m, gatherer)
}

// benchmarkScrapes registers m and times scrapes of it, through the
// registry or, with gatherer, through a Gatherer as the controller serves
// it; the first scrape, which renders what informer events left pending,
// is not timed.
func benchmarkScrapes(b *testing.B, m *Metrics, gatherer bool) {
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		b.Fatal(err)
	}
	var g prometheus.Gatherer = reg
	if gatherer {
		direct := NewGatherer(reg)
		direct.Serve(m)
		g = direct
	}
	scrape(b, g)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		scrape(b, g)
	}
}

// BenchmarkKeptSeriesPerRollout reports the heap the kept gauges of one
// idle Rollout hold, from 10,000 rendered through informer events.
func BenchmarkKeptSeriesPerRollout(b *testing.B) {
	rollouts := benchRollouts(10000)
	for b.Loop() {
		src := &fakeInformers{}
		m := New(logr.Discard(), Build{Version: "dev"})
		m.ReadFrom(src)
		inf := src.informer(&v1alpha1.Rollout{})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, ro := range rollouts {
			inf.Add(ro)
		}
		for k := range numObjectKinds {
			m.series.setKnown(k, true)
		}
		_ = m.series.families()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(rollouts)), "B/Rollout")
		runtime.KeepAlive(m)
	}
}
