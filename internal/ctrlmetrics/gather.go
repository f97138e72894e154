package ctrlmetrics

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Gatherer serves the families of a registry and, next to them, the info
// gauges of the Metrics it currently points at, handed to the exposition
// as kept rather than passed through the registry. A registry builds a
// protobuf metric, a hash and a consistency check for every series at
// every scrape; for the gauges of thousands of objects that was most of
// what a scrape allocated once the series themselves were kept.
//
// Install one per process in place of the registry the metrics server
// reads, and Serve each new Metrics on it; the counters and histograms of
// that Metrics stay registered with the registry as before.
type Gatherer struct {
	inner   prometheus.Gatherer
	current atomic.Pointer[Metrics]
}

// NewGatherer returns a Gatherer of inner's families.
func NewGatherer(inner prometheus.Gatherer) *Gatherer {
	return &Gatherer{inner: inner}
}

// Serve makes g serve m's info gauges, in place of any earlier Metrics, and
// stops m's Collect from sending them through the registry.
func (g *Gatherer) Serve(m *Metrics) {
	m.direct.Store(true)
	g.current.Store(m)
}

// Gather implements prometheus.Gatherer.
func (g *Gatherer) Gather() ([]*dto.MetricFamily, error) {
	// The registry's gathering runs the Metrics' Collect, which refreshes
	// the kinds it lists and prunes the counters of deleted objects.
	fams, err := g.inner.Gather()
	m := g.current.Load()
	if m == nil {
		return fams, err
	}
	own := m.series.families()
	if len(own) == 0 {
		return fams, err
	}
	fams = append(fams, own...)
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return fams, err
}

// families returns the info gauges of every kind the store knows in full,
// one family per name, each sorted as a registry sorts its series. A
// scrape allocates the families and one protobuf metric per series; the
// label pairs and values are the kept ones.
func (s *seriesStore) families() []*dto.MetricFamily {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := map[*prometheus.Desc]int{}
	for k := range s.kinds {
		if !s.kinds[k].known {
			continue
		}
		for _, e := range s.kinds[k].objects {
			if e.pending != nil {
				e.refresh(objectKind(k), e.pending)
				e.pending = nil
			}
			for i := range e.series {
				counts[e.series[i].desc]++
			}
		}
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	ms := make([]dto.Metric, total)
	byDesc := make(map[*prometheus.Desc]*dto.MetricFamily, len(counts))
	out := make([]*dto.MetricFamily, 0, len(counts))
	for d, n := range counts {
		meta := infoFamilies[d]
		f := &dto.MetricFamily{Name: &meta.name, Help: &meta.help, Type: dto.MetricType_GAUGE.Enum(),
			Metric: make([]*dto.Metric, 0, n)}
		byDesc[d] = f
		out = append(out, f)
	}
	for k := range s.kinds {
		if !s.kinds[k].known {
			continue
		}
		for _, e := range s.kinds[k].objects {
			for i := range e.series {
				m := &ms[0]
				ms = ms[1:]
				m.Label = e.series[i].labels
				m.Gauge = e.series[i].value
				f := byDesc[e.series[i].desc]
				f.Metric = append(f.Metric, m)
			}
		}
	}
	for _, f := range out {
		slices.SortFunc(f.Metric, compareLabelValues)
	}
	return out
}

// compareLabelValues orders two series of one family by their label
// values, as the registry orders them.
func compareLabelValues(a, b *dto.Metric) int {
	for i := range min(len(a.Label), len(b.Label)) {
		if c := strings.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return len(a.Label) - len(b.Label)
}
