package rollout

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// histogramOf returns the count and sum of the series with these labels.
func histogramOf(t *testing.T, h *prometheus.HistogramVec, labels prometheus.Labels) (uint64, float64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			match := 0
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] == lp.GetValue() {
					match++
				}
			}
			if match == len(labels) {
				return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
		}
	}
	return 0, 0
}

func TestReleaseMetrics(t *testing.T) {
	web := types.NamespacedName{Namespace: "metrics-test", Name: "web"}
	api := types.NamespacedName{Namespace: "metrics-test", Name: "api"}
	t.Cleanup(func() { forgetReleases(web); forgetReleases(api) })
	observeReleases(web, []decide.ReleaseTiming{
		{CompletionStatus: v1alpha1.CompletionStatusSuperseded, Duration: 40 * time.Second},
		{CompletionStatus: v1alpha1.CompletionStatusPromoted, Duration: 10 * time.Minute, ManualPause: 7 * time.Minute},
	})
	observeReleases(web, []decide.ReleaseTiming{{CompletionStatus: v1alpha1.CompletionStatusPromoted, Duration: 2 * time.Minute}})
	observeReleases(api, []decide.ReleaseTiming{{CompletionStatus: v1alpha1.CompletionStatusAborted, Duration: time.Minute}})

	if problems, err := testutil.CollectAndLint(releaseDuration); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	if n := testutil.CollectAndCount(releaseDuration); n != 3 {
		t.Fatalf("%d duration series, want 3: web Superseded and Promoted, api Aborted", n)
	}
	promoted := prometheus.Labels{"namespace": "metrics-test", "name": "web", "completion_status": "Promoted"}
	if n, sum := histogramOf(t, releaseDuration, promoted); n != 2 || sum != 720 {
		t.Fatalf("web Promoted duration: %d releases, %v s; want 2, 720 s", n, sum)
	}
	if n, sum := histogramOf(t, releaseManualPause, promoted); n != 2 || sum != 420 {
		t.Fatalf("web Promoted manual pause: %d releases, %v s; want 2, 420 s", n, sum)
	}
	forgetReleases(web)
	if n := testutil.CollectAndCount(releaseDuration); n != 1 {
		t.Fatalf("%d duration series after web was deleted, want api's alone", n)
	}
}
