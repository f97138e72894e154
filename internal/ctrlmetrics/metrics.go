// Package ctrlmetrics serves, next to Kanaria's own metrics, the metric
// names, labels and values of Argo Rollouts' controller, so the Grafana
// dashboards and alerts users already have for it read Kanaria unchanged.
//
// The info and phase gauges are rendered from the informer caches once per
// version of each object and kept until the object is gone (series.go), so
// an object that is deleted drops out of the next scrape. The reconcile
// histograms, error and Event counters must remember their counts between
// scrapes; their series of an object that is gone are removed at the next
// scrape.
package ctrlmetrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// reconcileBuckets are the reference's buckets for every reconcile histogram.
var reconcileBuckets = [...]float64{0.01, 0.15, .25, .5, 1}

// listTimeout bounds the cache reads of one scrape: a cache that has not
// started yet answers with an error, not a wait, but a scrape must never
// hang on it.
const listTimeout = 5 * time.Second

// Kind names the resources whose reconciles are timed.
type Kind string

// The kinds a Metrics times.
const (
	KindRollout     Kind = "Rollout"
	KindAnalysisRun Kind = "AnalysisRun"
	KindExperiment  Kind = "Experiment"
)

// Metrics is the collector of the reference's controller metrics. Create it
// with New and register it once; it is safe for concurrent use.
type Metrics struct {
	reader client.Reader
	log    logr.Logger

	// reconcile holds a series for every object a reconcile saw, which
	// is also how prune knows whose counters to remove once it is gone.
	reconcile map[Kind]*histogramVec
	errors    map[Kind]*counterVec
	events    *counterVec
	requests  *counterVec
	version   prometheus.Gauge
	build     *prometheus.GaugeVec

	series *seriesStore
	// direct is set once a Gatherer serves the info gauges.
	direct atomic.Bool

	mu     sync.Mutex
	forget []func(namespace, name string)
}

// Build describes the running binary for build_info.
type Build struct {
	Version, GoVersion, GoArch, Commit string
}

// New returns the metrics; b labels argo_rollouts_controller_info and
// build_info. They exist before the manager does, since its clients are
// built with WrapTransport; ReadFrom then names the cache the gauges are
// read from.
func New(log logr.Logger, b Build) *Metrics {
	m := &Metrics{
		log: log,
		reconcile: map[Kind]*histogramVec{
			KindRollout:     newHistogramVec("rollout_reconcile", "Rollout reconciliation performance."),
			KindAnalysisRun: newHistogramVec("analysis_run_reconcile", "Analysis Run reconciliation performance."),
			KindExperiment:  newHistogramVec("experiment_reconcile", "Experiments reconciliation performance."),
		},
		errors: map[Kind]*counterVec{
			KindRollout:     newCounterVec("rollout_reconcile_error", "Error occurring during the rollout", nameLabels...),
			KindAnalysisRun: newCounterVec("analysis_run_reconcile_error", "Error occurring during the analysis run", nameLabels...),
			KindExperiment:  newCounterVec("experiment_reconcile_error", "Error occurring during the experiment", nameLabels...),
		},
		events: newCounterVec("rollout_events_total", "Count of rollout events", "namespace", "name", "type", "reason"),
		requests: newCounterVec("controller_clientset_k8s_request_total",
			"Number of kubernetes requests executed during application reconciliation.",
			"kind", "namespace", "name", "verb", "status_code"),
		version: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "argo_rollouts_controller_info", Help: "Running Argo-rollouts version",
			ConstLabels: prometheus.Labels{"version": b.Version}}),
		build: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "build_info", Help: "A metric with a constant '1' value labeled by version from which the controller was built."},
			[]string{"version", "goversion", "goarch", "commit"}),
		series: newSeriesStore(),
	}
	m.version.Set(1)
	m.build.WithLabelValues(b.Version, b.GoVersion, b.GoArch, b.Commit).Set(1)
	return m
}

// Register registers m with reg. A Metrics of an earlier manager in the
// same process is replaced, so the newest caches are the ones scraped.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	err := reg.Register(m)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		reg.Unregister(are.ExistingCollector)
		err = reg.Register(m)
	}
	if err != nil {
		return fmt.Errorf("registering the Argo Rollouts controller metrics: %w", err)
	}
	return nil
}

