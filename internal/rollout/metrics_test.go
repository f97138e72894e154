package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// histogramOf returns the count and sum of one status's series.
func histogramOf(t *testing.T, h *prometheus.HistogramVec, status v1alpha1.CompletionStatus) (uint64, float64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "status" && lp.GetValue() == string(status) {
					return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return 0, 0
}

func TestReleaseMetrics(t *testing.T) {
	for _, h := range []*prometheus.HistogramVec{releaseTotal, releaseProgression, releaseManualPause} {
		h.Reset()
	}
	observeReleases([]decide.ReleaseTiming{
		{CompletionStatus: v1alpha1.CompletionStatusSuperseded, Duration: 40 * time.Second},
		{CompletionStatus: v1alpha1.CompletionStatusPromoted, Duration: 10 * time.Minute, ManualPause: 7 * time.Minute},
	})
	observeReleases([]decide.ReleaseTiming{{CompletionStatus: v1alpha1.CompletionStatusPromoted, Duration: 2 * time.Minute}})
	observeReleases([]decide.ReleaseTiming{{CompletionStatus: v1alpha1.CompletionStatusFastRollbacked, Duration: time.Minute}})

	if n := testutil.CollectAndCount(releaseTotal); n != 3 {
		t.Fatalf("%d total series, want one per status: superseded, promoted, fast-rollbacked", n)
	}
	for _, tc := range []struct {
		h    *prometheus.HistogramVec
		name string
		want float64
	}{
		{releaseTotal, "total", 720},
		{releaseProgression, "progression", 300},
		{releaseManualPause, "manual pause", 420},
	} {
		if n, sum := histogramOf(t, tc.h, v1alpha1.CompletionStatusPromoted); n != 2 || sum != tc.want {
			t.Fatalf("promoted %s: %d releases, %v s; want 2, %v s", tc.name, n, sum, tc.want)
		}
	}
	// The exposition carries the reference's names, buckets and single
	// label; a release that never waited lands in the 0 bucket.
	for _, tc := range []struct {
		h     *prometheus.HistogramVec
		name  string
		lines []string
	}{
		{releaseTotal, "rollout_duration_seconds", []string{`rollout_duration_seconds_bucket{status="fast-rollbacked",le="30"} 0`, `rollout_duration_seconds_bucket{status="fast-rollbacked",le="60"} 1`, `le="28800"`}},
		{releaseProgression, "rollout_progression_duration_seconds", []string{`rollout_progression_duration_seconds_bucket{status="promoted",le="120"} 1`, `le="900"`}},
		{releaseManualPause, "rollout_manual_pause_duration_seconds", []string{`rollout_manual_pause_duration_seconds_bucket{status="fast-rollbacked",le="0"} 1`, `rollout_manual_pause_duration_seconds_bucket{status="promoted",le="0"} 1`}},
	} {
		out, err := testutil.CollectAndFormat(tc.h, expfmt.TypeTextPlain, tc.name)
		if err != nil {
			t.Fatalf("format: %v", err)
		}
		for _, l := range tc.lines {
			if !strings.Contains(string(out), l) {
				t.Fatalf("exposition lacks %q:\n%s", l, out)
			}
		}
	}
}
