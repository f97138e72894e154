package ctrlmetrics

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// The per-object gauges are rendered once per resourceVersion of their
// object and kept: at thousands of Rollouts, building every label pair of
// every series anew at each scrape made the metrics page the controller's
// largest allocator, and the garbage it left set how high the heap climbed.
// A scrape now hands the registry the kept series, whose parts are shared
// and never changed after rendering, as the protobuf contract of a
// collected metric requires.

// objectKind is a kind of object with per-object gauges.
type objectKind int

const (
	objRollouts objectKind = iota
	objRuns
	objExperiments
	objTemplates
	objClusterTemplates
	numObjectKinds
)

// kindOf is the reconciled Kind whose counters an objectKind's liveness
// prunes; templates have none.
var kindOf = [numObjectKinds]Kind{objRollouts: KindRollout, objRuns: KindAnalysisRun, objExperiments: KindExperiment}

// newObject returns an empty object of k, for an informer to be asked for.
func newObject(k objectKind) client.Object {
	switch k {
	case objRollouts:
		return &v1alpha1.Rollout{}
	case objRuns:
		return &v1alpha1.AnalysisRun{}
	case objExperiments:
		return &v1alpha1.Experiment{}
	case objTemplates:
		return &v1alpha1.AnalysisTemplate{}
	default:
		return &v1alpha1.ClusterAnalysisTemplate{}
	}
}

// gaugeSeries is one rendered gauge. Write hands out its parts rather than
// copies: they are never changed once rendered.
type gaugeSeries struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  *dto.Gauge
}

// Desc implements prometheus.Metric.
func (s *gaugeSeries) Desc() *prometheus.Desc { return s.desc }

// Write implements prometheus.Metric.
func (s *gaugeSeries) Write(out *dto.Metric) error {
	out.Label = s.labels
	out.Gauge = s.value
	return nil
}

// objectSeries is what is kept of one object: the series of the version
// last rendered, and the newest version an informer delivered, until the
// next scrape renders it.
type objectSeries struct {
	rv      string
	series  []gaugeSeries
	pending client.Object
	// scrape is the number of the last scrape whose list held the object,
	// for kinds read by listing.
	scrape uint64
}

// kindSeries holds the objects of one kind. A watched kind is kept current
// by its informer's events; any other is listed at each scrape.
type kindSeries struct {
	watched bool
	// known is whether the objects are all there: always for a watched
	// kind, and for a listed one when its last list succeeded.
	known   bool
	objects map[types.NamespacedName]*objectSeries
	// departed are the watched objects deleted since the last scrape. Their
	// counters are pruned from deletions rather than by absence, since the
	// store's informer handler may lag the controller's by an event, and a
	// Rollout reconciled a moment before its Add reached the store must
	// keep its counts.
	departed map[types.NamespacedName]struct{}
}

// seriesStore is the kept series of every kind, guarded by mu.
type seriesStore struct {
	mu     sync.Mutex
	kinds  [numObjectKinds]kindSeries
	scrape uint64
	// skipped kinds are neither watched nor listed, and serve no gauges.
	skipped [numObjectKinds]bool
}

func newSeriesStore() *seriesStore {
	s := &seriesStore{}
	for k := range s.kinds {
		s.kinds[k].objects = map[types.NamespacedName]*objectSeries{}
	}
	return s
}

