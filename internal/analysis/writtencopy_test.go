package analysis

import (
	"context"
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

// laggingRunCache is a fake API server holding one AnalysisRun with a web
// metric, behind a cache that can be held at an older version of the run,
// as an informer is while a loaded API server is slow to send the
// controller's own writes.
type laggingRunCache struct {
	t      *testing.T
	api    client.Client
	r      *Reconciler
	rec    *record.FakeRecorder
	q      *answerQuerier
	key    client.ObjectKey
	now    time.Time
	frozen *v1alpha1.AnalysisRun
	taken  int
}

func newLaggingRunCache(t *testing.T, m v1alpha1.Metric) *laggingRunCache {
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
	l := &laggingRunCache{t: t, q: &answerQuerier{value: 1}, key: client.ObjectKeyFromObject(run),
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), rec: record.NewFakeRecorder(100)}
	l.api = fake.NewClientBuilder().WithScheme(scheme).WithObjects(run).WithStatusSubresource(run).Build()
	cache := interceptor.NewClient(l.api.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if l.frozen != nil && key == l.key {
				l.frozen.DeepCopyInto(obj.(*v1alpha1.AnalysisRun))
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	l.r = &Reconciler{
		Client: cache, Recorder: l.rec, Conditions: condition.NewEvaluator(),
		Queriers: map[string]metricproviders.Querier{"web": &countingQuerier{inner: l.q, n: &l.taken}},
		Now:      func() time.Time { return l.now },
	}
	return l
}

// freeze holds the cache at the run as the API server holds it now.
func (l *laggingRunCache) freeze() {
	l.frozen = l.stored()
}

func (l *laggingRunCache) stored() *v1alpha1.AnalysisRun {
	l.t.Helper()
	var run v1alpha1.AnalysisRun
	if err := l.api.Get(context.Background(), l.key, &run); err != nil {
		l.t.Fatal(err)
	}
	return &run
}

func (l *laggingRunCache) reconcile() time.Duration {
	l.t.Helper()
	res, err := l.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: l.key})
	if err != nil {
		l.t.Fatal(err)
	}
	if res.Requeue && res.RequeueAfter == 0 {
		return -1
	}
	return res.RequeueAfter
}

func (l *laggingRunCache) events() []string {
	var out []string
	for {
		select {
		case e := <-l.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// A measurement that comes due while the cache still shows the run before
// the controller's last status write is taken on top of that write, not
// put off until the cache catches up, and not taken twice.
func TestMeasuresOnOwnWrittenCopyWhileTheCacheLags(t *testing.T) {
	l := newLaggingRunCache(t, v1alpha1.Metric{Interval: "1s"})
	l.freeze()
	if after := l.reconcile(); after != time.Second {
		t.Fatalf("first reconcile requeued after %v, want the next measurement's second", after)
	}
	for i := 2; i <= 4; i++ {
		l.now = l.now.Add(time.Second)
		if after := l.reconcile(); after != time.Second {
			t.Fatalf("measurement %d: requeued after %v with the cache behind, want the next measurement's second", i, after)
		}
		if got := countOf(l.stored()); got != i || l.taken != i {
			t.Fatalf("measurement %d: the server counts %d, %d taken; want each taken once and written on top of the last", i, got, l.taken)
		}
	}
	// A reconcile before the next one is due (the write's late watch
	// event) measures nothing again.
	l.now = l.now.Add(100 * time.Millisecond)
	l.reconcile()
	if l.taken != 4 || countOf(l.stored()) != 4 {
		t.Fatalf("%d taken, %d counted after an early reconcile, want 4 and 4", l.taken, countOf(l.stored()))
	}
	// The cache catches up: it is read again, and the copy is let go.
	l.frozen = nil
	l.now = l.now.Add(900 * time.Millisecond)
	l.reconcile()
	if countOf(l.stored()) != 5 {
		t.Fatalf("the server counts %d after the cache caught up, want 5", countOf(l.stored()))
	}
	if _, ok := l.r.fresh.Written(l.key, l.stored().ResourceVersion); ok {
		t.Error("a copy is offered for the version the server holds")
	}
}

// A run that completes records its Events once, even when the reconciles
// that follow still find the cache before the verdict.
func TestVerdictEventsOnceWhileTheCacheLags(t *testing.T) {
	l := newLaggingRunCache(t, v1alpha1.Metric{Interval: "1s", Count: intOr(2)})
	l.reconcile()
	l.freeze()
	l.now = l.now.Add(time.Second)
	l.reconcile()
	if got := l.stored(); got.Status.Phase != successful {
		t.Fatalf("phase %s after the second of two measurements, want Successful", got.Status.Phase)
	}
	if n := len(l.events()); n != 2 {
		t.Fatalf("%d Events for the verdict, want the metric's and the run's", n)
	}
	for range 3 {
		l.now = l.now.Add(time.Second)
		l.reconcile()
	}
	if ev := l.events(); len(ev) != 0 || l.taken != 2 {
		t.Fatalf("after the verdict, with the cache behind: Events %q, %d measurements taken; want none and 2", ev, l.taken)
	}
}

// A conflict on the status write (someone wrote the run after the version
// decided on) drops the copy: the reconciles that follow wait for the
// cache rather than measure on a version that is no longer the latest.
func TestConflictDropsTheWrittenCopy(t *testing.T) {
	l := newLaggingRunCache(t, v1alpha1.Metric{Interval: "1s", FailureLimit: intOr(3)})
	l.freeze()
	l.reconcile()
	// Another writer (the Rollout's terminate) after our write.
	other := l.stored()
	other.Spec.Terminate = true
	if err := l.api.Update(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	// A failure is written at once, so the write meets the other one.
	l.q.value = 0
	l.now = l.now.Add(time.Second)
	if after := l.reconcile(); after != -1 {
		t.Fatalf("the write on top of a replaced version requeued after %v, want a conflict's requeue", after)
	}
	taken := l.taken
	for range 3 {
		l.now = l.now.Add(time.Second)
		if after := l.reconcile(); after < time.Second {
			t.Fatalf("with no copy and the cache behind: requeued after %v, want the write's watch event awaited", after)
		}
	}
	if l.taken != taken {
		t.Fatalf("%d measurements taken while waiting for the cache, want none", l.taken-taken)
	}
	l.frozen = nil
	l.reconcile()
	if got := l.stored(); got.Status.Phase != successful {
		t.Fatalf("phase %s once the cache shows the terminate, want the run ended Successful", got.Status.Phase)
	}
}
