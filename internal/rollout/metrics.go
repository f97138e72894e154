package rollout

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// The release histograms carry the reference's names, buckets and single
// status label (how the release ended), so dashboards built for it read
// Kanaria unchanged. They name no Rollout: a label per Rollout would
// multiply every bucket by the number of Rollouts; status.duration holds
// the per-Rollout figures.
var (
	releaseTotal = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rollout_duration_seconds",
		Help:    "Wall-clock time of each release from its start to its end (status.duration).",
		Buckets: []float64{30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800},
	}, []string{"status"})
	releaseProgression = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rollout_progression_duration_seconds",
		Help:    "Time each release spent progressing: its total duration less the time it waited for a person.",
		Buckets: []float64{30, 60, 120, 300, 600, 900, 1800, 3600},
	}, []string{"status"})
	releaseManualPause = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rollout_manual_pause_duration_seconds",
		Help:    "Time each release waited for a person: spec.paused, indefinite pauses, manual blue-green promotion, inconclusive analysis.",
		Buckets: []float64{0, 60, 300, 600, 1800, 3600, 7200, 14400, 28800},
	}, []string{"status"})
)

func init() {
	crmetrics.Registry.MustRegister(releaseTotal, releaseProgression, releaseManualPause)
}

// observeReleases records the releases a decision ended, once the status
// that records them is written: a write that fails is decided again and
// would otherwise count the same release twice.
func observeReleases(releases []decide.ReleaseTiming) {
	for _, r := range releases {
		status := string(r.CompletionStatus)
		releaseTotal.WithLabelValues(status).Observe(r.Duration.Seconds())
		releaseProgression.WithLabelValues(status).Observe(max(r.Duration-r.ManualPause, 0).Seconds())
		releaseManualPause.WithLabelValues(status).Observe(r.ManualPause.Seconds())
	}
}
