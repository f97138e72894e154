package rollout

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/collision"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

func controlledBy(kind, name string, uid types.UID) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: kind, Name: name, UID: uid, Controller: &yes}}
}

func smokeRun(name string, owners []metav1.OwnerReference, url string) *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: name, OwnerReferences: owners,
			Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: "abc"}},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{Name: "errors", SuccessCondition: "result.ok",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url}}}}},
	}
}

// TestRunCreateIntoAHeldName: a create that finds the name taken reads the
// holder from the API server; only our own running run with the same spec
// is taken as created, and any other holder is recorded for the next
// decision and ends the pass with a taken name.
func TestRunCreateIntoAHeldName(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "shop", UID: "shop-uid"}}
	mine := controlledBy("Rollout", "shop", "shop-uid")
	want := smokeRun("shop-abc-2", mine, "http://x/abc")
	withPhase := func(r *v1alpha1.AnalysisRun, p v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRun {
		r.Status.Phase = p
		return r
	}
	for _, tc := range []struct {
		name   string
		holder *v1alpha1.AnalysisRun
		ours   bool
	}{
		{"our own running run, the cache behind its create", withPhase(smokeRun("shop-abc-2", mine, "http://x/abc"), v1alpha1.AnalysisPhaseRunning), true},
		{"our own run of this revision, completed", withPhase(smokeRun("shop-abc-2", mine, "http://x/abc"), v1alpha1.AnalysisPhaseSuccessful), false},
		{"another owner's run", withPhase(smokeRun("shop-abc-2", controlledBy("Rollout", "other", "other-uid"), "http://y"), v1alpha1.AnalysisPhaseRunning), false},
		{"the same spec, a deleted Rollout of the same name's", withPhase(smokeRun("shop-abc-2", controlledBy("Rollout", "shop", "old-shop-uid"), "http://x/abc"), v1alpha1.AnalysisPhaseRunning), false},
		{"the same spec, no controller", smokeRun("shop-abc-2", nil, "http://x/abc"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := fake.NewClientBuilder().WithScheme(rolloutScheme(t)).WithObjects(tc.holder).Build()
			var held collision.Held
			e := &executor{c: api, api: api, ro: ro, log: logr.Discard(), held: &held}
			err := e.apply(context.Background(), []decide.Action{decide.CreateAnalysisRun{Run: want}})
			key := client.ObjectKeyFromObject(ro)
			if tc.ours {
				if err != nil {
					t.Fatalf("our own run: %v", err)
				}
				if got := held.Names(key, collision.KindAnalysisRun); got != nil {
					t.Fatalf("our own run recorded as held: %v", got)
				}
				return
			}
			var ce *collision.Error
			if !errors.As(err, &ce) || !isNameTaken(err) || ce.Name != want.Name || takenReason(err) != "AnalysisRunNameTaken" {
				t.Fatalf("create into a held name: %v, want a taken AnalysisRun name", err)
			}
			if got := held.Names(key, collision.KindAnalysisRun); !got[want.Name] {
				t.Fatalf("held names %v, want %s", got, want.Name)
			}
			var after v1alpha1.AnalysisRun
			if err := api.Get(context.Background(), client.ObjectKeyFromObject(tc.holder), &after); err != nil {
				t.Fatal(err)
			}
			if after.ResourceVersion != tc.holder.ResourceVersion && tc.holder.ResourceVersion != "" || after.Spec.Terminate {
				t.Fatalf("the holder was written: %+v", after)
			}
		})
	}
}

