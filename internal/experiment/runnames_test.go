package experiment

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/collision"
	"github.com/kanaria-rollouts/kanaria/internal/experiment/decide"
)

func smokeTemplate() *v1alpha1.AnalysisTemplate {
	return &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "smoke"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "errors", SuccessCondition: "result.ok",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://c/health"}}}}},
	}
}

// TestAnalysisRunNameHeldByAnother: a run of another owner already has the
// name the Experiment's analysis takes. The pass that meets it ends without
// an error and without writing the status; the next creates the run as
// base.1 and names it in the status, and the other run is never written.
func TestAnalysisRunNameHeldByAnother(t *testing.T) {
	ctx := context.Background()
	ex := testExperiment()
	ex.Spec.Analyses = []v1alpha1.ExperimentAnalysisTemplateRef{{Name: "smoke", TemplateName: "smoke"}}
	yes := true
	foreign := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "exp-smoke",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Experiment", Name: "exp", UID: "deleted-exp-uid", Controller: &yes}}},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: smokeTemplate().Spec.Metrics},
	}
	c := newFakeClient(t, ex, smokeTemplate(), foreign)
	if err := c.Get(ctx, client.ObjectKeyFromObject(foreign), foreign); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: c, Recorder: record.NewFakeRecorder(50), Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ex)}
	reconcileOnce(t, r)
	var rs appsv1.ReplicaSet
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "exp-canary"}, &rs); err != nil {
		t.Fatal(err)
	}
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	if err := c.Status().Update(ctx, &rs); err != nil {
		t.Fatal(err)
	}
	var held bool
	for i := 0; i < 6 && !held; i++ {
		res, err := r.Reconcile(ctx, req)
		if err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
		held = r.held.Names(req.NamespacedName, collision.KindAnalysisRun)["exp-smoke"]
		if held && !res.Requeue {
			t.Fatalf("the pass that met the held name returned %+v, want a requeue", res)
		}
	}
	if !held {
		t.Fatal("no pass met the held name exp-smoke")
	}
	var got v1alpha1.Experiment
	if err := c.Get(ctx, req.NamespacedName, &got); err != nil {
		t.Fatal(err)
	}
	for _, s := range got.Status.AnalysisRuns {
		if s.AnalysisRun == "exp-smoke" {
			t.Fatalf("the status names the other owner's run: %+v", got.Status.AnalysisRuns)
		}
	}
	reconcileOnce(t, r)
	if err := c.Get(ctx, req.NamespacedName, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.AnalysisRuns) != 1 || got.Status.AnalysisRuns[0].AnalysisRun != "exp-smoke.1" {
		t.Fatalf("status runs %+v, want exp-smoke.1", got.Status.AnalysisRuns)
	}
	var mine v1alpha1.AnalysisRun
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "exp-smoke.1"}, &mine); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(&mine); ref == nil || ref.UID != ex.UID {
		t.Fatalf("exp-smoke.1 controlled by %v", ref)
	}
	var after v1alpha1.AnalysisRun
	if err := c.Get(ctx, client.ObjectKeyFromObject(foreign), &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != foreign.ResourceVersion {
		t.Fatalf("the other owner's run was written: %+v", after)
	}
}

// TestCreateRunFindsItsOwnEarlierCreate: a run the Experiment created that
// its cache does not show yet is taken as created while it runs with the
// same spec; once finished it holds the name like any other.
func TestCreateRunFindsItsOwnEarlierCreate(t *testing.T) {
	ex := testExperiment()
	want := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "exp-smoke",
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ex, v1alpha1.GroupVersion.WithKind("Experiment"))}},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: smokeTemplate().Spec.Metrics},
	}
	for _, tc := range []struct {
		phase v1alpha1.AnalysisPhase
		ours  bool
	}{{"", true}, {v1alpha1.AnalysisPhaseRunning, true}, {v1alpha1.AnalysisPhaseSuccessful, false}} {
		existing := want.DeepCopy()
		existing.Status.Phase = tc.phase
		c := newFakeClient(t, existing)
		var held collision.Held
		e := &executor{c: c, api: c, ex: ex, held: &held}
		err := e.one(context.Background(), decide.CreateAnalysisRun{Run: want})
		names := held.Names(client.ObjectKeyFromObject(ex), collision.KindAnalysisRun)
		if tc.ours && (err != nil || names != nil) {
			t.Errorf("phase %q: %v, held %v; want taken as created", tc.phase, err, names)
		}
		if !tc.ours && (err == nil || !names["exp-smoke"]) {
			t.Errorf("phase %q: %v, held %v; want the name held", tc.phase, err, names)
		}
	}
}
