package analysis

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
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

// countingLimiter counts the writes that waited for it; it never makes one
// wait.
type countingLimiter struct{ waits int }

func (c *countingLimiter) TryAccept() bool                { return true }
func (c *countingLimiter) Accept()                        { c.waits++ }
func (c *countingLimiter) Stop()                          {}
func (c *countingLimiter) QPS() float32                   { return 1 }
func (c *countingLimiter) Wait(ctx context.Context) error { c.waits++; return ctx.Err() }

// answerQuerier answers every web measurement with its current value.
type answerQuerier struct{ value float64 }

func (a *answerQuerier) Query(context.Context, metricproviders.Request) (metricproviders.Value, error) {
	return metricproviders.Value{Result: a.value, Raw: "v"}, nil
}

// TestOnlyRoutineMeasurementsWait runs one AnalysisRun through its
// reconciles: the first measurement (the run starts) and the one that fails
// it are written at once, the routine ones in between wait for the pace.
func TestOnlyRoutineMeasurementsWait(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	limit := intstr.FromInt32(1)
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bg"},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{
			Name: "m", Interval: "1s", SuccessCondition: "result == 1", FailureLimit: &limit,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://ok.example/health"}},
		}}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(run).WithStatusSubresource(run).Build()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := &answerQuerier{value: 1}
	pace := &countingLimiter{}
	r := &Reconciler{
		Client: c, Recorder: record.NewFakeRecorder(100), Conditions: condition.NewEvaluator(),
		Queriers: map[string]metricproviders.Querier{"web": q}, Now: func() time.Time { return now },
		MeasurementWrites: pace,
	}
	reconcile := func() *v1alpha1.AnalysisRun {
		t.Helper()
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(run)}); err != nil {
			t.Fatal(err)
		}
		var got v1alpha1.AnalysisRun
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(run), &got); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
		return &got
	}

	if got := reconcile(); got.Status.Phase != v1alpha1.AnalysisPhaseRunning || pace.waits != 0 {
		t.Fatalf("first measurement: phase %s, %d waits; want Running written at once", got.Status.Phase, pace.waits)
	}
	for i := 2; i <= 3; i++ {
		got := reconcile()
		if n := got.Status.MetricResults[0].Count; n != int32(i) || pace.waits != i-1 {
			t.Fatalf("routine measurement %d: count %d, %d waits; want each written after one wait", i, n, pace.waits)
		}
	}
	// Two failures exceed the failure limit of 1: the first is routine,
	// the second is the verdict.
	q.value = 0
	reconcile()
	if pace.waits != 3 {
		t.Fatalf("a failure within the limit: %d waits, want 3", pace.waits)
	}
	got := reconcile()
	if got.Status.Phase != v1alpha1.AnalysisPhaseFailed || pace.waits != 3 {
		t.Fatalf("the failing measurement: phase %s, %d waits; want Failed written without waiting", got.Status.Phase, pace.waits)
	}
}
