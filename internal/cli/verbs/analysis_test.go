package verbs

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestTerminate(t *testing.T) {
	runObj := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc-2-success-rate", Namespace: ns},
		Spec:       v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{Name: "m"}}},
	}
	exp := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: "exp", Namespace: ns}}
	c := newClient(t, runObj, exp)
	out, _, err := run(t, c, "terminate", "analysisrun", "web-abc-2-success-rate", "-n", ns)
	if err != nil || out != "analysisrun 'web-abc-2-success-rate' terminated\n" {
		t.Fatalf("%q, %v", out, err)
	}
	if out, _, err = run(t, c, "terminate", "exp", "exp", "-n", ns); err != nil || out != "experiment 'exp' terminated\n" {
		t.Fatalf("%q, %v", out, err)
	}
	ctx := context.Background()
	if err := c.Get(ctx, client.ObjectKeyFromObject(runObj), runObj); err != nil || !runObj.Spec.Terminate {
		t.Fatalf("analysisrun spec.terminate %v (%v)", runObj.Spec.Terminate, err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(exp), exp); err != nil || !exp.Spec.Terminate {
		t.Fatalf("experiment spec.terminate %v (%v)", exp.Spec.Terminate, err)
	}
}

func TestRetryExperimentClearsStatus(t *testing.T) {
	exp := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "exp", Namespace: ns},
		Spec:       v1alpha1.ExperimentSpec{Duration: "5m"},
		Status:     v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseFailed, Message: "analysis failed"},
	}
	c := newClient(t, exp)
	out, _, err := run(t, c, "retry", "experiment", "exp", "-n", ns)
	if err != nil || out != "experiment 'exp' retried\n" {
		t.Fatalf("%q, %v", out, err)
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(exp), exp); err != nil {
		t.Fatal(err)
	}
	if exp.Status.Phase != "" || exp.Status.Message != "" || exp.Spec.Duration != "5m" {
		t.Fatalf("status %+v, spec %+v after retry", exp.Status, exp.Spec)
	}
}

// templates returns an AnalysisTemplate "success-rate" that names a nested
// template and a ClusterAnalysisTemplate, as Rollouts do.
func templates() []client.Object {
	latency := &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "latency", Namespace: ns},
		Spec: v1alpha1.AnalysisTemplateSpec{
			Args:    []v1alpha1.Argument{{Name: "service"}, {Name: "quantile", Value: ptr("0.99")}},
			Metrics: []v1alpha1.Metric{{Name: "latency", SuccessCondition: "result < 0.5"}},
		},
	}
	success := &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "success-rate", Namespace: ns},
		Spec: v1alpha1.AnalysisTemplateSpec{
			Args: []v1alpha1.Argument{
				{Name: "service"},
				{Name: "token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "prom", Key: "token"}}},
			},
			Metrics:   []v1alpha1.Metric{{Name: "success-rate", SuccessCondition: "result >= 0.95"}},
			DryRun:    []v1alpha1.DryRun{{MetricName: "latency"}},
			Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "latency"}, {TemplateName: "smoke", ClusterScope: true}},
		},
	}
	smoke := &v1alpha1.ClusterAnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke"},
		Spec:       v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "smoke"}}},
	}
	dup := &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "dup", Namespace: ns},
		Spec: v1alpha1.AnalysisTemplateSpec{
			Metrics:   []v1alpha1.Metric{{Name: "latency"}},
			Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "latency"}},
		},
	}
	dangling := &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "dangling", Namespace: ns},
		Spec:       v1alpha1.AnalysisTemplateSpec{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "gone"}}},
	}
	return []client.Object{latency, success, smoke, dup, dangling}
}

