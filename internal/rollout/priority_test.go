package rollout

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

func TestUrgentRollout(t *testing.T) {
	tmpl := func(image string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
		}
	}
	v1, v2 := tmpl("web:1"), tmpl("web:2")
	stable, canary := podhash.Template(&v1, nil), podhash.Template(&v2, nil)
	releasing := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Spec:       v1alpha1.RolloutSpec{Template: v2},
		Status:     v1alpha1.RolloutStatus{StableRS: stable, CurrentPodHash: canary},
	}
	aborted := releasing.DeepCopy()
	aborted.Status.Abort = true
	rolledBack := releasing.DeepCopy()
	rolledBack.Generation, rolledBack.Spec.Template = 3, v1
	newer := releasing.DeepCopy()
	newer.Generation, newer.Spec.Template = 3, tmpl("web:3")
	counted := releasing.DeepCopy()
	counted.Status.AvailableReplicas = 2
	for name, tc := range map[string]struct {
		prev, next *v1alpha1.Rollout
		want       bool
	}{
		"abort requested":         {releasing, aborted, true},
		"abort already known":     {aborted, aborted, false},
		"template back to stable": {releasing, rolledBack, true},
		"template to a newer one": {releasing, newer, false},
		"a count changed":         {releasing, counted, false},
		"settled rollback is routine": {rolledBack, func() *v1alpha1.Rollout {
			r := rolledBack.DeepCopy()
			r.Generation = 4
			r.Status.CurrentPodHash = stable
			return r
		}(), false},
	} {
		if got := urgentRollout(tc.prev, tc.next); got != tc.want {
			t.Errorf("%s: urgent %v, want %v", name, got, tc.want)
		}
	}
}

func TestUrgentRun(t *testing.T) {
	run := func(p v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRun {
		return &v1alpha1.AnalysisRun{Status: v1alpha1.AnalysisRunStatus{Phase: p}}
	}
	for _, tc := range []struct {
		prev, next v1alpha1.AnalysisPhase
		want       bool
	}{
		{v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseFailed, true},
		{v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseError, true},
		{v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseFailed, false},
		{v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseSuccessful, false},
	} {
		if got := urgentRun(run(tc.prev), run(tc.next)); got != tc.want {
			t.Errorf("%s -> %s: urgent %v, want %v", tc.prev, tc.next, got, tc.want)
		}
	}
}

// An urgent Rollout queued behind routine work, or already queued as
// routine work itself, is handed to the next free worker first.
func TestAddUrgentGoesAheadOfRoutineWork(t *testing.T) {
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	req := func(name string) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}}
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		q.Add(req(name))
	}
	addUrgent(q, req("c"))
	addUrgent(q, req("z"))
	var got []string
	for range 5 {
		item, _ := q.Get()
		got = append(got, item.Name)
		q.Done(item)
	}
	if got[0] != "c" || got[1] != "z" {
		t.Errorf("order %v, want c and z first, in the order they became urgent", got)
	}
}

