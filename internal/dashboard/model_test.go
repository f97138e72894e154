package dashboard

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestSummaryFollowsTheReadModel checks the page's JSON carries the read
// model's values where the dashboard once worked them out itself.
func TestSummaryFollowsTheReadModel(t *testing.T) {
	ro := webRollout()
	ro.Status.CurrentStepIndex = ptr(int32(-3))
	s := summarize(view(ro, nil, nil, nil, nil, created.Time))
	if s.Step == nil || s.Step.Current != 0 || s.Weight == nil || s.Weight.Set != 20 || s.Weight.Actual != 17 {
		t.Errorf("negative step index: step %+v weight %+v, want step 0 at 20%%", s.Step, s.Weight)
	}
	d := detail(ro, view(ro, nil, nil, nil, nil, created.Time))
	if len(d.Steps) != 5 || d.Steps[0].State != "current" || d.Steps[1].State != "pending" {
		t.Errorf("steps %+v", d.Steps)
	}
	ro.Status.ObservedGeneration = "1"
	if s := summarize(view(ro, nil, nil, nil, nil, created.Time)); s.Status != "Progressing" || s.Message != "waiting for the controller to observe generation 2" {
		t.Errorf("status of an unobserved generation: %s %q", s.Status, s.Message)
	}

	bg := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "bg"}}
	bg.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{ActiveService: "a"}
	bg.Status.BlueGreen.ActiveSelector, bg.Status.BlueGreen.PreviewSelector, bg.Status.StableRS = "h1", "h2", "h1"
	if s := summarize(view(bg, nil, nil, nil, nil, created.Time)); s.Strategy != "blueGreen" || s.Step != nil || s.Weight != nil {
		t.Errorf("blue-green summary: %+v", s)
	}
}

func TestDetailListsTheRolloutsExperimentsUnderTheirRevision(t *testing.T) {
	ro := webRollout()
	ro.Status.Canary.CurrentExperiment = "web-" + canaryH + "-2-1"
	rss := []appsv1.ReplicaSet{
		*replicaSet("web-"+stableH, stableH, "1", "registry.example/web:1", stableID, 5),
		*replicaSet("web-"+canaryH, canaryH, "2", "registry.example/web:2", canaryID, 1),
	}
	owner := []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}
	exp := func(name, hash string, owners []metav1.OwnerReference) v1alpha1.Experiment {
		return v1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, OwnerReferences: owners, CreationTimestamp: created,
				Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash}},
			Spec: v1alpha1.ExperimentSpec{Templates: []v1alpha1.TemplateSpec{{Name: "baseline"}, {Name: "canary"}}},
		}
	}
	current := exp("web-"+canaryH+"-2-1", canaryH, owner)
	current.Status = v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseRunning,
		TemplateStatuses: []v1alpha1.TemplateStatus{{Name: "canary", Status: v1alpha1.TemplateStatusRunning, Replicas: 1, AvailableReplicas: 1, ServiceName: "exp-canary"}},
		AnalysisRuns:     []v1alpha1.ExperimentAnalysisRunStatus{{Name: "smoke", AnalysisRun: "web-smoke", Phase: v1alpha1.AnalysisPhaseRunning}}}
	someoneElses := exp("other", canaryH, nil)
	d := detail(ro, view(ro, rss, nil, nil, []v1alpha1.Experiment{current, someoneElses}, created.Time))
	var got []Experiment
	for _, rev := range d.Revisions {
		if rev.Number == 2 {
			got = rev.Experiments
		} else if len(rev.Experiments) > 0 {
			t.Errorf("revision %d has Experiments %+v", rev.Number, rev.Experiments)
		}
	}
	if len(got) != 1 {
		t.Fatalf("revision 2 Experiments %+v, want the Rollout's one", got)
	}
	ex := got[0]
	if ex.Name != current.Name || !ex.Current || ex.Phase != "Running" || len(ex.Templates) != 2 || len(ex.AnalysisRuns) != 1 {
		t.Fatalf("experiment %+v", ex)
	}
	if b, c := ex.Templates[0], ex.Templates[1]; b.Status != "Progressing" || c.Status != "Running" || c.Available != 1 || c.ServiceName != "exp-canary" {
		t.Fatalf("templates %+v, want the unreported baseline Progressing and the canary as reported", ex.Templates)
	}
}
