package collision

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func owned(uid types.UID) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "web", UID: uid, Controller: &yes}}
}

func ddRun(uid types.UID, arg string) *v1alpha1.AnalysisRun {
	v := arg
	return &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-abc-2", OwnerReferences: owned(uid)},
		Spec: v1alpha1.AnalysisRunSpec{
			Metrics: []v1alpha1.Metric{{Name: "errors", Provider: v1alpha1.MetricProvider{Datadog: &v1alpha1.DatadogMetric{Query: "sum:errors{*}"}}}},
			Args:    []v1alpha1.Argument{{Name: "svc", Value: &v}},
		},
	}
}

func TestRunIsOurs(t *testing.T) {
	want := ddRun("ro-uid", "web")
	// What the API server returns for our own create: the schema's
	// defaults filled in.
	defaulted := want.DeepCopy()
	defaulted.Spec.Metrics[0].Provider.Datadog.Interval = "5m"
	defaulted.Spec.Metrics[0].Provider.Datadog.ApiVersion = "v1"

	completed := defaulted.DeepCopy()
	completed.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
	running := defaulted.DeepCopy()
	running.Status.Phase = v1alpha1.AnalysisPhaseRunning
	terminating := running.DeepCopy()
	terminating.Spec.Terminate = true
	orphan := running.DeepCopy()
	orphan.OwnerReferences = nil
	otherArgs := ddRun("ro-uid", "shop")
	otherQuery := running.DeepCopy()
	otherQuery.Spec.Metrics[0].Provider.Datadog.Query = "sum:latency{*}"
	for _, tc := range []struct {
		name     string
		existing *v1alpha1.AnalysisRun
		ours     bool
	}{
		{"our own create, not yet measured", defaulted, true},
		{"our own run, running", running, true},
		{"our own run of this revision, completed", completed, false},
		{"our own run, asked to terminate", terminating, false},
		{"the same spec, another owner", ddRun("other-uid", "web"), false},
		{"the same spec, a deleted Rollout's of the same name", func() *v1alpha1.AnalysisRun {
			r := running.DeepCopy()
			r.OwnerReferences = owned("deleted-uid")
			return r
		}(), false},
		{"the same spec, no controller", orphan, false},
		{"our own, other arguments", otherArgs, false},
		{"our own, another query", otherQuery, false},
	} {
		if got := RunIsOurs(want, tc.existing); got != tc.ours {
			t.Errorf("%s: RunIsOurs %v, want %v", tc.name, got, tc.ours)
		}
	}
	if RunIsOurs(orphan, running) {
		t.Error("a run to create without a controller took an existing one")
	}
}

func TestExperimentIsOurs(t *testing.T) {
	want := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-abc-2-1", OwnerReferences: owned("ro-uid")},
		Spec: v1alpha1.ExperimentSpec{Duration: "30s", Templates: []v1alpha1.TemplateSpec{{
			Name: "canary",
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:2"}}},
			},
		}}},
	}
	running := want.DeepCopy()
	running.Status.Phase = v1alpha1.AnalysisPhaseRunning
	failed := want.DeepCopy()
	failed.Status.Phase = v1alpha1.AnalysisPhaseFailed
	foreign := running.DeepCopy()
	foreign.OwnerReferences = owned("other-uid")
	otherImage := running.DeepCopy()
	otherImage.Spec.Templates[0].Template.Spec.Containers[0].Image = "web:3"
	terminating := running.DeepCopy()
	terminating.Spec.Terminate = true
	for _, tc := range []struct {
		name     string
		existing *v1alpha1.Experiment
		ours     bool
	}{
		{"our own create", want.DeepCopy(), true},
		{"our own, running", running, true},
		{"our own, finished", failed, false},
		{"the same spec, another owner", foreign, false},
		{"our own, another image", otherImage, false},
		{"our own, terminating", terminating, false},
	} {
		if got := ExperimentIsOurs(want, tc.existing); got != tc.ours {
			t.Errorf("%s: ExperimentIsOurs %v, want %v", tc.name, got, tc.ours)
		}
	}
}

func TestHeldKeepsOneVersionPerOwner(t *testing.T) {
	var h Held
	ro := types.NamespacedName{Namespace: "ns", Name: "web"}
	other := types.NamespacedName{Namespace: "ns", Name: "shop"}
	if got := h.Names(ro, KindAnalysisRun); got != nil {
		t.Fatalf("nothing recorded, got %v", got)
	}
	h.Record(ro, "abc", KindAnalysisRun, "web-abc-2")
	h.Record(ro, "abc", KindAnalysisRun, "web-abc-2.1")
	h.Record(ro, "abc", KindExperiment, "web-abc-2-1")
	h.Record(other, "def", KindAnalysisRun, "shop-def-3")
	if got := h.Names(ro, KindAnalysisRun); len(got) != 2 || !got["web-abc-2"] || !got["web-abc-2.1"] {
		t.Fatalf("runs %v, want web-abc-2 and web-abc-2.1", got)
	}
	if got := h.Names(ro, KindExperiment); len(got) != 1 || !got["web-abc-2-1"] {
		t.Fatalf("Experiments %v, want web-abc-2-1", got)
	}
	// A collision of the next release drops those of the last.
	h.Record(ro, "xyz", KindAnalysisRun, "web-xyz-3")
	if got := h.Names(ro, KindAnalysisRun); len(got) != 1 || !got["web-xyz-3"] {
		t.Fatalf("runs after a new version %v, want only web-xyz-3", got)
	}
	if got := h.Names(ro, KindExperiment); got != nil {
		t.Fatalf("Experiments of the old version kept: %v", got)
	}
	h.Forget(ro)
	if got := h.Names(ro, KindAnalysisRun); got != nil {
		t.Fatalf("records outlived Forget: %v", got)
	}
	if got := h.Names(other, KindAnalysisRun); len(got) != 1 {
		t.Fatalf("another owner's records: %v", got)
	}
}
