package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// resetStream is the error client-go returns when the API server resets
// the HTTP/2 stream of a request.
var resetStream = errors.New("stream error: stream ID 1997; INTERNAL_ERROR; received from peer")

// failingDeletes fails the first fails deletecollections of Rollouts with
// err, counting every one.
type failingDeletes struct {
	client.Client
	mu    sync.Mutex
	fails int
	err   error
	calls int
}

func (f *failingDeletes) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	if _, ok := obj.(*v1alpha1.Rollout); ok {
		f.mu.Lock()
		f.calls++
		fail := f.calls <= f.fails
		f.mu.Unlock()
		if fail {
			return f.err
		}
	}
	return f.Client.DeleteAllOf(ctx, obj, opts...)
}

func TestTransientErrors(t *testing.T) {
	gr := schema.GroupResource{Group: "argoproj.io", Resource: "rollouts"}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{resetStream, true},
		{fmt.Errorf("deleting: %w", resetStream), true},
		{apierrors.NewServerTimeout(gr, "deletecollection", 2), true},
		{apierrors.NewTimeoutError("request did not complete", 1), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewForbidden(gr, "", errors.New("no")), false},
		{errors.New("stream error: stream ID 3; PROTOCOL_ERROR"), false},
		{nil, false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestCleanupRetriesAResetStream: a deletecollection whose stream the API
// server reset is sent again, and the run ends with nothing left behind.
func TestCleanupRetriesAResetStream(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 2, Replicas: 1, Cleanup: true})
	flaky := &failingDeletes{Client: h.c, fails: 2, err: resetStream}
	h.runner.Client = flaky
	if _, err := h.runner.Run(context.Background()); err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	if flaky.calls != 3 {
		t.Errorf("%d deletecollections of Rollouts, want 3 (two reset, one through)", flaky.calls)
	}
	var ros v1alpha1.RolloutList
	if err := h.c.List(context.Background(), &ros); err != nil || len(ros.Items) != 0 {
		t.Errorf("%d Rollouts left after the cleanup (%v)", len(ros.Items), err)
	}
	if !strings.Contains(h.progress.String(), "trying again") {
		t.Errorf("the retry is not in the progress:\n%s", h.progress)
	}
}

// TestCleanupRetriesAreBounded: a delete that keeps failing transiently is
// given up after cleanupAttempts, and one that fails otherwise is not
// retried; either way the run reports it.
func TestCleanupRetriesAreBounded(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "argoproj.io", Resource: "rollouts"}, "", errors.New("no"))
	for _, c := range []struct {
		err       error
		wantCalls int
	}{
		{resetStream, cleanupAttempts},
		{forbidden, 1},
	} {
		h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, Cleanup: true})
		flaky := &failingDeletes{Client: h.c, fails: 1 << 30, err: c.err}
		h.runner.Client = flaky
		_, err := h.runner.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "cleanup") || !errors.Is(err, c.err) {
			t.Errorf("%v: run error %v, want the cleanup's failure", c.err, err)
		}
		if flaky.calls != c.wantCalls {
			t.Errorf("%v: %d attempts, want %d", c.err, flaky.calls, c.wantCalls)
		}
	}
}

