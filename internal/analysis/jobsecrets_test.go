package analysis

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func jobMetric(c corev1.Container) v1alpha1.Metric {
	return v1alpha1.Metric{Name: "test", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{Spec: batchv1.JobSpec{
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}},
	}}}}
}

func secretArgRun() *v1alpha1.AnalysisRun {
	plain := "svc"
	return &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Args: []v1alpha1.Argument{
		{Name: "service", Value: &plain},
		{Name: "api.token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "creds", Key: "token"}}},
	}}}
}

func TestJobSecretArgumentsReferenceTheSecret(t *testing.T) {
	run := secretArgRun()
	m := jobMetric(corev1.Container{
		Name: "c", Image: "curl",
		Command: []string{"sh", "-c", "curl -H 'Authorization: {{args.api.token}}' http://{{args.service}}"},
		Args:    []string{"{{ args.api.token }}"},
		Env:     []corev1.EnvVar{{Name: "TOKEN", Value: "Bearer {{args.api.token}}"}},
	})
	got, err := referenceJobSecrets(m, run)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Provider.Job.Spec.Template.Spec.Containers[0]
	if c.Command[2] != "curl -H 'Authorization: $(KANARIA_SECRET_ARG_API_TOKEN)' http://{{args.service}}" || c.Args[0] != "$(KANARIA_SECRET_ARG_API_TOKEN)" {
		t.Errorf("command %q args %q", c.Command, c.Args)
	}
	if len(c.Env) != 2 || c.Env[0].Name != "KANARIA_SECRET_ARG_API_TOKEN" || c.Env[0].ValueFrom == nil ||
		c.Env[0].ValueFrom.SecretKeyRef.Name != "creds" || c.Env[0].ValueFrom.SecretKeyRef.Key != "token" {
		t.Fatalf("env %+v: want the Secret's variable first", c.Env)
	}
	if c.Env[1].Value != "Bearer $(KANARIA_SECRET_ARG_API_TOKEN)" {
		t.Errorf("env value %q", c.Env[1].Value)
	}
	if orig := m.Provider.Job.Spec.Template.Spec.Containers[0]; !strings.Contains(orig.Args[0], "args.api.token") || len(orig.Env) != 1 {
		t.Error("the run's own metric was changed")
	}

	// Substitution afterwards fills the plain argument only.
	args := resolvedArgs{values: map[string]string{"service": "svc", "api.token": "s3cret"}, secrets: []string{"s3cret"}}
	sm, err := substitute(got, args)
	if err != nil {
		t.Fatal(err)
	}
	b := sm.Provider.Job.Spec.Template.Spec.Containers[0]
	if strings.Contains(strings.Join(append(append(b.Command, b.Args...), b.Env[1].Value), " "), "s3cret") || !strings.HasSuffix(b.Command[2], "http://svc") {
		t.Errorf("after substitution: %q %q %q", b.Command, b.Args, b.Env[1].Value)
	}
}

func TestJobSecretArgumentElsewhereIsRefused(t *testing.T) {
	m := jobMetric(corev1.Container{Name: "c", Image: "registry.example/{{args.api.token}}"})
	if _, err := referenceJobSecrets(m, secretArgRun()); err == nil || !strings.Contains(err.Error(), "api.token") {
		t.Fatalf("err %v, want one naming the argument", err)
	}
	// Plain arguments go anywhere.
	m = jobMetric(corev1.Container{Name: "c", Image: "registry.example/{{args.service}}"})
	if got, err := referenceJobSecrets(m, secretArgRun()); err != nil || len(got.Provider.Job.Spec.Template.Spec.Containers[0].Env) != 0 {
		t.Fatalf("plain argument: err %v", err)
	}
}