func keyOf(obj client.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// seen records obj as the newest version of its object; it is rendered at
// the next scrape, so a burst of updates between scrapes costs one render.
func (s *seriesStore) seen(k objectKind, obj client.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := keyOf(obj)
	e := s.kinds[k].objects[key]
	if e == nil {
		e = &objectSeries{}
		s.kinds[k].objects[key] = e
	}
	e.pending = obj
}

// gone forgets obj's series and records that it left, for its counters to
// be pruned at the next scrape.
func (s *seriesStore) gone(k objectKind, obj client.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := keyOf(obj)
	delete(s.kinds[k].objects, key)
	s.kinds[k].markDeparted(key)
}

// markDeparted records key for its counters to be pruned at the next
// scrape. The store's mu is held.
func (ks *kindSeries) markDeparted(key types.NamespacedName) {
	if ks.departed == nil {
		ks.departed = map[types.NamespacedName]struct{}{}
	}
	ks.departed[key] = struct{}{}
}

// reconciledAbsent records, after a reconcile of key, that key departed
// when the store watches the objects of kind and does not hold key. An
// object's last reconcile (the pass that finds it deleted and cleans up
// after it) can run after the scrape that pruned it, when a burst of
// deletions keeps the queue long: its reconcile time and its requests
// would then start new series that no later deletion prunes. Marked again
// here, they go at the next scrape, unless the object exists by then: the
// store's handler may see an object's creation a moment after a
// reconcile of it, and takeDeparted keeps what came back.
func (s *seriesStore) reconciledAbsent(kind Kind, key types.NamespacedName) {
	k, ok := objectKindOf(kind)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := &s.kinds[k]
	if !ks.watched {
		// A listed kind is pruned by absence at every scrape.
		return
	}
	if _, held := ks.objects[key]; !held {
		ks.markDeparted(key)
	}
}

// objectKindOf is the objectKind whose liveness prunes kind's counters.
func objectKindOf(kind Kind) (objectKind, bool) {
	for k, v := range kindOf {
		if v == kind && objectKind(k) < objTemplates {
			return objectKind(k), true
		}
	}
	return 0, false
}

// takeDeparted returns the objects of a watched kind k deleted since the
// last call that do not exist again.
func (s *seriesStore) takeDeparted(k objectKind) []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []types.NamespacedName
	for key := range s.kinds[k].departed {
		if _, back := s.kinds[k].objects[key]; !back {
			out = append(out, key)
		}
	}
	s.kinds[k].departed = nil
	return out
}

// handler keeps kind k of the store current from an informer's events.
func (s *seriesStore) handler(k objectKind) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(client.Object); ok {
				s.seen(k, o)
			}
		},
		UpdateFunc: func(_, obj any) {
			if o, ok := obj.(client.Object); ok {
				s.seen(k, o)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(client.Object); ok {
				s.gone(k, o)
			}
		},
	}
}

// informerSource is the part of the manager's cache that hands out
// informers.
type informerSource interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// watch subscribes the store to src's informers; a kind whose informer
// cannot be had stays listed at each scrape.
func (s *seriesStore) watch(src informerSource) []error {
	var errs []error
	for k := range numObjectKinds {
		if s.skipped[k] {
			continue
		}
		inf, err := src.GetInformer(context.Background(), newObject(k), cache.BlockUntilSynced(false))
		if err == nil {
			_, err = inf.AddEventHandler(s.handler(k))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.mu.Lock()
		s.kinds[k].watched, s.kinds[k].known = true, true
		s.mu.Unlock()
	}
	return errs
}

// render returns the series of obj, a version of an object of kind k.
func render(k objectKind, obj client.Object) []gaugeSeries {
	var b seriesBuilder
	switch o := obj.(type) {
	case *v1alpha1.Rollout:
		b.rollout(o)
	case *v1alpha1.AnalysisRun:
		b.analysisRun(o)
	case *v1alpha1.Experiment:
		b.experiment(o)
	case *v1alpha1.AnalysisTemplate:
		b.template(o.Namespace, o.Name, &o.Spec)
	case *v1alpha1.ClusterAnalysisTemplate:
		b.template("", o.Name, &o.Spec)
	}
	return b.series()
}

// refresh renders e from obj unless it already shows obj's version. An
// object without a resourceVersion is always rendered anew.
func (e *objectSeries) refresh(k objectKind, obj client.Object) {
	rv := obj.GetResourceVersion()
	if e.series != nil && rv != "" && rv == e.rv {
		return
	}
	e.rv, e.series = rv, render(k, obj)
}

// listed replaces the store's objects of an unwatched kind k with items,
// the objects its list read at this scrape.
func (s *seriesStore) listed(k objectKind, items []client.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scrape++
	objs := s.kinds[k].objects
	for _, obj := range items {
		key := keyOf(obj)
		e := objs[key]
		if e == nil {
			e = &objectSeries{}
			objs[key] = e
		}
		e.refresh(k, obj)
		e.scrape = s.scrape
	}
	for key, e := range objs {
		if e.scrape != s.scrape {
			delete(objs, key)
		}
	}
}

// collect sends the series of every object of kind k, rendering those
// whose newest version has not been yet. The series are sent after the
// store is unlocked: the registry consumes them as it encodes the page,
// and informer handlers and every reconcile's end take the same lock. A
// render replaces an object's series rather than changing them, so the
// ones taken here stay as they were.
func (s *seriesStore) collect(k objectKind, ch chan<- prometheus.Metric) {
	s.mu.Lock()
	rendered := make([][]gaugeSeries, 0, len(s.kinds[k].objects))
	for _, e := range s.kinds[k].objects {
		if e.pending != nil {
			e.refresh(k, e.pending)
			// The informer has the object; keeping it here too would
			// hold an old version alive after the next update.
			e.pending = nil
		}
		rendered = append(rendered, e.series)
	}
	s.mu.Unlock()
	for _, series := range rendered {
		for i := range series {
			ch <- &series[i]
		}
	}
}

// holds reports whether the store knows that key of kind k exists.
func (s *seriesStore) holds(k objectKind, key types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.kinds[k].objects[key]
	return ok
}

// setKnown records whether the list of an unwatched kind k succeeded.
func (s *seriesStore) setKnown(k objectKind, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kinds[k].known = known
}

func (s *seriesStore) isWatched(k objectKind) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kinds[k].watched
}

