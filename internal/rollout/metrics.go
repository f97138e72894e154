package rollout

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// releaseBuckets span a release from a quarter of a minute to about eight
// and a half hours, doubling: releases range from an unpaused canary to one
// that waits overnight for a person.
var releaseBuckets = prometheus.ExponentialBuckets(15, 2, 12)

// The release metrics carry the Rollout and how its release ended, never a
// ReplicaSet, Pod or revision, so a Rollout has at most one series per
// completion status however many releases it makes.
var (
	releaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kanaria_rollout_release_duration_seconds",
		Help:    "Wall-clock time of each release of a Rollout, from the desired version differing from the stable one until it was promoted, aborted or replaced (status.duration).",
		Buckets: releaseBuckets,
	}, []string{"namespace", "name", "completion_status"})
	releaseManualPause = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kanaria_rollout_release_manual_pause_seconds",
		Help:    "Time each release of a Rollout spent waiting for a person: spec.paused, indefinite pauses, manual blue-green promotion, inconclusive analysis (status.duration.totalManualPauseDurationSeconds).",
		Buckets: releaseBuckets,
	}, []string{"namespace", "name", "completion_status"})
)

func init() {
	crmetrics.Registry.MustRegister(releaseDuration, releaseManualPause)
}

// observeReleases records the releases a decision ended, once the status
// that records them is written: a write that fails is decided again and
// would otherwise count the same release twice.
func observeReleases(key types.NamespacedName, releases []decide.ReleaseTiming) {
	for _, r := range releases {
		labels := prometheus.Labels{"namespace": key.Namespace, "name": key.Name, "completion_status": string(r.CompletionStatus)}
		releaseDuration.With(labels).Observe(r.Duration.Seconds())
		releaseManualPause.With(labels).Observe(r.ManualPause.Seconds())
	}
}

// forgetReleases drops a deleted Rollout's series.
func forgetReleases(key types.NamespacedName) {
	labels := prometheus.Labels{"namespace": key.Namespace, "name": key.Name}
	releaseDuration.DeletePartialMatch(labels)
	releaseManualPause.DeletePartialMatch(labels)
}
