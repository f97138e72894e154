package analysis

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// batchHarness runs one AnalysisRun with one web metric through its
// reconciles on a fake clock and counts the status writes that reach the
// API server.
type batchHarness struct {
	t       *testing.T
	c       client.Client
	r       *Reconciler
	q       *answerQuerier
	now     time.Time
	key     client.ObjectKey
	patches int
	// taken counts the measurements the reconciler took.
	taken int
}

func newBatchHarness(t *testing.T, m v1alpha1.Metric, window time.Duration) *batchHarness {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	m.Name = "m"
	m.SuccessCondition = "result == 1"
	m.Provider = v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://ok.example/health"}}
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bg", UID: "uid-1"},
		Spec:       v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{m}},
	}
	h := &batchHarness{t: t, q: &answerQuerier{value: 1}, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), key: client.ObjectKeyFromObject(run)}
	h.c = fake.NewClientBuilder().WithScheme(scheme).WithObjects(run).WithStatusSubresource(run).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				h.patches++
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		}).Build()
	counting := &countingQuerier{inner: h.q, n: &h.taken}
	h.r = &Reconciler{
		Client: h.c, Recorder: record.NewFakeRecorder(100), Conditions: condition.NewEvaluator(),
		Queriers: map[string]metricproviders.Querier{"web": counting}, Now: func() time.Time { return h.now },
		StatusBatch: window,
	}
	return h
}

// countingQuerier counts the measurements it answers.
type countingQuerier struct {
	inner metricproviders.Querier
	n     *int
}

func (c *countingQuerier) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	*c.n++
	return c.inner.Query(ctx, req)
}

// reconcile runs one reconcile at the harness's clock and returns the run
// as the API server holds it.
func (h *batchHarness) reconcile() (ctrl.Result, *v1alpha1.AnalysisRun) {
	h.t.Helper()
	res, err := h.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: h.key})
	if err != nil {
		h.t.Fatal(err)
	}
	return res, h.stored()
}

func (h *batchHarness) stored() *v1alpha1.AnalysisRun {
	h.t.Helper()
	var got v1alpha1.AnalysisRun
	if err := h.c.Get(context.Background(), h.key, &got); err != nil {
		h.t.Fatal(err)
	}
	return &got
}

// every takes one measurement a second for n seconds.
func (h *batchHarness) every(n int) *v1alpha1.AnalysisRun {
	h.t.Helper()
	var got *v1alpha1.AnalysisRun
	for range n {
		h.now = h.now.Add(time.Second)
		var res ctrl.Result
		res, got = h.reconcile()
		if res.RequeueAfter <= 0 || res.RequeueAfter > time.Second {
			h.t.Fatalf("requeued after %v, want the next measurement's second", res.RequeueAfter)
		}
	}
	return got
}

func countOf(run *v1alpha1.AnalysisRun) int {
	if len(run.Status.MetricResults) == 0 {
		return 0
	}
	return int(run.Status.MetricResults[0].Count)
}