// Workers waiting for an item return when the queue shuts down, so the
// controller stops within its grace period.
func TestPriorityQueueShutDownReleasesWaitingWorkers(t *testing.T) {
	q := newLaneQueue("test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request](), 3, 1, nil, nil)
	released := make(chan bool, 3)
	for range 3 {
		go func() {
			_, shutdown := q.Get()
			released <- shutdown
		}()
	}
	time.Sleep(50 * time.Millisecond)
	q.ShutDown()
	for range 3 {
		select {
		case shutdown := <-released:
			if !shutdown {
				t.Error("a worker was released without the shutdown flag")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a worker is still waiting after the queue shut down")
		}
	}
	if _, ok := any(q).(priorityqueue.PriorityQueue[reconcile.Request]); !ok {
		t.Error("the wrapped queue is no longer a priority queue, so urgent work gets no priority")
	}
}

// TestUrgentHandlersQueueAtUrgentPriority goes through the handlers as the
// controller calls them, with the controller's queue: while the only
// routine slot is taken, an abort and a failed run still come out of the
// queue at firstMovePriority, in the order they became urgent, ahead of
// routine work queued before them; a routine change stays routine.
func TestUrgentHandlersQueueAtUrgentPriority(t *testing.T) {
	ctx := context.Background()
	q := newLaneQueue("test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request](), 2, 1, nil, nil)
	defer q.ShutDown()
	q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "routine"}})
	first, priority, _ := q.GetWithPriority()
	if first.Name != "routine" || priority != 0 {
		t.Fatalf("first item %s@%d, want routine@0", first.Name, priority)
	}
	q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "routine2"}})

	old := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "aborted", ResourceVersion: "1"}}
	aborted := old.DeepCopy()
	aborted.ResourceVersion, aborted.Status.Abort = "2", true
	urgentRolloutHandler.Update(ctx, event.TypedUpdateEvent[*v1alpha1.Rollout]{ObjectOld: old, ObjectNew: aborted}, q)
	// A change that is not urgent queues nothing through these handlers.
	paused := old.DeepCopy()
	paused.Name, paused.ResourceVersion, paused.Spec.Paused = "paused", "2", true
	urgentRolloutHandler.Update(ctx, event.TypedUpdateEvent[*v1alpha1.Rollout]{ObjectOld: old, ObjectNew: paused}, q)

	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "run", ResourceVersion: "1",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Rollout", Name: "analysed", Controller: ptrTo(true)}}}}
	failed := run.DeepCopy()
	failed.ResourceVersion, failed.Status.Phase = "2", v1alpha1.AnalysisPhaseFailed
	urgentRunHandler.Update(ctx, event.TypedUpdateEvent[*v1alpha1.AnalysisRun]{ObjectOld: run, ObjectNew: failed}, q)

	var got []string
	for range 2 {
		item, priority, _ := q.GetWithPriority()
		got = append(got, fmt.Sprintf("%s@%d", item.Name, priority))
		q.Done(item)
	}
	want := []string{fmt.Sprintf("aborted@%d", firstMovePriority), fmt.Sprintf("analysed@%d", firstMovePriority)}
	if !slices.Equal(got, want) {
		t.Fatalf("queue gave %v, want %v", got, want)
	}
	q.Done(first)
	if item, priority, _ := q.GetWithPriority(); item.Name != "routine2" || priority != 0 {
		t.Fatalf("after the urgent items the queue gave %s@%d, want routine2@0", item.Name, priority)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("%d items left; a routine change went through the urgent handler", n)
	}
}

// The regular watches leave the urgent changes to the urgent handlers, and
// pass everything else: queued by both, an abort would get a second,
// routine pass.
func TestRegularWatchesLeaveUrgentChangesToTheUrgentHandlers(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ro", ResourceVersion: "1"}}
	aborted := ro.DeepCopy()
	aborted.ResourceVersion, aborted.Status.Abort = "2", true
	paused := ro.DeepCopy()
	paused.ResourceVersion, paused.Spec.Paused = "2", true
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "run", ResourceVersion: "1"},
		Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning}}
	failed := run.DeepCopy()
	failed.ResourceVersion, failed.Status.Phase = "2", v1alpha1.AnalysisPhaseFailed
	succeeded := run.DeepCopy()
	succeeded.ResourceVersion, succeeded.Status.Phase = "2", v1alpha1.AnalysisPhaseSuccessful
	for name, tc := range map[string]struct {
		pass     func(event.UpdateEvent) bool
		old, new client.Object
		want     bool
	}{
		"abort":             {notUrgentRollout.Update, ro, aborted, false},
		"routine change":    {notUrgentRollout.Update, ro, paused, true},
		"run failed":        {notUrgentRun.Update, run, failed, false},
		"run succeeded":     {notUrgentRun.Update, run, succeeded, true},
		"run failed before": {notUrgentRun.Update, failed, failed, true},
	} {
		if got := tc.pass(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new}); got != tc.want {
			t.Errorf("%s: passed %v, want %v", name, got, tc.want)
		}
	}
	if !notUrgentRollout.Create(event.CreateEvent{Object: aborted}) || !notUrgentRollout.Delete(event.DeleteEvent{Object: aborted}) {
		t.Error("creations and deletions of aborted Rollouts must reach the regular watch")
	}
}