// TestExperimentCreateIntoAHeldName is the same for an experiment step's
// Experiment.
func TestExperimentCreateIntoAHeldName(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "shop", UID: "shop-uid"}}
	exp := func(owners []metav1.OwnerReference, phase v1alpha1.AnalysisPhase) *v1alpha1.Experiment {
		return &v1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "shop-abc-2-1", OwnerReferences: owners,
				Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: "abc"}},
			Spec:   v1alpha1.ExperimentSpec{Duration: "30s", Templates: []v1alpha1.TemplateSpec{{Name: "canary"}}},
			Status: v1alpha1.ExperimentStatus{Phase: phase},
		}
	}
	mine := controlledBy("Rollout", "shop", "shop-uid")
	want := exp(mine, "")
	for _, tc := range []struct {
		name   string
		holder *v1alpha1.Experiment
		ours   bool
	}{
		{"our own running Experiment", exp(mine, v1alpha1.AnalysisPhaseRunning), true},
		{"our own finished Experiment", exp(mine, v1alpha1.AnalysisPhaseFailed), false},
		{"the same spec, another owner", exp(controlledBy("Rollout", "other", "other-uid"), v1alpha1.AnalysisPhaseRunning), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := fake.NewClientBuilder().WithScheme(rolloutScheme(t)).WithObjects(tc.holder).Build()
			var held collision.Held
			e := &executor{c: api, api: api, ro: ro, log: logr.Discard(), held: &held}
			err := e.one(context.Background(), decide.CreateExperiment{Experiment: want})
			got := held.Names(client.ObjectKeyFromObject(ro), collision.KindExperiment)
			if tc.ours {
				if err != nil || got != nil {
					t.Fatalf("our own Experiment: %v, held %v", err, got)
				}
				return
			}
			if !isNameTaken(err) || takenReason(err) != "ExperimentNameTaken" || !got[want.Name] {
				t.Fatalf("create into a held name: %v, held %v", err, got)
			}
		})
	}
}

// TestBackgroundRunTakesTheNextNameWhenAnotherHoldsIt walks a canary with
// a background analysis through a release on a fake cluster where an
// AnalysisRun of another owner already has the name the Rollout's run
// takes. The pass that meets it ends without writing the status; the next
// one creates the run as base.1 and names it in the status, and the other
// run is never written.
func TestBackgroundRunTakesTheNextNameWhenAnotherHoldsIt(t *testing.T) {
	ctx := context.Background()
	c := newRoutedCluster(t)
	tmpl := c.backgroundAnalysis(v1alpha1.Metric{Name: "errors", SuccessCondition: "result.ok",
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://shop/health"}}})
	r, _ := c.reconciler(false)
	c.untilHealthy(r, countsDebounce+time.Second)
	c.release("shop:v2")
	ro := c.rollout()
	base := "shop-" + podhash.Template(&ro.Spec.Template, nil) + "-2"
	foreign := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: base, OwnerReferences: controlledBy("Rollout", "shop", "deleted-shop-uid")},
		Spec:       v1alpha1.AnalysisRunSpec{Metrics: tmpl.Spec.Metrics},
	}
	if err := c.api.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	c.takeWrites()

	c.pass(r)
	first := c.takeWrites()
	if !slices.Contains(first, "create AnalysisRun "+base) {
		t.Fatalf("first pass wrote %q, want a create of %s", first, base)
	}
	if slices.Contains(first, "patch status Rollout shop") {
		t.Fatalf("the pass that met the held name wrote the status: %q", first)
	}
	if st := c.rollout().Status.Canary.CurrentBackgroundAnalysisRunStatus; st != nil && st.Name == base {
		t.Fatalf("the status names the other owner's run %s", base)
	}
	c.pass(r)
	second := c.takeWrites()
	if !slices.Contains(second, "create AnalysisRun "+base+".1") || slices.Contains(second, "create AnalysisRun "+base) {
		t.Fatalf("second pass wrote %q, want a create of %s.1 only", second, base)
	}
	st := c.rollout().Status.Canary.CurrentBackgroundAnalysisRunStatus
	if st == nil || st.Name != base+".1" {
		t.Fatalf("status names background run %+v, want %s.1", st, base)
	}
	var mine v1alpha1.AnalysisRun
	if err := c.api.Get(ctx, types.NamespacedName{Namespace: "web", Name: base + ".1"}, &mine); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(&mine); ref == nil || ref.UID != "shop-uid" {
		t.Fatalf("run %s controlled by %v", mine.Name, ref)
	}
	// Later passes leave both runs as they are.
	c.pass(r)
	c.pass(r)
	var after v1alpha1.AnalysisRun
	if err := c.api.Get(ctx, client.ObjectKeyFromObject(foreign), &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != foreign.ResourceVersion {
		t.Fatalf("the other owner's run was written: %+v", after)
	}
	for _, w := range c.takeWrites() {
		if w == "create AnalysisRun "+base || w == "patch AnalysisRun "+base {
			t.Fatalf("a later pass wrote %q", w)
		}
	}
}
