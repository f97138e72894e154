package ctrlmetrics

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/types"
)

// The reconcile histograms and the error, Event and request counters have
// series per object. As client_golang vecs each series was a collector of
// its own (label pairs, two sets of bucket counts, exemplar slots, a hash
// map entry), a few KiB per idle Rollout kept for a handful of numbers.
// Here a series is only its label values and its numbers; the protobuf
// metric is built when it is scraped, as client_golang's own Write builds
// its value anyway. What a scrape shows is unchanged: the same names,
// labels, values and creation times, sorted by the registry as before.

// maxLabels is the most variable labels a per-object family has (the
// request counter's kind, namespace, name, verb and status code).
const maxLabels = 5

// labelValues are a series' label values in the order of its family's
// label names, the unused tail empty.
type labelValues [maxLabels]string

// counterValue is one counter series.
type counterValue struct {
	value float64
	// created is when the series appeared, in Unix nanoseconds, as
	// client_golang reports it with each counter.
	created int64
}

// counterVec is a counter family whose series are kept as numbers.
type counterVec struct {
	desc  *prometheus.Desc
	names []string
	// order lists the label indexes sorted by label name, the order of a
	// metric's label pairs.
	order []int
	now   func() time.Time

	mu     sync.Mutex
	series map[labelValues]counterValue
}

func newCounterVec(name, help string, labels ...string) *counterVec {
	return &counterVec{
		desc:   prometheus.NewDesc(name, help, labels, nil),
		names:  labels,
		order:  nameOrder(labels),
		now:    time.Now,
		series: map[labelValues]counterValue{},
	}
}

// nameOrder returns the indexes of names sorted by name.
func nameOrder(names []string) []int {
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	return order
}

func keyFrom(values []string) labelValues {
	var k labelValues
	copy(k[:], values)
	return k
}

// add adds v to the series of values, creating it at zero first.
func (c *counterVec) add(v float64, values ...string) {
	k := keyFrom(values)
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.series[k]
	if !ok {
		s.created = c.now().UnixNano()
	}
	s.value += v
	c.series[k] = s
}

// value returns the count of the series of values, 0 when it has none.
func (c *counterVec) value(values ...string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.series[keyFrom(values)].value
}

// deleteWhere removes every series whose label values drop reports.
func (c *counterVec) deleteWhere(drop func(labelValues) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.series {
		if drop(k) {
			delete(c.series, k)
		}
	}
}

// Describe implements prometheus.Collector.
func (c *counterVec) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *counterVec) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	out := make([]counterMetric, 0, len(c.series))
	for k, s := range c.series {
		out = append(out, counterMetric{vec: c, labels: k, counterValue: s})
	}
	c.mu.Unlock()
	for i := range out {
		ch <- &out[i]
	}
}

// counterMetric is one counter series as scraped, with room for its label
// pairs, so that a scrape's series take one allocation together.
type counterMetric struct {
	vec    *counterVec
	labels labelValues
	counterValue
	pairs scrapedPairs
}

// Desc implements prometheus.Metric.
func (m *counterMetric) Desc() *prometheus.Desc { return m.vec.desc }

// Write implements prometheus.Metric.
func (m *counterMetric) Write(out *dto.Metric) error {
	out.Label = m.pairs.fill(m.vec.names, m.vec.order, &m.labels)
	out.Counter = &dto.Counter{
		Value:            new(m.value),
		CreatedTimestamp: timestamppb.New(time.Unix(0, m.created)),
	}
	return nil
}

// scrapedPairs holds the label pairs of one scraped series.
type scrapedPairs struct {
	list [maxLabels]*dto.LabelPair
	name dto.LabelPair
}

