package analysis

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// staleReads counts the reconciles that found a run's cache behind the
// controller's own last status write, by what they did about it: under a
// loaded API server the write's watch event comes late, and this tells how
// often a measurement went on from the written copy rather than waiting.
var staleReads = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "kanaria_analysisrun_stale_cache_reads_total",
	Help: "AnalysisRun reconciles that found the cache behind the controller's own last status write, by what they did: written_copy (went on from the run as that write returned it) or waited (no copy, the write's watch event brings the run back).",
}, []string{"action"})

// Actions of staleReads.
const (
	staleWrittenCopy = "written_copy"
	staleWaited      = "waited"
)

func init() {
	crmetrics.Registry.MustRegister(staleReads)
}