// Successes of a metric measured every second reach the API server in one
// write per window; the status never lags the measurements by a window's
// worth, and terminating the run writes the ones still held.
func TestBatchWritesSuccessesOncePerWindow(t *testing.T) {
	h := newBatchHarness(t, v1alpha1.Metric{Interval: "1s"}, 5*time.Second)
	if _, got := h.reconcile(); got.Status.Phase != running || h.patches != 1 {
		t.Fatalf("first measurement: phase %s after %d writes; want Running written at once", got.Status.Phase, h.patches)
	}
	for range 20 {
		got := h.every(1)
		if lag := h.taken - countOf(got); lag < 0 || lag >= 6 {
			t.Fatalf("after %d measurements the status counts %d: %d held, want fewer than a window's 6", h.taken, countOf(got), lag)
		}
	}
	// 20 successes after the first: one write per five-second window.
	if h.patches != 1+20/5-1 && h.patches != 1+20/5 {
		t.Fatalf("%d status writes for 21 measurements, want %d or %d", h.patches, 1+20/5-1, 1+20/5)
	}
	before := h.patches
	run := h.stored()
	run.Spec.Terminate = true
	if err := h.c.Update(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	h.now = h.now.Add(100 * time.Millisecond)
	_, got := h.reconcile()
	if got.Status.Phase != successful || countOf(got) != h.taken || h.patches != before+1 {
		t.Fatalf("terminated: phase %s, count %d of %d taken, %d writes; want Successful with every measurement in one write",
			got.Status.Phase, countOf(got), h.taken, h.patches-before)
	}
	if len(h.r.held.runs) != 0 {
		t.Error("a batch is still held for the completed run")
	}
}

// A failure within the limit is written in the reconcile that measured it,
// with the successes held before it, in order.
func TestBatchWritesAFailureAtOnce(t *testing.T) {
	h := newBatchHarness(t, v1alpha1.Metric{Interval: "1s", FailureLimit: intOr(3)}, 5*time.Second)
	h.reconcile()
	h.every(3)
	if h.patches != 1 {
		t.Fatalf("%d writes after 3 routine successes, want them held", h.patches)
	}
	h.q.value = 0
	got := h.every(1)
	r := got.Status.MetricResults[0]
	if h.patches != 2 || r.Count != 5 || r.Failed != 1 || r.Successful != 4 {
		t.Fatalf("after the failure: %d writes, count %d (successful %d, failed %d); want the failure and the 3 held successes written at once",
			h.patches, r.Count, r.Successful, r.Failed)
	}
	if last := r.Measurements[len(r.Measurements)-1]; last.Phase != failed || r.Measurements[len(r.Measurements)-2].Phase != successful {
		t.Fatalf("measurements out of order: %+v", r.Measurements)
	}
	// A success after a failure resets nothing a crash could lose: held.
	h.q.value = 1
	h.every(1)
	if h.patches != 2 {
		t.Fatalf("%d writes, want the success after the failure held", h.patches)
	}
}

// A success that ends a run of errors resets consecutiveError: it is
// written at once, as each error is.
func TestBatchWritesTheSuccessAfterErrors(t *testing.T) {
	h := newBatchHarness(t, v1alpha1.Metric{Interval: "1s", ConsecutiveErrorLimit: intOr(5)}, 5*time.Second)
	h.reconcile()
	h.q.err = errors.New("connection refused")
	h.every(2)
	if h.patches != 3 {
		t.Fatalf("%d writes after 2 errors, want each error written", h.patches)
	}
	h.q.err = nil
	got := h.every(1)
	if h.patches != 4 || got.Status.MetricResults[0].ConsecutiveError != 0 {
		t.Fatalf("%d writes, consecutiveError %d; want the resetting success written at once",
			h.patches, got.Status.MetricResults[0].ConsecutiveError)
	}
}

// Reaching the count is a verdict: written at once with the held ones.
func TestBatchWritesTheCountReached(t *testing.T) {
	h := newBatchHarness(t, v1alpha1.Metric{Interval: "1s", Count: intOr(4)}, 5*time.Second)
	h.reconcile()
	h.every(2)
	h.now = h.now.Add(time.Second)
	res, got := h.reconcile()
	if got.Status.Phase != successful || countOf(got) != 4 || h.patches != 2 || res.RequeueAfter != 0 {
		t.Fatalf("phase %s, count %d, %d writes, requeue %v; want Successful with all 4 in the second write",
			got.Status.Phase, countOf(got), h.patches, res.RequeueAfter)
	}
}

// A status written by someone else (another replica, a user) drops the
// batch: it is not written on top of that status.
func TestBatchDroppedWhenTheStatusMovedOn(t *testing.T) {
	h := newBatchHarness(t, v1alpha1.Metric{Interval: "1s"}, 10*time.Second)
	h.reconcile()
	h.every(3)
	other := h.stored()
	recordMeasurement(&other.Status.MetricResults[0], done(successful, h.now), false)
	if err := h.c.Status().Update(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	h.now = h.now.Add(time.Second)
	h.reconcile()
	b := h.r.held.runs[h.key]
	if b == nil || b.base.MetricResults[0].Count != 2 || b.status.MetricResults[0].Count != 3 {
		t.Fatalf("batch %+v, want one new measurement on top of the other writer's count of 2", b)
	}
}

// Without a window every measurement is one write, as in the reference;
// a metric measured no more often than the window is never held either.
func TestBatchOffWritesEachMeasurement(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval v1alpha1.DurationString
		window   time.Duration
	}{
		{"no window", "1s", 0},
		{"interval as long as the window", "1s", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBatchHarness(t, v1alpha1.Metric{Interval: tc.interval}, tc.window)
			h.reconcile()
			h.every(6)
			if h.patches != 7 {
				t.Fatalf("%d writes for 7 measurements, want 7", h.patches)
			}
		})
	}
}

// refusingLimiter never lets a write through at once.
type refusingLimiter struct{ asked int }

func (l *refusingLimiter) TryAccept() bool            { l.asked++; return false }
func (l *refusingLimiter) Accept()                    {}
func (l *refusingLimiter) Stop()                      {}
func (l *refusingLimiter) QPS() float32               { return 1 }
func (l *refusingLimiter) Wait(context.Context) error { return nil }

// A batch whose window is over while the client is busy grows on, and is
// written when it reaches the metric's measurementRetention, so no
// measurement is trimmed before anyone could read it.
func TestBusyClientStretchesTheBatchToTheRetention(t *testing.T) {
	h := newBatchHarness(t, v1alpha1.Metric{Interval: "1s"}, 3*time.Second)
	pace := &refusingLimiter{}
	h.r.MeasurementWrites = pace
	h.reconcile()
	h.every(9)
	if h.patches != 1 || pace.asked == 0 {
		t.Fatalf("%d writes, pace asked %d times; want 9 held while the pace refuses", h.patches, pace.asked)
	}
	got := h.every(1)
	r := got.Status.MetricResults[0]
	if h.patches != 2 || r.Count != 11 || len(r.Measurements) != defaultMeasurementRetention {
		t.Fatalf("%d writes, count %d, %d measurements kept; want the 10 held written with the retention's worth kept",
			h.patches, r.Count, len(r.Measurements))
	}
	for i, m := range r.Measurements {
		if want := h.now.Add(time.Duration(i-9) * time.Second); !m.FinishedAt.Time.Equal(want) {
			t.Fatalf("measurement %d finished %v, want %v: every held one written", i, m.FinishedAt.Time, want)
		}
	}
}
