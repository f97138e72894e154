package ctrlmetrics

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/types"
)

// clientGolangFamilies are the per-object families as client_golang vecs,
// the way they were served before they were kept as plain numbers: the
// reference the kept series must be indistinguishable from on a scrape.
type clientGolangFamilies struct {
	reg       *prometheus.Registry
	reconcile map[Kind]*prometheus.HistogramVec
	errors    map[Kind]*prometheus.CounterVec
	events    *prometheus.CounterVec
	requests  *prometheus.CounterVec
}

func newClientGolangFamilies(t *testing.T) *clientGolangFamilies {
	t.Helper()
	nn := []string{"namespace", "name"}
	c := &clientGolangFamilies{
		reg: prometheus.NewPedanticRegistry(),
		reconcile: map[Kind]*prometheus.HistogramVec{
			KindRollout: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: "rollout_reconcile", Help: "Rollout reconciliation performance.", Buckets: reconcileBuckets[:]}, nn),
			KindAnalysisRun: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: "analysis_run_reconcile", Help: "Analysis Run reconciliation performance.", Buckets: reconcileBuckets[:]}, nn),
			KindExperiment: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: "experiment_reconcile", Help: "Experiments reconciliation performance.", Buckets: reconcileBuckets[:]}, nn),
		},
		errors: map[Kind]*prometheus.CounterVec{
			KindRollout: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "rollout_reconcile_error", Help: "Error occurring during the rollout"}, nn),
			KindAnalysisRun: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "analysis_run_reconcile_error", Help: "Error occurring during the analysis run"}, nn),
			KindExperiment: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "experiment_reconcile_error", Help: "Error occurring during the experiment"}, nn),
		},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollout_events_total", Help: "Count of rollout events"}, []string{"namespace", "name", "type", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_clientset_k8s_request_total",
			Help: "Number of kubernetes requests executed during application reconciliation."},
			[]string{"kind", "namespace", "name", "verb", "status_code"}),
	}
	c.reg.MustRegister(c.events, c.requests)
	for _, k := range []Kind{KindRollout, KindAnalysisRun, KindExperiment} {
		c.reg.MustRegister(c.reconcile[k], c.errors[k])
	}
	return c
}

// forget removes what the vecs held of key, as the collector once did.
func (c *clientGolangFamilies) forget(kind Kind, key types.NamespacedName) {
	c.reconcile[kind].DeleteLabelValues(key.Namespace, key.Name)
	c.errors[kind].DeleteLabelValues(key.Namespace, key.Name)
	c.events.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "name": key.Name})
	c.requests.DeletePartialMatch(prometheus.Labels{"kind": resourceOf[kind], "namespace": key.Namespace, "name": key.Name})
}

// perObjectNames are the families the comparison reads.
var perObjectNames = map[string]bool{
	"rollout_reconcile": true, "analysis_run_reconcile": true, "experiment_reconcile": true,
	"rollout_reconcile_error": true, "analysis_run_reconcile_error": true, "experiment_reconcile_error": true,
	"rollout_events_total": true, "controller_clientset_k8s_request_total": true,
}

func gatherPerObject(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	var out []*dto.MetricFamily
	for _, f := range fams {
		if perObjectNames[f.GetName()] {
			out = append(out, f)
		}
	}
	return out
}

func textOf(t *testing.T, fams []*dto.MetricFamily) string {
	t.Helper()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatalf("encoding %s: %v", f.GetName(), err)
		}
	}
	return buf.String()
}

// comparePerObject checks that the kept series scrape exactly as the vecs
// do: the same text page, and the same protobuf metrics but for the
// creation times, which are checked to lie within [from, to].
func comparePerObject(t *testing.T, got, want prometheus.Gatherer, from, to time.Time) {
	t.Helper()
	g, w := gatherPerObject(t, got), gatherPerObject(t, want)
	if gt, wt := textOf(t, g), textOf(t, w); gt != wt {
		t.Fatalf("the page differs from client_golang's.\ngot:\n%s\nwant:\n%s", gt, wt)
	}
	if len(g) != len(w) {
		t.Fatalf("%d families, want %d", len(g), len(w))
	}
	for i := range g {
		for j, m := range g[i].Metric {
			var ct interface{ AsTime() time.Time }
			if h := m.GetHistogram(); h != nil {
				ct = h.GetCreatedTimestamp()
				h.CreatedTimestamp = nil
				w[i].Metric[j].GetHistogram().CreatedTimestamp = nil
			} else {
				ct = m.GetCounter().GetCreatedTimestamp()
				m.GetCounter().CreatedTimestamp = nil
				w[i].Metric[j].GetCounter().CreatedTimestamp = nil
			}
			if at := ct.AsTime(); at.Before(from) || at.After(to) {
				t.Errorf("%s %v created at %v, outside [%v, %v]", g[i].GetName(), m.GetLabel(), at, from, to)
			}
		}
		if !proto.Equal(g[i], w[i]) {
			t.Errorf("family %s differs:\ngot  %v\nwant %v", g[i].GetName(), g[i], w[i])
		}
	}
}