// ReadFrom makes the gauges show the Rollouts, AnalysisRuns, Experiments
// and analysis templates of reader, the manager's cache; until then no
// gauges are served. When reader hands out informers, their events keep
// the rendered series current and a scrape lists nothing; otherwise (or
// for a kind whose informer cannot be had) each scrape lists the kind and
// renders only the objects whose resourceVersion changed. Call it once.
func (m *Metrics) ReadFrom(reader client.Reader) {
	if src, ok := reader.(informerSource); ok {
		for _, err := range m.series.watch(src) {
			m.log.V(1).Info("metrics: no informer for the gauges, listing at each scrape instead", "error", err.Error())
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reader = reader
}

// WithoutClusterTemplates leaves ClusterAnalysisTemplates out of the
// gauges: a namespace-scoped controller may not read them cluster-wide, and
// an informer it cannot fill would keep its cache from ever syncing. Call it
// before ReadFrom.
func (m *Metrics) WithoutClusterTemplates() {
	m.series.skipped[objClusterTemplates] = true
}

// OnForget adds f to what runs for an object that is gone, so counters
// kept elsewhere per object (the notification counters) go with it.
func (m *Metrics) OnForget(f func(namespace, name string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forget = append(m.forget, f)
}

func (m *Metrics) vecs() []prometheus.Collector {
	out := []prometheus.Collector{m.events, m.requests, m.version, m.build}
	for _, k := range []Kind{KindRollout, KindAnalysisRun, KindExperiment} {
		out = append(out, m.reconcile[k], m.errors[k])
	}
	return out
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range infoDescs {
		ch <- d
	}
	for _, c := range m.vecs() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector: the gauges of every cached
// object, then the counters and histograms, less the series of objects no
// longer in the cache.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	reader := m.reader
	m.mu.Unlock()
	if reader == nil {
		for _, c := range m.vecs() {
			c.Collect(ch)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	var known [numObjectKinds]bool
	for k := range numObjectKinds {
		if m.series.skipped[k] {
			continue
		}
		if m.series.isWatched(k) {
			known[k] = true
		} else if items, err := listObjects(ctx, reader, k); err != nil {
			m.log.V(1).Info("metrics: listing from the cache", "kind", fmt.Sprintf("%T", newObject(k)), "error", err.Error())
			m.series.setKnown(k, false)
		} else {
			m.series.listed(k, items)
			m.series.setKnown(k, true)
			known[k] = true
		}
		// A Gatherer serving m sends the gauges itself.
		if known[k] && !m.direct.Load() {
			m.series.collect(k, ch)
		}
	}
	m.prune(known)
	for _, c := range m.vecs() {
		c.Collect(ch)
	}
}

// listObjects lists the objects of kind k from reader. The items are read
// without copying the cached objects: they are only read, and copying
// every Rollout at every scrape would cost as much memory again as the
// cache holds.
func listObjects(ctx context.Context, reader client.Reader, k objectKind) ([]client.Object, error) {
	var out []client.Object
	switch k {
	case objRollouts:
		var l v1alpha1.RolloutList
		if err := reader.List(ctx, &l, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case objRuns:
		var l v1alpha1.AnalysisRunList
		if err := reader.List(ctx, &l, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case objExperiments:
		var l v1alpha1.ExperimentList
		if err := reader.List(ctx, &l, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case objTemplates:
		var l v1alpha1.AnalysisTemplateList
		if err := reader.List(ctx, &l, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case objClusterTemplates:
		var l v1alpha1.ClusterAnalysisTemplateList
		if err := reader.List(ctx, &l, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out, nil
}

// prune removes the series of the objects reconciled before that the
// caches no longer hold: for a watched kind those deleted since the last
// scrape, for a listed kind those its list did not return. A kind the
// store does not know in full (its list failed) is left alone.
func (m *Metrics) prune(known [numObjectKinds]bool) {
	for k := range objTemplates {
		if !known[k] {
			if m.series.isWatched(k) {
				m.series.takeDeparted(k)
			}
			continue
		}
		kind := kindOf[k]
		var gone []types.NamespacedName
		if m.series.isWatched(k) {
			for _, key := range m.series.takeDeparted(k) {
				if m.reconcile[kind].has(key) {
					gone = append(gone, key)
				}
			}
		} else {
			for _, key := range m.reconcile[kind].keys() {
				if !m.series.holds(k, key) {
					gone = append(gone, key)
				}
			}
		}
		if len(gone) > 0 {
			m.forgetObjects(kind, gone)
		}
	}
}

// forgetObjects removes the counters and histograms of keys, objects of
// kind that are gone, in one pass over each family whatever their number.
func (m *Metrics) forgetObjects(kind Kind, keys []types.NamespacedName) {
	set := make(map[types.NamespacedName]struct{}, len(keys))
	for _, key := range keys {
		set[key] = struct{}{}
		m.reconcile[kind].delete(key)
	}
	// The error and Event counters' first labels are namespace and name.
	named := func(v labelValues) bool {
		_, ok := set[types.NamespacedName{Namespace: v[0], Name: v[1]}]
		return ok
	}
	m.errors[kind].deleteWhere(named)
	m.events.deleteWhere(named)
	resource := resourceOf[kind]
	m.requests.deleteWhere(func(v labelValues) bool {
		if v[0] != resource {
			return false
		}
		_, ok := set[types.NamespacedName{Namespace: v[1], Name: v[2]}]
		return ok
	})
	m.mu.Lock()
	forget := m.forget
	m.mu.Unlock()
	for _, key := range keys {
		for _, f := range forget {
			f(key.Namespace, key.Name)
		}
	}
}

// resourceOf is the API resource of each kind, as the request counter's
// kind label names it.
var resourceOf = map[Kind]string{KindRollout: "rollouts", KindAnalysisRun: "analysisruns", KindExperiment: "experiments"}
