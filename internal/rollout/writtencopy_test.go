package rollout

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// laggingCluster is a fakeCluster holding a canary without a router (the
// benchmark's steps: 25%, a 1 s pause, 75%, a 1 s pause).
type laggingCluster struct {
	*fakeCluster
	rec *record.FakeRecorder
}

var webKey = types.NamespacedName{Namespace: "web", Name: "web"}

func newLaggingCluster(t *testing.T) *laggingCluster {
	t.Helper()
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "web", UID: "web-uid", Generation: 1},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:v1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: ptr.To(int32(25))}, {Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromInt32(1))}},
				{SetWeight: ptr.To(int32(75))}, {Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromInt32(1))}},
			}}},
		},
	}
	// Not on a whole second: a pause's start is kept to the second.
	return &laggingCluster{fakeCluster: newFakeCluster(t, ro, time.Date(2026, 12, 7, 5, 0, 0, 600_000_000, time.UTC))}
}

func (c *laggingCluster) reconciler() *Reconciler {
	c.rec = record.NewFakeRecorder(100)
	return &Reconciler{Client: c.cache, APIReader: c.api, Recorder: c.rec, Now: func() time.Time { return c.now },
		timed: &settledKeys[reconcile.Request]{}}
}

func (c *laggingCluster) events() []string {
	var out []string
	for {
		select {
		case e := <-c.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// pausedBehindTheCache brings the Rollout to its first pause of a second
// version, with the cache held at what it showed before the pass that
// started the pause: the pause's status write has not reached it.
func pausedBehindTheCache(t *testing.T) (*laggingCluster, *Reconciler) {
	t.Helper()
	c := newLaggingCluster(t)
	r := c.reconciler()
	c.untilHealthy(r, countsDebounce+time.Second)
	c.release("web:v2")
	for i := 0; len(c.rollout().Status.PauseConditions) == 0; i++ {
		if i == 10 {
			t.Fatalf("not paused after 10 passes: %+v", c.rollout().Status)
		}
		c.freeze()
		c.pass(r)
		c.now = c.now.Add(100 * time.Millisecond)
	}
	if got := ptr.Deref(c.rollout().Status.CurrentStepIndex, -1); got != 1 {
		t.Fatalf("paused at step %d, want 1", got)
	}
	if c.frozenRollout.Status.PauseConditions != nil {
		t.Fatal("the cache already shows the pause")
	}
	c.takeWrites()
	c.events()
	return c, r
}

// TestPauseEndsWhileTheCacheLagsThePauseWrite: a 1 s pause ends at its
// time although the cache has not yet shown the status write that started
// it. The pass goes on from the Rollout as that write returned it: it ends
// the pause, scales both ReplicaSets and writes step 2 once, and records
// no Event of the steps before again. Waiting for the cache instead cost
// the first pause of a 200-Rollout release seconds: the API server sent
// the write's watch event seconds late, and the pass that found the cache
// behind asked to look again only after staleCacheRetry.
func TestPauseEndsWhileTheCacheLagsThePauseWrite(t *testing.T) {
	c, r := pausedBehindTheCache(t)
	// The pass that started the pause asks for its end as a time its
	// decision set, which the work queue serves ahead of routine events.
	if !r.timed.take(reconcile.Request{NamespacedName: webKey}) {
		t.Fatal("the requeue for the pause's end is not marked as timed")
	}
	c.now = c.now.Add(time.Second)
	res := c.pass(r)
	st := c.rollout().Status
	if got := ptr.Deref(st.CurrentStepIndex, -1); got != 2 || len(st.PauseConditions) != 0 || st.ControllerPause {
		t.Fatalf("after the pause's time: step %d, pauseConditions %v, controllerPause %v; want step 2 and no pause (requeue %v)",
			got, st.PauseConditions, st.ControllerPause, res.RequeueAfter)
	}
	writes := c.takeWrites()
	var scales, statuses int
	for _, w := range writes {
		switch {
		case strings.HasPrefix(w, "patch ReplicaSet "):
			scales++
		case w == "patch status Rollout web":
			statuses++
		}
	}
	if scales != 2 || statuses != 1 {
		t.Fatalf("writes %v: want the two scale patches and one status write", writes)
	}
	for _, e := range c.events() {
		if strings.Contains(e, "step 1/4") || strings.Contains(e, "RolloutPaused") {
			t.Fatalf("an Event of a decision already made was recorded again: %q", e)
		}
	}

	// The cache still shows neither the pause nor the scale patches: the
	// next pass goes on from the written ReplicaSets too, so it repeats no
	// scale patch and does not wait for the cache.
	c.now = c.now.Add(100 * time.Millisecond)
	res = c.pass(r)
	if res.RequeueAfter == staleCacheRetry {
		t.Fatal("the pass waited for the cache instead of going on from its own writes")
	}
	if w := c.takeWrites(); slices.ContainsFunc(w, func(s string) bool { return strings.HasPrefix(s, "patch ReplicaSet ") }) {
		t.Fatalf("a scale patch was sent again from the written copies: %v", w)
	}

	// Once the cache catches up, the release goes on as before.
	c.thaw()
	c.untilHealthy(r, time.Second)
}

// TestWrittenCopyDroppedOnConflict: when another client wrote the Rollout
// after the controller's last write, deciding on that write's result ends
// in a conflict; the pass after it waits for the cache rather than going
// on from the same outdated copy.
func TestWrittenCopyDroppedOnConflict(t *testing.T) {
	c, r := pausedBehindTheCache(t)
	// A person promotes past the pause, as the kubectl plugin does.
	ro := c.rollout()
	if err := c.api.Status().Patch(context.Background(), ro, client.RawPatch(types.MergePatchType, []byte(`{"status":{"pauseConditions":null}}`))); err != nil {
		t.Fatal(err)
	}
	c.now = c.now.Add(time.Second)
	if res := c.pass(r); !res.Requeue {
		t.Fatalf("the pass on the outdated copy did not end in a conflict: %+v", res)
	}
	c.takeWrites()
	if res := c.pass(r); res.RequeueAfter != staleCacheRetry {
		t.Fatalf("after the conflict the pass went on (%+v) instead of waiting for the cache", res)
	}
	if w := c.takeWrites(); len(w) > 0 {
		t.Fatalf("a pass behind the cache wrote %v", w)
	}
	c.thaw()
	c.pass(r)
	// The scale patches of the conflicting pass went out before its status
	// write, so the promoted Rollout may already have reached its next pause.
	if got := ptr.Deref(c.rollout().Status.CurrentStepIndex, -1); got < 2 {
		t.Fatalf("once the cache caught up: step %d, want past the promoted pause", got)
	}
}

// canaryCreatedBehindTheCache releases a second version of a Healthy
// Rollout with the cache frozen before the release's first pass, which
// creates the canary ReplicaSet; neither that create nor the pass's
// status write has reached the cache.
func canaryCreatedBehindTheCache(t *testing.T) (*laggingCluster, *Reconciler) {
	t.Helper()
	c := newLaggingCluster(t)
	r := c.reconciler()
	c.untilHealthy(r, countsDebounce+time.Second)
	c.release("web:v2")
	c.takeWrites()
	c.events()
	c.freeze()
	c.pass(r)
	if w := c.takeWrites(); !slices.ContainsFunc(w, func(s string) bool { return strings.HasPrefix(s, "create ReplicaSet ") }) {
		t.Fatalf("the release's first pass did not create the canary: %v", w)
	}
	c.events()
	return c, r
}

// TestNoSecondCreateWhileTheCacheLacksIt: the pass after the one that
// created the canary ReplicaSet finds the cache behind both its status
// write and the create. Going on from the written Rollout, whose status
// names the new ReplicaSet, it would create it again and record
// NewReplicaSetCreated twice; it waits for the cache instead.
func TestNoSecondCreateWhileTheCacheLacksIt(t *testing.T) {
	c, r := canaryCreatedBehindTheCache(t)
	c.passWaitsForTheCache(r, "cache")
	c.thaw()
	c.pass(r)
	if w := c.takeWrites(); slices.ContainsFunc(w, func(s string) bool { return strings.HasPrefix(s, "create ") }) {
		t.Fatalf("created again once the cache caught up: %v", w)
	}
}

// TestCreatedRunNotWaitedFor: the pass after the one that created the
// canary and its background AnalysisRun finds the cache behind its status
// write and without the run, as the AnalysisRun informer was under load
// while every run's measurements went through it. It goes on from the run
// as its create returned it: it takes the next step as soon as the canary
// is available, without a second create or an Event repeated, rather than
// waiting for the run's watch event.
func TestCreatedRunNotWaitedFor(t *testing.T) {
	ctx := context.Background()
	c := newLaggingCluster(t)
	c.backgroundAnalysis(v1alpha1.Metric{Name: "web", Interval: "1s", SuccessCondition: "result.ok",
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://web/health"}}})
	r := c.reconciler()
	c.untilHealthy(r, countsDebounce+time.Second)
	c.release("web:v2")
	c.takeWrites()
	c.events()
	c.freeze()
	c.frozenRuns = map[string]*v1alpha1.AnalysisRun{}
	c.pass(r)
	w := c.takeWrites()
	if !slices.ContainsFunc(w, func(s string) bool { return strings.HasPrefix(s, "create AnalysisRun ") }) {
		t.Fatalf("the release's first pass did not create the run: %v", w)
	}
	if got := ptr.Deref(c.rollout().Status.CurrentStepIndex, -1); got != 0 {
		t.Fatalf("after the first pass: step %d, want 0", got)
	}
	c.events()
	// The ReplicaSets reach the cache; the Rollout's status write and the
	// run do not.
	c.frozenRS = nil
	c.now = c.now.Add(100 * time.Millisecond)
	res := c.pass(r)
	if res.RequeueAfter == staleCacheRetry {
		t.Fatal("the pass waited for the cache to show the run it created")
	}
	if w := c.takeWrites(); slices.ContainsFunc(w, func(s string) bool { return strings.HasPrefix(s, "create ") }) {
		t.Fatalf("created again while the cache lacks the run: %v", w)
	}
	for _, e := range c.events() {
		if strings.Contains(e, "AnalysisRunCreated") || strings.Contains(e, "RolloutUpdated") {
			t.Fatalf("an Event of the first pass was recorded again: %q", e)
		}
	}
	st := c.rollout().Status
	if got := ptr.Deref(st.CurrentStepIndex, -1); got != 1 || len(st.PauseConditions) != 1 {
		t.Fatalf("with the canary available: step %d, pauseConditions %v; want the pause of step 1", got, st.PauseConditions)
	}
	if st.Canary.CurrentBackgroundAnalysisRunStatus == nil || st.Canary.CurrentBackgroundAnalysisRunStatus.Name == "" {
		t.Fatalf("the status lost the run: %+v", st.Canary)
	}
	// Once the cache shows everything, the release goes on to the end
	// with one run.
	c.thaw()
	c.frozenRuns = nil
	c.untilHealthy(r, time.Second)
	var runs v1alpha1.AnalysisRunList
	if err := c.api.List(ctx, &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs.Items) != 1 {
		t.Fatalf("%d AnalysisRuns, want the one created", len(runs.Items))
	}
}

// TestNoSecondCreateWhenOnlyTheRolloutCacheCaughtUp: each kind has an
// informer of its own, and under load the Rollout cache showed the status
// write that named a new canary ReplicaSet while the ReplicaSet cache did
// not show the ReplicaSet yet. A pass on that fresh Rollout must not create
// the ReplicaSet again and record NewReplicaSetCreated twice; it waits for
// the ReplicaSet, but not for ever: one the caches have not shown for
// createdWait is taken as gone.
func TestNoSecondCreateWhenOnlyTheRolloutCacheCaughtUp(t *testing.T) {
	c, r := canaryCreatedBehindTheCache(t)
	// The Rollout cache catches up; the ReplicaSet cache does not.
	c.frozenRollout = nil
	c.passWaitsForTheCache(r, "ReplicaSet cache")
	c.now = c.now.Add(createdWait + time.Second)
	if res := c.pass(r); res.RequeueAfter == staleCacheRetry {
		t.Fatal("the pass still waits for a create the caches have not shown for createdWait")
	}
}

// passWaitsForTheCache runs a pass 100 ms on whose cache (named by which)
// lacks an object a pass created: it must write nothing, record nothing,
// and look again after staleCacheRetry.
func (c *laggingCluster) passWaitsForTheCache(r *Reconciler, which string) {
	c.t.Helper()
	c.now = c.now.Add(100 * time.Millisecond)
	res := c.pass(r)
	if w := c.takeWrites(); len(w) > 0 {
		c.t.Fatalf("a pass whose %s lacks its own create wrote %v", which, w)
	}
	if ev := c.events(); len(ev) > 0 {
		c.t.Fatalf("a pass whose %s lacks its own create recorded %v", which, ev)
	}
	if res.RequeueAfter != staleCacheRetry {
		c.t.Fatalf("the pass did not wait for the %s: %+v", which, res)
	}
}