// fill returns the label pairs of values, sorted by name. Only the
// object's name gets a pair of its own, in p; the other values
// (namespaces, kinds, verbs, codes, Event types and reasons) come from a
// small set and take the shared pairs.
func (p *scrapedPairs) fill(names []string, order []int, values *labelValues) []*dto.LabelPair {
	for i, j := range order {
		if names[j] == "name" {
			p.name.Name, p.name.Value = nameLabel, &values[j]
			p.list[i] = &p.name
		} else {
			p.list[i] = sharedPair(names[j], values[j])
		}
	}
	return p.list[:len(names):len(names)]
}

// nameLabel is the one copy of the label name "name".
var nameLabel = func() *string {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	return labelName("name")
}()

// histogramCounts is one reconcile histogram series: the observations per
// bucket (not cumulative), their count, including those above the last
// bucket, and their sum.
type histogramCounts struct {
	buckets [len(reconcileBuckets)]uint64
	count   uint64
	sum     float64
	created int64
}

// histogramVec is a reconcile histogram family, one series per object.
type histogramVec struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu     sync.Mutex
	series map[types.NamespacedName]histogramCounts
}

// nameLabels are the label names of a per-object family.
var nameLabels = []string{"namespace", "name"}

// nameOrderOfNames sorts nameLabels by name.
var nameOrderOfNames = nameOrder(nameLabels)

func newHistogramVec(name, help string) *histogramVec {
	return &histogramVec{
		desc:   prometheus.NewDesc(name, help, nameLabels, nil),
		now:    time.Now,
		series: map[types.NamespacedName]histogramCounts{},
	}
}

// observe records one observation of v seconds for key. A value on a
// bucket's upper bound counts in that bucket, as in client_golang.
func (h *histogramVec) observe(key types.NamespacedName, v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.series[key]
	if !ok {
		s.created = h.now().UnixNano()
	}
	if i, _ := slices.BinarySearch(reconcileBuckets[:], v); i < len(s.buckets) {
		s.buckets[i]++
	}
	s.count++
	s.sum += v
	h.series[key] = s
}

// has reports whether key has a series.
func (h *histogramVec) has(key types.NamespacedName) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.series[key]
	return ok
}

// keys returns the objects that have a series.
func (h *histogramVec) keys() []types.NamespacedName {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]types.NamespacedName, 0, len(h.series))
	for k := range h.series {
		out = append(out, k)
	}
	return out
}

// delete removes the series of key.
func (h *histogramVec) delete(key types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.series, key)
}

// Describe implements prometheus.Collector.
func (h *histogramVec) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector.
func (h *histogramVec) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	out := make([]histogramMetric, 0, len(h.series))
	for k, s := range h.series {
		out = append(out, histogramMetric{desc: h.desc, labels: labelValues{k.Namespace, k.Name}, counts: s})
	}
	h.mu.Unlock()
	for i := range out {
		ch <- &out[i]
	}
}

// histogramMetric is one histogram series as scraped.
type histogramMetric struct {
	desc   *prometheus.Desc
	labels labelValues
	counts histogramCounts
	pairs  scrapedPairs
}

// Desc implements prometheus.Metric.
func (m *histogramMetric) Desc() *prometheus.Desc { return m.desc }

// Write implements prometheus.Metric with what client_golang's classic
// histogram writes: cumulative buckets without the +Inf one, which the
// exposition adds from the count.
func (m *histogramMetric) Write(out *dto.Metric) error {
	out.Label = m.pairs.fill(nameLabels, nameOrderOfNames, &m.labels)
	buckets := make([]dto.Bucket, len(reconcileBuckets))
	h := &dto.Histogram{
		Bucket:           make([]*dto.Bucket, len(reconcileBuckets)),
		SampleCount:      new(m.counts.count),
		SampleSum:        new(m.counts.sum),
		CreatedTimestamp: timestamppb.New(time.Unix(0, m.counts.created)),
	}
	var cum uint64
	for i := range reconcileBuckets {
		cum += m.counts.buckets[i]
		buckets[i].CumulativeCount = new(cum)
		buckets[i].UpperBound = &reconcileBuckets[i]
		h.Bucket[i] = &buckets[i]
	}
	out.Histogram = h
	return nil
}
