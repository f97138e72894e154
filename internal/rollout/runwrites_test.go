package rollout

import (
	"context"
	"slices"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

func run(name string, gen int64, rv string) *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: gen, ResourceVersion: rv}}
}

// unsent is what the reconcile does with the plan's actions.
func unsent(w *cachefresh.Owned, key types.NamespacedName, cached []*v1alpha1.AnalysisRun, actions []decide.Action) []decide.Action {
	return unsentTerminates(actions, cachefresh.Behind(w.Look(key), slices.Values(cached)))
}

func TestRunWritesDropATerminateTheCacheHasNotSeen(t *testing.T) {
	var w cachefresh.Owned
	key := types.NamespacedName{Namespace: "ns", Name: "ro"}
	plan := []decide.Action{decide.TerminateAnalysisRun{Name: "a"}, decide.TerminateAnalysisRun{Name: "b"}, decide.SetRolloutRevision{Revision: "2"}}
	if got := unsent(&w, key, []*v1alpha1.AnalysisRun{run("a", 1, "10"), run("b", 1, "11")}, plan); len(got) != 3 {
		t.Fatalf("before any terminate: %d actions, want 3", len(got))
	}
	w.Wrote(key, "a", cachefresh.Produced(2))
	got := unsent(&w, key, []*v1alpha1.AnalysisRun{run("a", 1, "10"), run("b", 1, "11")}, plan)
	if len(got) != 2 || got[0] != (decide.TerminateAnalysisRun{Name: "b"}) {
		t.Fatalf("cache behind the terminate of a: %v, want b's terminate and the revision", got)
	}
	// Measurements written since the patch give the cached copy a new
	// resourceVersion but not the terminate's generation.
	if got := unsent(&w, key, []*v1alpha1.AnalysisRun{run("a", 1, "15"), run("b", 1, "11")}, plan); len(got) != 2 {
		t.Fatalf("a measurement write made the terminate look seen: %v", got)
	}
	if got := unsent(&w, types.NamespacedName{Namespace: "ns", Name: "other"}, []*v1alpha1.AnalysisRun{run("a", 1, "10")}, plan); len(got) != 3 {
		t.Fatalf("another Rollout's plan lost %d actions", 3-len(got))
	}
	// The cache caught up: a terminate the decision still plans is sent.
	if got := unsent(&w, key, []*v1alpha1.AnalysisRun{run("a", 2, "16"), run("b", 1, "11")}, plan); len(got) != 3 {
		t.Fatalf("cache past the terminate: %d actions, want 3", len(got))
	}
	if got := unsent(&w, key, []*v1alpha1.AnalysisRun{run("a", 1, "10")}, plan); len(got) != 3 {
		t.Fatal("the mark outlives the cache catching up")
	}
	w.Wrote(key, "a", cachefresh.Produced(3))
	w.Forget(key)
	if got := unsent(&w, key, []*v1alpha1.AnalysisRun{run("a", 2, "16")}, plan); len(got) != 3 {
		t.Fatal("a terminate dropped after forget")
	}
}

func TestTerminateRunRecordsTheGenerationItProduced(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	r := run("a", 1, "")
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(r).Build()
	var cached v1alpha1.AnalysisRun
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(r), &cached); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ro"}}
	var w cachefresh.Owned
	e := &executor{c: c, ro: ro, log: logr.Discard(), runWrites: &w}
	if err := e.one(context.Background(), decide.TerminateAnalysisRun{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	var after v1alpha1.AnalysisRun
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(r), &after); err != nil || !after.Spec.Terminate {
		t.Fatalf("run not terminated: %v %+v", err, after.Spec)
	}
	key := client.ObjectKeyFromObject(ro)
	plan := []decide.Action{decide.TerminateAnalysisRun{Name: "a"}}
	stale := cached.DeepCopy()
	stale.Generation = after.Generation - 1
	if got := unsent(&w, key, []*v1alpha1.AnalysisRun{stale}, plan); len(got) != 0 {
		t.Fatalf("a cache from before the patch sends the terminate again: %v", got)
	}
	if got := unsent(&w, key, []*v1alpha1.AnalysisRun{&after}, plan); len(got) != 1 {
		t.Fatalf("a cache with the patch: %v, want the terminate kept", got)
	}
	// A run that is gone is not an error.
	if err := e.one(context.Background(), decide.TerminateAnalysisRun{Name: "gone"}); err != nil {
		t.Fatalf("terminate of a missing run: %v", err)
	}
}