func TestCreateAnalysisRun(t *testing.T) {
	c := newClient(t, templates()...)
	out, _, err := run(t, c, "create", "analysisrun", "--from", "success-rate", "--argument", "service=web.shop.svc", "-a", "quantile=0.9", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "analysisrun.argoproj.io/success-rate-") || !strings.HasSuffix(out, " created\n") {
		t.Fatalf("printed %q", out)
	}
	var runs v1alpha1.AnalysisRunList
	if err := c.List(context.Background(), &runs, client.InNamespace(ns)); err != nil || len(runs.Items) != 1 {
		t.Fatalf("%d runs (%v)", len(runs.Items), err)
	}
	r := runs.Items[0]
	var metrics []string
	for _, m := range r.Spec.Metrics {
		metrics = append(metrics, m.Name)
	}
	if strings.Join(metrics, ",") != "success-rate,latency,smoke" {
		t.Fatalf("metrics %v: the nested and cluster templates were not merged", metrics)
	}
	args := map[string]v1alpha1.Argument{}
	for _, a := range r.Spec.Args {
		args[a.Name] = a
	}
	if v := args["service"].Value; v == nil || *v != "web.shop.svc" {
		t.Fatalf("service = %v", v)
	}
	if v := args["quantile"].Value; v == nil || *v != "0.9" {
		t.Fatalf("quantile = %v: the given value must win over the default", v)
	}
	if a := args["token"]; a.Value != nil || a.ValueFrom == nil || a.ValueFrom.SecretKeyRef.Name != "prom" {
		t.Fatalf("token = %+v: a Secret reference must stay a reference", a)
	}
	if len(r.Spec.DryRun) != 1 || r.GenerateName != "success-rate-" {
		t.Fatalf("dryRun %v, generateName %q", r.Spec.DryRun, r.GenerateName)
	}

	if _, _, err := run(t, c, "create", "analysisrun", "--from", "smoke", "--from-cluster", "--name", "smoke-1", "--instance-id", "blue", "-n", ns); err != nil {
		t.Fatal(err)
	}
	smoke := &v1alpha1.AnalysisRun{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "smoke-1"}, smoke); err != nil {
		t.Fatal(err)
	}
	if smoke.Labels[v1alpha1.LabelKeyControllerInstanceID] != "blue" || smoke.Spec.Metrics[0].Name != "smoke" {
		t.Fatalf("run %+v", smoke)
	}
}

func TestCreateAnalysisRunErrors(t *testing.T) {
	c := newClient(t, templates()...)
	cases := map[string]struct {
		args []string
		want string
	}{
		"missing arg": {[]string{"--from", "success-rate"},
			`argument "service" has no value; pass --argument service=VALUE`},
		"unknown arg": {[]string{"--from", "latency", "-a", "service=x", "-a", "servce=y"},
			`argument "servce" is not declared by the template; it declares "service", "quantile"`},
		"bad arg":                    {[]string{"--from", "latency", "-a", "service"}, `argument "service" is not NAME=VALUE`},
		"no --from":                  {nil, "--from is required"},
		"both names":                 {[]string{"--from", "latency", "--name", "a", "--generate-name", "b"}, "--name and --generate-name are both set"},
		"template not found":         {[]string{"--from", "nope"}, `analysistemplate "nope" not found in namespace "shop"`},
		"cluster template not found": {[]string{"--from", "latency", "--from-cluster"}, `clusteranalysistemplate "latency" not found`},
		"duplicate metric": {[]string{"--from", "dup", "-a", "service=x"},
			`building the AnalysisRun from AnalysisTemplate "dup" in namespace "shop": metric "latency" is defined by both AnalysisTemplate dup and AnalysisTemplate latency`},
		"nested not found": {[]string{"--from", "dangling"},
			`building the AnalysisRun from AnalysisTemplate "dangling" in namespace "shop": AnalysisTemplate "gone" not found`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := run(t, c, append([]string{"create", "analysisrun", "-n", ns}, tc.args...)...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	_, _, err := run(t, c, "create", "analysisrun", "--from", "latency", "--name", "fixed", "-a", "service=x", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = run(t, c, "create", "analysisrun", "--from", "latency", "--name", "fixed", "-a", "service=x", "-n", ns)
	if want := `analysisrun "fixed" already exists in namespace "shop"; choose another --name, or use --generate-name`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}