// Parts shared by every series that has them. Label values from a small
// set (strategies, routers, phases, provider types) get one label pair
// each, kept for the life of the process; the set is bounded so that a
// status field holding arbitrary text cannot grow it without end.
var (
	gaugeZero = &dto.Gauge{Value: new(float64(0))}
	gaugeOne  = &dto.Gauge{Value: new(float64(1))}

	sharedMu    sync.Mutex
	sharedPairs = map[[2]string]*dto.LabelPair{}
	labelNames  = map[string]*string{}
)

// maxSharedPairs bounds sharedPairs.
const maxSharedPairs = 512

func labelName(name string) *string {
	if p, ok := labelNames[name]; ok {
		return p
	}
	p := new(name)
	labelNames[name] = p
	return p
}

// sharedPair is the one label pair of name and value, for label values
// from a small set.
func sharedPair(name, value string) *dto.LabelPair {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	key := [2]string{name, value}
	if p, ok := sharedPairs[key]; ok {
		return p
	}
	p := &dto.LabelPair{Name: labelName(name), Value: new(value)}
	if len(sharedPairs) < maxSharedPairs {
		sharedPairs[key] = p
	}
	return p
}

// ownPair is a label pair of one object's own (its namespace, its name, a
// metric's name), shared only among that object's series.
func ownPair(name, value string) *dto.LabelPair {
	sharedMu.Lock()
	n := labelName(name)
	sharedMu.Unlock()
	return &dto.LabelPair{Name: n, Value: new(value)}
}

func gaugeOf(v float64) *dto.Gauge {
	switch v {
	case 0:
		return gaugeZero
	case 1:
		return gaugeOne
	}
	return &dto.Gauge{Value: new(v)}
}

// seriesBuilder collects the rendered series of one object. The series and
// their label slices are gathered in scratch buffers and copied, at the
// end, into one exact-size array each, since they are kept as long as the
// object exists.
type seriesBuilder struct {
	out    []gaugeSeries
	labels []*dto.LabelPair
	ends   []int
}

// add appends a gauge with the label pairs given, sorted by name as the
// exposition requires.
func (b *seriesBuilder) add(d *prometheus.Desc, v float64, pairs ...*dto.LabelPair) {
	start := len(b.labels)
	b.labels = append(b.labels, pairs...)
	labels := b.labels[start:]
	for i := 1; i < len(labels); i++ {
		for j := i; j > 0 && *labels[j].Name < *labels[j-1].Name; j-- {
			labels[j], labels[j-1] = labels[j-1], labels[j]
		}
	}
	b.out = append(b.out, gaugeSeries{desc: d, value: gaugeOf(v)})
	b.ends = append(b.ends, len(b.labels))
}

// series returns the rendered series, each with its own label slice, all
// in two allocations.
func (b *seriesBuilder) series() []gaugeSeries {
	if len(b.out) == 0 {
		return nil
	}
	labels := make([]*dto.LabelPair, len(b.labels))
	copy(labels, b.labels)
	out := make([]gaugeSeries, len(b.out))
	start := 0
	for i, s := range b.out {
		end := b.ends[i]
		s.labels = labels[start:end:end]
		out[i] = s
		start = end
	}
	return out
}
