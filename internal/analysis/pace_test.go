package analysis

import (
	"context"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

func TestRoutineWrite(t *testing.T) {
	running := func() *v1alpha1.AnalysisRunStatus {
		return &v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning, MetricResults: []v1alpha1.MetricResult{
			{Name: "web", Phase: v1alpha1.AnalysisPhaseRunning, Count: 3, Successful: 3, Measurements: finished(v1alpha1.AnalysisPhaseSuccessful, 3)},
		}}
	}
	for _, tc := range []struct {
		name   string
		prev   func() *v1alpha1.AnalysisRunStatus
		change func(*v1alpha1.AnalysisRunStatus)
		want   bool
	}{
		{"one more measurement", running, func(s *v1alpha1.AnalysisRunStatus) {
			r := &s.MetricResults[0]
			r.Count, r.Successful = 4, 4
			r.Measurements = finished(v1alpha1.AnalysisPhaseSuccessful, 4)
		}, true},
		{"a failed measurement within the limit", running, func(s *v1alpha1.AnalysisRunStatus) {
			r := &s.MetricResults[0]
			r.Count, r.Failed = 4, 1
			r.Measurements = append(r.Measurements, finished(v1alpha1.AnalysisPhaseFailed, 1)...)
		}, true},
		{"the run's first measurement", func() *v1alpha1.AnalysisRunStatus { return &v1alpha1.AnalysisRunStatus{} },
			func(s *v1alpha1.AnalysisRunStatus) { *s = *running() }, false},
		{"a metric's verdict", running, func(s *v1alpha1.AnalysisRunStatus) {
			s.MetricResults[0].Phase = v1alpha1.AnalysisPhaseFailed
		}, false},
		{"the run's verdict", running, func(s *v1alpha1.AnalysisRunStatus) {
			s.Phase, s.MetricResults[0].Phase = v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseSuccessful
		}, false},
		{"the run's message", running, func(s *v1alpha1.AnalysisRunStatus) { s.Message = "terminated" }, false},
		{"a metric's message", running, func(s *v1alpha1.AnalysisRunStatus) { s.MetricResults[0].Message = "slow" }, false},
		{"a second metric appears", running, func(s *v1alpha1.AnalysisRunStatus) {
			s.MetricResults = append(s.MetricResults, v1alpha1.MetricResult{Name: "job", Phase: v1alpha1.AnalysisPhasePending})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := tc.prev()
			tc.change(next)
			if got := routineWrite(tc.prev(), next); got != tc.want {
				t.Fatalf("routineWrite = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMeasurementPaceFollowsTheClientLimit(t *testing.T) {
	if measurementPace(&rest.Config{QPS: -1}) != nil {
		t.Error("a client without a limit got a measurement pace")
	}
	if measurementPace(nil) != nil {
		t.Error("no client config got a measurement pace")
	}
	p := measurementPace(&rest.Config{QPS: 100, Burst: 200})
	if p == nil || p.QPS() != 100*measurementShare {
		t.Fatalf("pace %v, want %v per second", p, 100*measurementShare)
	}
	// The burst is a share of the client's: that many writes pass at once,
	// the next one does not.
	for i := range int(200 * measurementShare) {
		if !p.TryAccept() {
			t.Fatalf("write %d of the burst was refused", i+1)
		}
	}
	if p.TryAccept() {
		t.Fatal("a write beyond the burst was let through at once")
	}
}

// answerQuerier answers every web measurement with its current value, or
// with err when set.
type answerQuerier struct {
	value float64
	err   error
}

func (a *answerQuerier) Query(context.Context, metricproviders.Request) (metricproviders.Value, error) {
	if a.err != nil {
		return metricproviders.Value{}, a.err
	}
	return metricproviders.Value{Result: a.value, Raw: "v"}, nil
}
