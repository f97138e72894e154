package memlimit

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestRelease(after time.Duration) (*IdleRelease, *fakeClock, *int) {
	return newTestReleaseLogging(after, logr.Discard())
}

func newTestReleaseLogging(after time.Duration, log logr.Logger) (*IdleRelease, *fakeClock, *int) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	frees := 0
	r := NewIdleRelease(after, log)
	r.now, r.free = clock.now, func() { frees++ }
	r.last.Store(clock.t.UnixNano())
	return r, clock, &frees
}

// TestIdleReleaseWaitsForQuiet checks that the release runs only once no
// reconcile has run for After, never while one is in flight, and at most
// once per After while the quiet lasts.
func TestIdleReleaseWaitsForQuiet(t *testing.T) {
	r, clock, frees := newTestRelease(5 * time.Minute)
	step := func(d time.Duration) { clock.t = clock.t.Add(d) }

	step(4 * time.Minute)
	if r.check() {
		t.Fatal("released after 4 of 5 quiet minutes")
	}
	step(time.Minute)
	if !r.check() || *frees != 1 {
		t.Fatalf("not released after 5 quiet minutes (%d)", *frees)
	}
	step(time.Minute)
	if r.check() {
		t.Fatal("released again a minute after the last release")
	}
	step(4 * time.Minute)
	if !r.check() || *frees != 2 {
		t.Fatalf("not released again after 5 more quiet minutes (%d)", *frees)
	}

	// A reconcile that runs long: nothing is released while it runs, and
	// the quiet counts from its end.
	block, started := make(chan struct{}), make(chan struct{})
	rec := r.Wrap(reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
		close(started)
		<-block
		return reconcile.Result{}, nil
	}))
	done := make(chan struct{})
	go func() {
		_, _ = rec.Reconcile(context.Background(), reconcile.Request{})
		close(done)
	}()
	<-started
	step(10 * time.Minute)
	if r.check() {
		t.Fatal("released while a reconcile was in flight")
	}
	close(block)
	<-done
	step(4 * time.Minute)
	if r.check() {
		t.Fatal("released 4 minutes after the last reconcile ended")
	}
	step(time.Minute)
	if !r.check() || *frees != 3 {
		t.Fatalf("not released 5 minutes after the last reconcile (%d)", *frees)
	}
}

// TestIdleReleaseOff checks that After 0 leaves reconcilers unwrapped and
// Run returns at once.
func TestIdleReleaseOff(t *testing.T) {
	inner := &plainReconciler{}
	if NewIdleRelease(0, logr.Discard()).Wrap(inner) != reconcile.Reconciler(inner) {
		t.Error("wrapped though off")
	}
	if NewIdleRelease(time.Minute, logr.Discard()).Wrap(inner) == reconcile.Reconciler(inner) {
		t.Error("not wrapped though on")
	}
	NewIdleRelease(0, logr.Discard()).Run(context.Background())
}

type plainReconciler struct{}

func (*plainReconciler) Reconcile(context.Context, reconcile.Request) (reconcile.Result, error) {
	return reconcile.Result{}, nil
}

// TestIdleReleaseLogsOncePerStretch checks that only the first release of
// an idle stretch is logged at info level.
func TestIdleReleaseLogsOncePerStretch(t *testing.T) {
	var lines int
	log := funcr.New(func(_, _ string) { lines++ }, funcr.Options{Verbosity: 0})
	r, clock, frees := newTestReleaseLogging(time.Minute, log)
	step := func(d time.Duration) { clock.t = clock.t.Add(d) }
	for range 3 {
		step(time.Minute)
		r.check()
	}
	if *frees != 3 || lines != 1 {
		t.Fatalf("%d releases logged %d lines at info, want 3 and 1", *frees, lines)
	}
	noop := r.Wrap(&plainReconciler{})
	if _, err := noop.Reconcile(context.Background(), reconcile.Request{}); err != nil {
		t.Fatal(err)
	}
	step(time.Minute)
	r.check()
	if *frees != 4 || lines != 2 {
		t.Fatalf("after a reconcile, %d releases logged %d lines at info, want 4 and 2", *frees, lines)
	}
}