// TestPerObjectSeriesScrapeAsClientGolang feeds the same reconciles,
// errors, Events and requests to the kept series and to client_golang
// vecs, then removes some objects, and checks after each stage that a
// scrape of either is the same page.
func TestPerObjectSeriesScrapeAsClientGolang(t *testing.T) {
	from := time.Now()
	m := New(logr.Discard(), Build{Version: "dev"})
	reg := prometheus.NewPedanticRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	ref := newClientGolangFamilies(t)

	rng := rand.New(rand.NewPCG(7, 21))
	// Values on each bound must land in that bound's bucket; the others
	// fall anywhere, above the last bound included.
	special := []float64{0, 0.01, 0.15, 0.25, 0.5, 1, 1.0000001, 7}
	kinds := []Kind{KindRollout, KindAnalysisRun, KindExperiment}
	var keys []types.NamespacedName
	for _, ns := range []string{"shop", "a", "zz"} {
		for i := range 12 {
			keys = append(keys, types.NamespacedName{Namespace: ns, Name: fmt.Sprintf("web-%d", i)})
		}
	}
	verbs := []string{"Get", "Patch", "Create", "Watch"}
	codes := []string{"200", "201", "409", "0"}
	for n := range 2000 {
		kind := kinds[rng.IntN(len(kinds))]
		key := keys[rng.IntN(len(keys))]
		v := rng.Float64() * 1.5
		if n%5 == 0 {
			v = special[rng.IntN(len(special))]
		}
		m.reconcile[kind].observe(key, v)
		ref.reconcile[kind].WithLabelValues(key.Namespace, key.Name).Observe(v)
		if rng.IntN(4) == 0 {
			m.errors[kind].add(1, key.Namespace, key.Name)
			ref.errors[kind].WithLabelValues(key.Namespace, key.Name).Inc()
		}
		if rng.IntN(3) == 0 {
			reason := []string{"RolloutPaused", "RolloutCompleted", "AnalysisRunFailed"}[rng.IntN(3)]
			m.events.add(1, key.Namespace, key.Name, "Normal", reason)
			ref.events.WithLabelValues(key.Namespace, key.Name, "Normal", reason).Inc()
		}
		resource := resourceOf[kind]
		if rng.IntN(5) == 0 {
			resource = "services"
		}
		verb, code := verbs[rng.IntN(len(verbs))], codes[rng.IntN(len(codes))]
		m.requests.add(1, resource, key.Namespace, key.Name, verb, code)
		ref.requests.WithLabelValues(resource, key.Namespace, key.Name, verb, code).Inc()
	}
	comparePerObject(t, reg, ref.reg, from, time.Now())

	gone := map[Kind][]types.NamespacedName{}
	for i, key := range keys {
		if i%3 == 0 {
			kind := kinds[i%len(kinds)]
			gone[kind] = append(gone[kind], key)
			ref.forget(kind, key)
		}
	}
	for kind, ks := range gone {
		m.forgetObjects(kind, ks)
	}
	comparePerObject(t, reg, ref.reg, from, time.Now())
	for kind, ks := range gone {
		for _, key := range ks {
			if m.reconcile[kind].has(key) {
				t.Errorf("%s %v still has a histogram after it was forgotten", kind, key)
			}
		}
	}
}

// TestHistogramBuckets checks where observations land, against bucket
// bounds that are inclusive, and that the count includes those above the
// last bound.
func TestHistogramBuckets(t *testing.T) {
	h := newHistogramVec("rollout_reconcile", "Rollout reconciliation performance.")
	key := types.NamespacedName{Namespace: "shop", Name: "web"}
	for _, v := range []float64{0.01, 0.02, 0.15, 0.5, 0.75, 1, 2} {
		h.observe(key, v)
	}
	got := h.series[key]
	if want := [len(reconcileBuckets)]uint64{1, 2, 0, 1, 2}; got.buckets != want {
		t.Errorf("buckets %v, want %v", got.buckets, want)
	}
	if got.count != 7 || got.sum != 0.01+0.02+0.15+0.5+0.75+1+2 {
		t.Errorf("count %d sum %v, want 7 and the sum of the observations", got.count, got.sum)
	}
}

// BenchmarkPerObjectSeriesMemory reports the heap an idle Rollout's
// series hold (one reconcile histogram and one request counter, as after a
// create), kept as numbers and as client_golang vecs, after a collection.
func BenchmarkPerObjectSeriesMemory(b *testing.B) {
	const n = 2000
	keys := make([]types.NamespacedName, n)
	for i := range keys {
		keys[i] = types.NamespacedName{Namespace: "bench", Name: fmt.Sprintf("bench-ro-%05d", i)}
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for _, tc := range []struct {
		name string
		fill func() any
	}{
		{"kept", func() any {
			m := New(logr.Discard(), Build{Version: "dev"})
			for _, k := range keys {
				m.reconcile[KindRollout].observe(k, 0.02)
				m.requests.add(1, "rollouts", k.Namespace, k.Name, "Patch", "200")
			}
			return m
		}},
		{"client_golang", func() any {
			c := &clientGolangFamilies{}
			nn := []string{"namespace", "name"}
			c.reconcile = map[Kind]*prometheus.HistogramVec{KindRollout: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: "rollout_reconcile", Help: "Rollout reconciliation performance.", Buckets: reconcileBuckets[:]}, nn)}
			c.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "controller_clientset_k8s_request_total", Help: "requests"},
				[]string{"kind", "namespace", "name", "verb", "status_code"})
			for _, k := range keys {
				c.reconcile[KindRollout].WithLabelValues(k.Namespace, k.Name).Observe(0.02)
				c.requests.WithLabelValues("rollouts", k.Namespace, k.Name, "Patch", "200").Inc()
			}
			return c
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perRollout float64
			for b.Loop() {
				before := heap()
				kept := tc.fill()
				after := heap()
				runtime.KeepAlive(kept)
				perRollout = float64(int64(after)-int64(before)) / n
			}
			b.ReportMetric(perRollout, "B/Rollout")
		})
	}
}