// TestMeasureInterruptedKeepsWhatItMeasured: a phase its context ends
// returns the latencies of the objects done by then, its time so far and
// the controller's requests, CPU and memory, marked as interrupted; the
// last readings are taken although the run's context has ended.
func TestMeasureInterruptedKeepsWhatItMeasured(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ctrl := counterScraper(ControllerRequestsMetric, `code="200",host="h",method="GET"`, 10)
	liveOnly := ScraperFunc(func(ctx context.Context) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return ctrl.Scrape(ctx)
	})
	x := &run{Runner: &Runner{ControllerMetrics: liveOnly, Process: &fakeProc{}},
		cfg:   Config{PollInterval: time.Second, ProgressInterval: time.Hour},
		clock: clock, progress: io.Discard, res: &Result{}, noted: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polls := 0
	p, err := x.measure(ctx, phaseSpec{
		name: "update", workload: "Rollout", waited: "Healthy", names: []string{"a", "b", "c"},
		act: func(context.Context) (map[string]time.Time, error) { return nil, nil },
		poll: func(context.Context) (map[string]observation, error) {
			polls++
			if polls == 3 {
				// Ctrl-C, or the run's timeout, in the middle of the phase.
				cancel()
			}
			return map[string]observation{"a": {done: true}, "b": {done: polls >= 2}, "c": {}}, nil
		},
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "2 of 3") {
		t.Fatalf("err = %v, want the interruption with 2 of 3 done", err)
	}
	if !p.Interrupted || p.Completions != 2 || p.Latency.Count != 2 || p.Latency.Max != 1 {
		t.Errorf("phase %+v: want interrupted with a done at 0s and b at 1s", p)
	}
	if p.Seconds != 2 {
		t.Errorf("phase time %vs, want the 2s until the interruption", p.Seconds)
	}
	if p.ControllerRequests == nil || p.ControllerRequests.Total != 10 {
		t.Errorf("controller requests %+v, want the 10 made until the interruption", p.ControllerRequests)
	}
	if p.Controller == nil || p.Controller.CPUSeconds <= 0 {
		t.Errorf("controller usage %+v, want the CPU until the interruption", p.Controller)
	}
}

// TestTimedOutRunReportsItsInterruptedPhase: the table and the JSON of a
// run that timed out show the phase it was in, marked as interrupted, and
// give that phase no ratio to the baseline.
func TestTimedOutRunReportsItsInterruptedPhase(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 3, Replicas: 1, Timeout: 200 * time.Millisecond})
	h.ctrl.idle = true
	res, err := h.runner.Run(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	if len(res.Phases) != 1 || !res.Phases[0].Interrupted || res.Phases[0].Seconds <= 0 || res.Phases[0].ControllerRequests == nil {
		t.Fatalf("phases %+v, want the create phase interrupted with its time and requests", res.Phases)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "create (interrupted)") {
		t.Errorf("the table does not mark the phase:\n%s", table.String())
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"interrupted":true`) {
		t.Errorf("the JSON does not mark the phase: %s", b)
	}
	base := []Phase{{Name: "create", Seconds: 2}}
	if r := Ratios(base, res.Phases); len(r) != 0 {
		t.Errorf("ratios %v of an interrupted phase", r)
	}
	if r := Ratios([]Phase{{Name: "create", Seconds: 2, Interrupted: true}}, []Phase{{Name: "create", Seconds: 3}}); len(r) != 0 {
		t.Errorf("ratios %v against an interrupted baseline", r)
	}
}

// TestEachRunHasItsOwnLeaseGroup: two runs' replicas elect among different
// Leases, whose names and group label the API server accepts.
func TestEachRunHasItsOwnLeaseGroup(t *testing.T) {
	a, err := newLeaseGroup()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newLeaseGroup()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || !strings.HasPrefix(a, leaseGroupPrefix) {
		t.Fatalf("groups %q and %q, want two different ones starting %q", a, b, leaseGroupPrefix)
	}
	if errs := validation.IsValidLabelValue(a); len(errs) > 0 {
		t.Errorf("group %q is no label value: %v", a, errs)
	}
	for _, name := range []string{a + "-shard-63", a + "-member-host_0123456789abcdef"} {
		if errs := validation.IsDNS1123Subdomain(strings.ReplaceAll(name, "_", "-")); len(errs) > 0 {
			t.Errorf("lease name %q: %v", name, errs)
		}
	}
	args := strings.Join(replicaArgs(ReplicaOptions{Shards: 2, LeaseGroup: a}, 0, "127.0.0.1:1", "127.0.0.1:2"), " ")
	if !strings.Contains(args, "--leader-election-id "+a+" ") {
		t.Errorf("replica arguments %q do not elect in group %s", args, a)
	}
}

// TestStopDeletesTheRunsLeases: stopped replicas leave none of their run's
// Leases behind, and another group's stay.
func TestStopDeletesTheRunsLeases(t *testing.T) {
	lease := func(name, group string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: leaseNamespace, Name: name,
			Labels: map[string]string{"kanaria.dev/shard-group": group}}}
	}
	kube := kubefake.NewClientset(lease("kanaria-bench-aaaa-shard-0", "kanaria-bench-aaaa"),
		lease("kanaria-bench-aaaa-member-x", "kanaria-bench-aaaa"), lease("kanaria-bench-bbbb-shard-0", "kanaria-bench-bbbb"))
	r := &Replicas{opts: ReplicaOptions{LeaseGroup: "kanaria-bench-aaaa"}, kube: kube}
	r.Stop()
	list, err := kube.CoordinationV1().Leases(leaseNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "kanaria-bench-bbbb-shard-0" {
		var names []string
		for _, l := range list.Items {
			names = append(names, l.Name)
		}
		t.Errorf("leases left %v, want only the other run's", names)
	}
}

// TestResultIsHandedOverBeforeTheCleanup: the result, phases and all, is
// handed over while the benchmark's objects still exist, so a run stopped
// for good during a long cleanup has its figures written already.
func TestResultIsHandedOverBeforeTheCleanup(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 2, Replicas: 1, Cleanup: true})
	var phases []string
	left := -1
	h.runner.BeforeCleanup = func(res *Result) {
		for _, p := range res.Phases {
			phases = append(phases, p.Name)
		}
		var ros v1alpha1.RolloutList
		if err := h.c.List(context.Background(), &ros); err != nil {
			t.Error(err)
		}
		left = len(ros.Items)
	}
	if _, err := h.runner.Run(context.Background()); err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	if strings.Join(phases, ",") != "create,update" || left != 2 {
		t.Errorf("handed over phases %v with %d Rollouts still there, want create and update before the 2 are deleted", phases, left)
	}
}
