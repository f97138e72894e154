package rollout

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

func run(name, rv string) *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv}}
}

func TestRunWritesDropATerminateTheCacheHasNotSeen(t *testing.T) {
	var w runWrites
	key := types.NamespacedName{Namespace: "ns", Name: "ro"}
	plan := []decide.Action{decide.TerminateAnalysisRun{Name: "a"}, decide.TerminateAnalysisRun{Name: "b"}, decide.SetRolloutRevision{Revision: "2"}}
	if got := w.unsent(key, []*v1alpha1.AnalysisRun{run("a", "1"), run("b", "4")}, plan); len(got) != 3 {
		t.Fatalf("before any terminate: %d actions, want 3", len(got))
	}
	w.terminated(key, "a", "1")
	got := w.unsent(key, []*v1alpha1.AnalysisRun{run("a", "1"), run("b", "4")}, plan)
	if len(got) != 2 || got[0] != (decide.TerminateAnalysisRun{Name: "b"}) {
		t.Fatalf("cache behind the terminate of a: %v, want b's terminate and the revision", got)
	}
	if got := w.unsent(types.NamespacedName{Namespace: "ns", Name: "other"}, []*v1alpha1.AnalysisRun{run("a", "1")}, plan); len(got) != 3 {
		t.Fatalf("another Rollout's plan lost %d actions", 3-len(got))
	}
	// The cache caught up: a terminate the decision still plans is sent.
	if got := w.unsent(key, []*v1alpha1.AnalysisRun{run("a", "2"), run("b", "4")}, plan); len(got) != 3 {
		t.Fatalf("cache past the terminate: %d actions, want 3", len(got))
	}
	if len(w.sent) != 0 {
		t.Fatal("the entry outlives the cache catching up")
	}
	w.terminated(key, "a", "2")
	w.forget(key)
	if got := w.unsent(key, []*v1alpha1.AnalysisRun{run("a", "2")}, plan); len(got) != 3 {
		t.Fatal("a terminate dropped after forget")
	}
}

func TestTerminateRunRecordsTheVersionItReplaced(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	r := run("a", "")
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(r).Build()
	var cached v1alpha1.AnalysisRun
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(r), &cached); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ro"}}
	var w runWrites
	e := &executor{c: c, ro: ro, log: logr.Discard(), runVersions: map[string]string{"a": cached.ResourceVersion}, runWrites: &w}
	if err := e.one(context.Background(), decide.TerminateAnalysisRun{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	var after v1alpha1.AnalysisRun
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(r), &after); err != nil || !after.Spec.Terminate {
		t.Fatalf("run not terminated: %v %+v", err, after.Spec)
	}
	key := client.ObjectKeyFromObject(ro)
	plan := []decide.Action{decide.TerminateAnalysisRun{Name: "a"}}
	if got := w.unsent(key, []*v1alpha1.AnalysisRun{&cached}, plan); len(got) != 0 {
		t.Fatalf("a cache at the replaced version sends the terminate again: %v", got)
	}
	// A run that is gone is not an error.
	if err := e.one(context.Background(), decide.TerminateAnalysisRun{Name: "gone"}); err != nil {
		t.Fatalf("terminate of a missing run: %v", err)
	}
}
