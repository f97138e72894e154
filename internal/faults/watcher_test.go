package faults

import (
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
)

func newTestWatcher() *Watcher {
	return &Watcher{chk: newChecker(2), lastObj: map[string]runtime.Object{}, listed: map[string]bool{}}
}

func withRV[T interface{ SetResourceVersion(string) }](o T, rv string) T {
	o.SetResourceVersion(rv)
	return o
}

// TestWatcherReplaysInWriteOrder: a Service switch that the API server made
// after the new Pods became ready is judged against those Pods even when
// the Service's watch delivered it first.
func TestWatcherReplaysInWriteOrder(t *testing.T) {
	w := newTestWatcher()
	w.chk.armed = true
	w.receive(0, kindPod, withRV(pod("a1", "a", true, false), "1"), false)
	w.receive(0, kindPod, withRV(pod("a2", "a", true, false), "2"), false)
	w.receive(0, kindService, withRV(svc(roleStable, "a"), "3"), false)
	// The switch to b (rv 6) arrives before the Pods of b (rv 4, 5).
	w.receive(0, kindService, withRV(svc(roleStable, "b"), "6"), false)
	w.receive(0, kindPod, withRV(pod("b1", "b", true, false), "4"), false)
	w.receive(0, kindPod, withRV(pod("b2", "b", true, false), "5"), false)
	w.replay(time.Now())
	if v, _, _ := w.violations(); len(v) != 0 {
		t.Fatalf("violations %v", v)
	}
}

// TestWatcherIgnoresRelistRepeats and counts deletions it could not place.
func TestWatcherRelist(t *testing.T) {
	w := newTestWatcher()
	w.chk.armed = true
	for _, ev := range []struct {
		o  *corev1.Pod
		rv string
	}{{pod("a1", "a", true, false), "1"}, {pod("a2", "a", true, false), "2"}} {
		w.receive(0, kindPod, withRV(ev.o, ev.rv), false)
	}
	w.receive(0, kindPod, withRV(pod("a1", "a", true, false), "1"), false)
	if len(w.buf) != 2 {
		t.Fatalf("a relisted object that did not change was queued again: %d events", len(w.buf))
	}
	w.receive(0, kindPod, toolscache.DeletedFinalStateUnknown{Key: "a1", Obj: withRV(pod("a1", "a", true, false), "1")}, true)
	w.replay(time.Now())
	v, unobserved, _ := w.violations()
	if len(v) != 0 || unobserved != 1 {
		t.Fatalf("violations %v, unobserved %d", v, unobserved)
	}
}

// TestWatcherHoldsEventsForTheWindow: an event younger than the reorder
// window waits.
func TestWatcherHoldsEventsForTheWindow(t *testing.T) {
	w := newTestWatcher()
	w.receive(0, kindPod, withRV(pod("a1", "a", true, false), "1"), false)
	w.replay(time.Now().Add(-reorderWindow))
	if len(w.buf) != 1 {
		t.Fatalf("an event was replayed before its window passed")
	}
	w.replay(time.Now())
	if len(w.buf) != 0 || w.doneRV != 1 {
		t.Fatalf("buffer %d, done %d", len(w.buf), w.doneRV)
	}
}

// TestControllerWrites tells the controller's writes from the others'.
func TestControllerWrites(t *testing.T) {
	w := newTestWatcher()
	w.receive(0, kindService, withRV(svc(roleStable, "a"), "1"), false)
	w.receive(0, kindPod, withRV(pod("a1", "a", true, false), "2"), false)
	w.receive(0, kindService, withRV(svc(roleStable, "b"), "3"), false)
	if len(w.writes) != 1 {
		t.Fatalf("%d controller writes, want the selector switch only", len(w.writes))
	}
	if _, ok := w.firstWriteAfter(time.Now()); ok {
		t.Fatal("a write found after now")
	}
}

// TestWatcherBlindSpan: while the watches reconnect after an API server
// restart, a stale Service state is not judged against newer Pods.
func TestWatcherBlindSpan(t *testing.T) {
	w := newTestWatcher()
	w.chk.armed = true
	w.receive(0, kindPod, withRV(pod("a1", "a", true, false), "1"), false)
	w.receive(0, kindPod, withRV(pod("a2", "a", true, false), "2"), false)
	w.receive(0, kindService, withRV(svc(roleStable, "a"), "3"), false)
	w.replay(time.Now())
	w.blindFrom(time.Now())
	// The Pod watch is back and shows a's Pods going; the Service's switch
	// to b has not arrived yet.
	w.receive(0, kindPod, withRV(pod("b1", "b", true, false), "5"), false)
	w.receive(0, kindPod, withRV(pod("b2", "b", true, false), "6"), false)
	w.receive(0, kindPod, withRV(pod("a1", "a", true, true), "7"), false)
	w.receive(0, kindPod, withRV(pod("a2", "a", true, true), "8"), false)
	w.replay(time.Now())
	w.blindTo(time.Now())
	w.receive(0, kindService, withRV(svc(roleStable, "b"), "4"), false)
	w.replay(time.Now())
	v, unjudged, _ := w.violations()
	if len(v) != 0 || unjudged != 2 {
		t.Fatalf("violations %v, unjudged removals %d", v, unjudged)
	}
	// Outside the span the same stale state is a violation.
	w2 := newTestWatcher()
	w2.chk.armed = true
	for i, p := range []*corev1.Pod{pod("a1", "a", true, false), pod("a2", "a", true, false)} {
		w2.receive(0, kindPod, withRV(p, strconv.Itoa(i+1)), false)
	}
	w2.receive(0, kindService, withRV(svc(roleStable, "a"), "3"), false)
	w2.receive(0, kindPod, withRV(pod("a1", "a", true, true), "7"), false)
	w2.receive(0, kindPod, withRV(pod("a2", "a", true, true), "8"), false)
	w2.replay(time.Now())
	if v, _, _ := w2.violations(); len(v) == 0 {
		t.Fatal("a Service left on removed Pods was not reported")
	}
}
