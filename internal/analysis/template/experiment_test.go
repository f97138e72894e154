package template

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

func TestBuildForExperiment(t *testing.T) {
	str := func(s string) *string { return &s }
	ex := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "exp", Namespace: "ns", UID: "u1",
			Labels: map[string]string{"env": "prod", v1alpha1.LabelKeyControllerInstanceID: "blue", shard.LabelBucket: "5"}},
		Spec: v1alpha1.ExperimentSpec{
			AnalysisRunMetadata:  v1alpha1.AnalysisRunMetadata{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"note": "x"}},
			DryRun:               []v1alpha1.DryRun{{MetricName: "m"}},
			MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "m", Limit: 3}},
		},
	}
	l := Lookup{Templates: map[string]*v1alpha1.AnalysisTemplate{"t": {Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{
			{Name: "hash"}, {Name: "env"}, {Name: "token"}, {Name: "kept", Value: str("default")}, {Name: "window"},
		},
		Metrics: []v1alpha1.Metric{{Name: "m", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x"}}}},
	}}}}
	a := &v1alpha1.ExperimentAnalysisTemplateRef{Name: "a", TemplateName: "t", Args: []v1alpha1.Argument{
		{Name: "hash", Value: str("h={{ templates.canary.podTemplateHash }}")},
		{Name: "env", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['env']"}}},
		{Name: "token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "s", Key: "k"}}},
		{Name: "window", Value: str("{{experiment.availableAt}}..{{experiment.finishedAt}}")},
	}}
	values := map[string]string{"templates.canary.podTemplateHash": "abc", "experiment.availableAt": "T0", "experiment.finishedAt": "T1"}
	run, err := BuildForExperiment(ExperimentInput{Experiment: ex, Analysis: a, Name: "exp-a", Values: values}, l)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, arg := range run.Spec.Args {
		switch {
		case arg.Value != nil:
			got[arg.Name] = *arg.Value
		case arg.ValueFrom != nil && arg.ValueFrom.SecretKeyRef != nil:
			got[arg.Name] = "secret:" + arg.ValueFrom.SecretKeyRef.Name
		}
	}
	want := map[string]string{"hash": "h=abc", "env": "prod", "token": "secret:s", "kept": "default", "window": "T0..T1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("argument %s = %q, want %q", k, got[k], v)
		}
	}
	if ref := metav1.GetControllerOf(run); ref == nil || ref.Kind != "Experiment" || ref.UID != "u1" {
		t.Errorf("controller %v", ref)
	}
	if run.Labels["team"] != "a" || run.Labels[v1alpha1.LabelKeyControllerInstanceID] != "blue" || run.Labels[shard.LabelBucket] != "5" || run.Annotations["note"] != "x" {
		t.Errorf("labels %v annotations %v", run.Labels, run.Annotations)
	}
	if len(run.Spec.DryRun) != 1 || len(run.Spec.MeasurementRetention) != 1 || run.Namespace != "ns" {
		t.Errorf("dryRun %v retention %v namespace %q", run.Spec.DryRun, run.Spec.MeasurementRetention, run.Namespace)
	}

	delete(values, "experiment.finishedAt")
	_, err = BuildForExperiment(ExperimentInput{Experiment: ex, Analysis: a, Name: "exp-a", Values: values}, l)
	if err == nil || !strings.Contains(err.Error(), "{{experiment.finishedAt}}") || !strings.Contains(err.Error(), `"window"`) {
		t.Errorf("missing placeholder: %v", err)
	}
	a.TemplateName = "gone"
	if _, err := BuildForExperiment(ExperimentInput{Experiment: ex, Analysis: a, Name: "exp-a"}, l); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing template: %v", err)
	}
}
