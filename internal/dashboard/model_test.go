package dashboard

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// TestPagesServeTheReadModel checks the pages carry the read model as it
// is: the list without revisions, the rollout page with the template's
// containers beside it.
func TestPagesServeTheReadModel(t *testing.T) {
	ro := webRollout()
	ro.Status.CurrentStepIndex = ptr(int32(-3))
	rss := []appsv1.ReplicaSet{*replicaSet("web-"+stableH, stableH, "1", "registry.example/web:1", stableID, 5)}
	v := view(ro, rss, nil, nil, nil, created.Time)
	if v.Step == nil || v.Step.Index != 0 || v.Weights == nil || v.Weights.Set != 20 || v.Weights.Reached == nil || *v.Weights.Reached != 17 {
		t.Errorf("negative step index: step %+v weights %+v, want step 0 at 20%%", v.Step, v.Weights)
	}
	if l := listed(v); l.Revisions != nil || l.Name != v.Name || l.Status != v.Status || l.Step != v.Step {
		t.Errorf("listed %+v, want the view without revisions", l)
	}
	if len(v.Revisions) == 0 {
		t.Fatal("listed dropped the revisions of the view it was given")
	}
	p := page(ro, v, true)
	if !p.ReadOnly || p.Name != "web" || len(p.Revisions) != len(v.Revisions) {
		t.Errorf("page %+v", p)
	}
	if len(p.Containers) != 3 || p.Containers[2].Name != "migrate" || !p.Containers[2].Init || p.Containers[0].Init {
		t.Errorf("containers %+v, want the init container last", p.Containers)
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
	v := view(ro, rss, nil, nil, []v1alpha1.Experiment{current, someoneElses}, created.Time)
	var got []rolloutview.Experiment
	for _, rev := range v.Revisions {
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
	if ex.Name != current.Name || !ex.Current || ex.Phase != "Running" || len(ex.Templates) != 2 || len(ex.Analyses) != 1 {
		t.Fatalf("experiment %+v", ex)
	}
	if b, c := ex.Templates[0], ex.Templates[1]; b.Status != "Progressing" || c.Status != "Running" || c.Available != 1 || c.ServiceName != "exp-canary" {
		t.Fatalf("templates %+v, want the unreported baseline Progressing and the canary as reported", ex.Templates)
	}
}
