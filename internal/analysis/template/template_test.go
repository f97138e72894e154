package template

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func sp(s string) *string { return &s }

func metric(name string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: name, Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Query: "q-" + name}}}
}

func at(name string, spec v1alpha1.AnalysisTemplateSpec) *v1alpha1.AnalysisTemplate {
	return &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: spec}
}

func cat(name string, spec v1alpha1.AnalysisTemplateSpec) *v1alpha1.ClusterAnalysisTemplate {
	return &v1alpha1.ClusterAnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func nested(refs ...Ref) []v1alpha1.AnalysisTemplateRef {
	var out []v1alpha1.AnalysisTemplateRef
	for _, r := range refs {
		out = append(out, v1alpha1.AnalysisTemplateRef{TemplateName: r.Name, ClusterScope: r.ClusterScope})
	}
	return out
}

func names(ms []v1alpha1.Metric) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return strings.Join(out, ",")
}

func argString(as []v1alpha1.Argument) string {
	var out []string
	for _, a := range as {
		s := a.Name
		switch {
		case a.Value != nil:
			s += "=" + *a.Value
		case a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil:
			s += "=secret:" + a.ValueFrom.SecretKeyRef.Name + "/" + a.ValueFrom.SecretKeyRef.Key
		case a.ValueFrom != nil && a.ValueFrom.FieldRef != nil:
			s += "=field:" + a.ValueFrom.FieldRef.FieldPath
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

func TestMerge(t *testing.T) {
	secretArg := v1alpha1.Argument{Name: "token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "creds", Key: "tok"}}}
	l := Lookup{
		Templates: map[string]*v1alpha1.AnalysisTemplate{
			"success-rate": at("success-rate", v1alpha1.AnalysisTemplateSpec{
				Metrics: []v1alpha1.Metric{metric("success-rate")},
				Args:    []v1alpha1.Argument{{Name: "service-name"}, {Name: "threshold", Value: sp("0.95")}},
				DryRun:  []v1alpha1.DryRun{{MetricName: "success-rate"}},
			}),
			"error-rate": at("error-rate", v1alpha1.AnalysisTemplateSpec{
				Metrics:              []v1alpha1.Metric{metric("error-rate")},
				Args:                 []v1alpha1.Argument{{Name: "service-name", Value: sp("svc")}, secretArg},
				MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "error-rate", Limit: 3}},
			}),
			"same-default": at("same-default", v1alpha1.AnalysisTemplateSpec{
				Metrics: []v1alpha1.Metric{metric("latency")},
				Args:    []v1alpha1.Argument{{Name: "threshold", Value: sp("0.95")}},
			}),
			"other-default": at("other-default", v1alpha1.AnalysisTemplateSpec{
				Metrics: []v1alpha1.Metric{metric("latency-p50")},
				Args:    []v1alpha1.Argument{{Name: "threshold", Value: sp("0.99")}},
			}),
			"no-value": at("no-value", v1alpha1.AnalysisTemplateSpec{
				Metrics: []v1alpha1.Metric{metric("p99")},
				Args:    []v1alpha1.Argument{{Name: "threshold"}, {Name: "token"}},
			}),
			"dup-success-rate": at("dup-success-rate", v1alpha1.AnalysisTemplateSpec{
				Metrics: []v1alpha1.Metric{metric("success-rate")},
			}),
			"parent": at("parent", v1alpha1.AnalysisTemplateSpec{
				Metrics:   []v1alpha1.Metric{metric("parent-m")},
				Templates: nested(Ref{Name: "child"}, Ref{Name: "shared", ClusterScope: true}),
			}),
			"child": at("child", v1alpha1.AnalysisTemplateSpec{
				Metrics:   []v1alpha1.Metric{metric("child-m")},
				Templates: nested(Ref{Name: "grandchild"}),
			}),
			"grandchild": at("grandchild", v1alpha1.AnalysisTemplateSpec{
				Metrics: []v1alpha1.Metric{metric("grandchild-m")},
				Args:    []v1alpha1.Argument{{Name: "deep", Value: sp("1")}},
			}),
			"cycle-a": at("cycle-a", v1alpha1.AnalysisTemplateSpec{
				Metrics:   []v1alpha1.Metric{metric("a")},
				Templates: nested(Ref{Name: "cycle-b"}),
			}),
			"cycle-b": at("cycle-b", v1alpha1.AnalysisTemplateSpec{
				Metrics:   []v1alpha1.Metric{metric("b")},
				Templates: nested(Ref{Name: "cycle-a"}),
			}),
			"self": at("self", v1alpha1.AnalysisTemplateSpec{
				Metrics:   []v1alpha1.Metric{metric("self-m")},
				Templates: nested(Ref{Name: "self"}),
			}),
			"dangling": at("dangling", v1alpha1.AnalysisTemplateSpec{
				Metrics:   []v1alpha1.Metric{metric("d")},
				Templates: nested(Ref{Name: "nowhere"}),
			}),
			"empty": at("empty", v1alpha1.AnalysisTemplateSpec{}),
			// A namespaced template named like a cluster one.
			"shared": at("shared", v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{metric("namespaced-shared")}}),
		},
		ClusterTemplates: map[string]*v1alpha1.ClusterAnalysisTemplate{
			"shared": cat("shared", v1alpha1.AnalysisTemplateSpec{
				Metrics: []v1alpha1.Metric{metric("cluster-shared")},
				Args:    []v1alpha1.Argument{{Name: "service-name"}},
			}),
			"cluster-dup": cat("cluster-dup", v1alpha1.AnalysisTemplateSpec{
				Metrics: []v1alpha1.Metric{metric("error-rate")},
			}),
		},
	}
	tests := []struct {
		name        string
		refs        []Ref
		wantMetrics string
		wantArgs    string
		wantDryRun  int
		wantRetain  int
		wantErr     []string
	}{
		{name: "one template", refs: []Ref{{Name: "success-rate"}}, wantMetrics: "success-rate", wantArgs: "service-name,threshold=0.95", wantDryRun: 1},
		{name: "two templates merge metrics, args, dryRun and retention", refs: []Ref{{Name: "success-rate"}, {Name: "error-rate"}}, wantMetrics: "success-rate,error-rate", wantArgs: "service-name=svc,threshold=0.95,token=secret:creds/tok", wantDryRun: 1, wantRetain: 1},
		{name: "a value beats no value, whatever the order", refs: []Ref{{Name: "error-rate"}, {Name: "success-rate"}}, wantMetrics: "error-rate,success-rate", wantArgs: "service-name=svc,token=secret:creds/tok,threshold=0.95", wantDryRun: 1, wantRetain: 1},
		{name: "no value does not replace a secret reference", refs: []Ref{{Name: "error-rate"}, {Name: "no-value"}}, wantMetrics: "error-rate,p99", wantArgs: "service-name=svc,token=secret:creds/tok,threshold", wantRetain: 1},
		{name: "namespaced and cluster templates", refs: []Ref{{Name: "success-rate"}, {Name: "shared", ClusterScope: true}}, wantMetrics: "success-rate,cluster-shared", wantArgs: "service-name,threshold=0.95", wantDryRun: 1},
		{name: "namespaced and cluster templates of one name are different", refs: []Ref{{Name: "shared"}, {Name: "shared", ClusterScope: true}}, wantMetrics: "namespaced-shared,cluster-shared", wantArgs: "service-name"},
		{name: "equal defaults agree", refs: []Ref{{Name: "success-rate"}, {Name: "same-default"}}, wantMetrics: "success-rate,latency", wantArgs: "service-name,threshold=0.95", wantDryRun: 1},
		{name: "nested templates", refs: []Ref{{Name: "parent"}}, wantMetrics: "parent-m,child-m,grandchild-m,cluster-shared", wantArgs: "deep=1,service-name"},
		{name: "nested template also named directly is merged once", refs: []Ref{{Name: "child"}, {Name: "parent"}}, wantMetrics: "child-m,grandchild-m,parent-m,cluster-shared", wantArgs: "deep=1,service-name"},
		{name: "cycle of two", refs: []Ref{{Name: "cycle-a"}}, wantMetrics: "a,b"},
		{name: "self reference", refs: []Ref{{Name: "self"}}, wantMetrics: "self-m"},
		{name: "same template twice", refs: []Ref{{Name: "success-rate"}, {Name: "success-rate"}}, wantMetrics: "success-rate", wantArgs: "service-name,threshold=0.95", wantDryRun: 1},
		{name: "duplicate metric names", refs: []Ref{{Name: "success-rate"}, {Name: "dup-success-rate"}}, wantErr: []string{`"success-rate"`, "AnalysisTemplate success-rate", "AnalysisTemplate dup-success-rate"}},
		{name: "duplicate metric across cluster template", refs: []Ref{{Name: "error-rate"}, {Name: "cluster-dup", ClusterScope: true}}, wantErr: []string{`"error-rate"`, "AnalysisTemplate error-rate", "ClusterAnalysisTemplate cluster-dup"}},
		{name: "conflicting defaults", refs: []Ref{{Name: "same-default"}, {Name: "other-default"}}, wantErr: []string{`"threshold"`, "different default values"}},
		{name: "missing template", refs: []Ref{{Name: "success-rate"}, {Name: "ghost"}}, wantErr: []string{"AnalysisTemplate", `"ghost"`, "not found"}},
		{name: "missing cluster template", refs: []Ref{{Name: "success-rate", ClusterScope: true}}, wantErr: []string{"ClusterAnalysisTemplate", `"success-rate"`, "not found"}},
		{name: "missing nested template", refs: []Ref{{Name: "dangling"}}, wantErr: []string{`"nowhere"`}},
		{name: "no metric at all", refs: []Ref{{Name: "empty"}}, wantErr: []string{"no metric"}},
		{name: "no templates", wantErr: []string{"no metric"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := Merge(tc.refs, l)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("merged %s, want an error", names(spec.Metrics))
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %s", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(spec.Metrics); got != tc.wantMetrics {
				t.Errorf("metrics = %s, want %s", got, tc.wantMetrics)
			}
			if got := argString(spec.Args); got != tc.wantArgs {
				t.Errorf("args = %s, want %s", got, tc.wantArgs)
			}
			if len(spec.DryRun) != tc.wantDryRun || len(spec.MeasurementRetention) != tc.wantRetain {
				t.Errorf("dryRun %v, retention %v; want %d and %d entries", spec.DryRun, spec.MeasurementRetention, tc.wantDryRun, tc.wantRetain)
			}
			if len(spec.Templates) != 0 {
				t.Errorf("merged spec keeps nested references %v", spec.Templates)
			}
		})
	}
}

// Merge copies: changing the result leaves the templates as they were.
func TestMergeDoesNotAlias(t *testing.T) {
	tmpl := at("t", v1alpha1.AnalysisTemplateSpec{
		Metrics: []v1alpha1.Metric{metric("m")},
		Args:    []v1alpha1.Argument{{Name: "a", Value: sp("1")}},
	})
	l := Lookup{Templates: map[string]*v1alpha1.AnalysisTemplate{"t": tmpl}}
	spec, err := Merge([]Ref{{Name: "t"}}, l)
	if err != nil {
		t.Fatal(err)
	}
	spec.Metrics[0].Provider.Prometheus.Query = "changed"
	*spec.Args[0].Value = "changed"
	if tmpl.Spec.Metrics[0].Provider.Prometheus.Query != "q-m" || *tmpl.Spec.Args[0].Value != "1" {
		t.Error("Merge returned data shared with the template")
	}
}

func rollout() *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		TypeMeta: metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "guestbook", Namespace: "shop", UID: "ro-uid",
			Labels:      map[string]string{"app": "guestbook", "app.kubernetes.io/part-of": "shop"},
			Annotations: map[string]string{"team": "payments"},
		},
		Spec: v1alpha1.RolloutSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "guestbook:v2"}}}},
		},
	}
}

func buildLookup() Lookup {
	return Lookup{
		Templates: map[string]*v1alpha1.AnalysisTemplate{
			"args": at("args", v1alpha1.AnalysisTemplateSpec{
				Metrics: []v1alpha1.Metric{metric("success-rate"), metric("latency")},
				Args: []v1alpha1.Argument{
					{Name: "service-name"},
					{Name: "api-url", Value: sp("http://example/measure")},
					{Name: "stable-hash"},
					{Name: "latest-hash"},
					{Name: "app"},
					{Name: "name"},
					{Name: "image"},
					{Name: "api-token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "token-secret", Key: "apiToken"}}},
					{Name: "unset"},
				},
				DryRun:               []v1alpha1.DryRun{{MetricName: "latency"}},
				MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "latency", Limit: 5}},
			}),
		},
	}
}

func fieldArg(name, path string) v1alpha1.AnalysisRunArgument {
	return v1alpha1.AnalysisRunArgument{Name: name, ValueFrom: &v1alpha1.ArgumentValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: path}}}
}

func hashArg(name string, h v1alpha1.ValueFromPodTemplateHash) v1alpha1.AnalysisRunArgument {
	return v1alpha1.AnalysisRunArgument{Name: name, ValueFrom: &v1alpha1.ArgumentValueFrom{PodTemplateHashValue: &h}}
}

func buildInput() Input {
	return Input{
		Rollout: rollout(),
		Analysis: &v1alpha1.RolloutAnalysis{
			Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "args"}},
			Args: []v1alpha1.AnalysisRunArgument{
				{Name: "service-name", Value: "guestbook-svc.shop.svc.cluster.local"},
				{Name: "api-url", Value: "http://other-api"},
				hashArg("stable-hash", v1alpha1.Stable),
				hashArg("latest-hash", v1alpha1.Latest),
				fieldArg("app", "metadata.labels['app']"),
				fieldArg("name", "metadata.name"),
				fieldArg("image", "spec.template.spec.containers[0].image"),
				{Name: "not-declared", Value: "ignored"},
			},
			DryRun:               []v1alpha1.DryRun{{MetricName: "success-rate"}},
			MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: ".*", Limit: 20}},
			AnalysisRunMetadata: v1alpha1.AnalysisRunMetadata{
				Labels:      map[string]string{"team": "shop", "rollouts-pod-template-hash": "from-metadata"},
				Annotations: map[string]string{"note": "hello"},
			},
		},
		Name: "guestbook-6f7d-2",
		Labels: map[string]string{
			"rollouts-pod-template-hash": "6f7d",
			"rollout-type":               "Step",
			"step-index":                 "2",
		},
		StableHash: "5c4b",
		LatestHash: "6f7d",
	}
}

func TestBuild(t *testing.T) {
	run, err := Build(buildInput(), buildLookup())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("identity", func(t *testing.T) {
		if run.Name != "guestbook-6f7d-2" || run.Namespace != "shop" {
			t.Errorf("run %s/%s, want shop/guestbook-6f7d-2", run.Namespace, run.Name)
		}
		if run.Kind != "AnalysisRun" || run.APIVersion != "argoproj.io/v1alpha1" {
			t.Errorf("type %s %s", run.APIVersion, run.Kind)
		}
	})
	t.Run("owner reference to the Rollout", func(t *testing.T) {
		if len(run.OwnerReferences) != 1 {
			t.Fatalf("owner references %v", run.OwnerReferences)
		}
		o := run.OwnerReferences[0]
		if o.Kind != "Rollout" || o.APIVersion != "argoproj.io/v1alpha1" || o.Name != "guestbook" || o.UID != "ro-uid" {
			t.Errorf("owner = %+v", o)
		}
		if o.Controller == nil || !*o.Controller || o.BlockOwnerDeletion == nil || !*o.BlockOwnerDeletion {
			t.Errorf("owner is not the controller: %+v", o)
		}
	})
	t.Run("labels and annotations", func(t *testing.T) {
		want := map[string]string{"rollouts-pod-template-hash": "6f7d", "rollout-type": "Step", "step-index": "2", "team": "shop"}
		for k, v := range want {
			if run.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, run.Labels[k], v)
			}
		}
		if len(run.Labels) != len(want) {
			t.Errorf("labels = %v, want %v", run.Labels, want)
		}
		if run.Annotations["note"] != "hello" || len(run.Annotations) != 1 {
			t.Errorf("annotations = %v", run.Annotations)
		}
	})
	args := map[string]v1alpha1.Argument{}
	for _, a := range run.Spec.Args {
		args[a.Name] = a
	}
	valueTests := []struct{ arg, want string }{
		{"service-name", "guestbook-svc.shop.svc.cluster.local"},
		{"api-url", "http://other-api"},
		{"stable-hash", "5c4b"},
		{"latest-hash", "6f7d"},
		{"app", "guestbook"},
		{"name", "guestbook"},
		{"image", "guestbook:v2"},
	}
	for _, tc := range valueTests {
		t.Run("argument "+tc.arg, func(t *testing.T) {
			a, ok := args[tc.arg]
			if !ok {
				t.Fatalf("argument missing from %s", argString(run.Spec.Args))
			}
			if a.Value == nil || *a.Value != tc.want || a.ValueFrom != nil {
				t.Errorf("argument = %s, want %s=%s", argString([]v1alpha1.Argument{a}), tc.arg, tc.want)
			}
		})
	}
	t.Run("secretKeyRef stays a reference", func(t *testing.T) {
		a := args["api-token"]
		if a.Value != nil || a.ValueFrom == nil || a.ValueFrom.SecretKeyRef == nil || a.ValueFrom.SecretKeyRef.Name != "token-secret" || a.ValueFrom.SecretKeyRef.Key != "apiToken" {
			t.Errorf("api-token = %s", argString([]v1alpha1.Argument{a}))
		}
	})
	t.Run("an argument without value is kept without value", func(t *testing.T) {
		a, ok := args["unset"]
		if !ok || a.Value != nil || a.ValueFrom != nil {
			t.Errorf("unset = %+v (present %v)", a, ok)
		}
	})
	t.Run("undeclared Rollout arguments are not added", func(t *testing.T) {
		if _, ok := args["not-declared"]; ok || len(run.Spec.Args) != 9 {
			t.Errorf("args = %s", argString(run.Spec.Args))
		}
	})
	t.Run("metrics", func(t *testing.T) {
		if got := names(run.Spec.Metrics); got != "success-rate,latency" {
			t.Errorf("metrics = %s", got)
		}
	})
	t.Run("dryRun merged from template and Rollout", func(t *testing.T) {
		var got []string
		for _, d := range run.Spec.DryRun {
			got = append(got, d.MetricName)
		}
		if strings.Join(got, ",") != "latency,success-rate" {
			t.Errorf("dryRun = %v, want latency (template) and success-rate (Rollout)", got)
		}
	})
	t.Run("measurementRetention merged from template and Rollout", func(t *testing.T) {
		if len(run.Spec.MeasurementRetention) != 2 || run.Spec.MeasurementRetention[0] != (v1alpha1.MeasurementRetention{MetricName: "latency", Limit: 5}) || run.Spec.MeasurementRetention[1] != (v1alpha1.MeasurementRetention{MetricName: ".*", Limit: 20}) {
			t.Errorf("measurementRetention = %v", run.Spec.MeasurementRetention)
		}
	})
	t.Run("status is empty", func(t *testing.T) {
		if run.Status.Phase != "" || run.Status.StartedAt != nil || len(run.Status.MetricResults) != 0 {
			t.Errorf("status = %+v", run.Status)
		}
	})
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(in *Input)
		wantErr []string
	}{
		{name: "missing template", mutate: func(in *Input) {
			in.Analysis.Templates = append(in.Analysis.Templates, v1alpha1.RolloutAnalysisTemplate{TemplateName: "ghost"})
		}, wantErr: []string{`"ghost"`}},
		{name: "fieldRef to a missing label", mutate: func(in *Input) {
			in.Analysis.Args = append(in.Analysis.Args[:0:0], fieldArg("app", "metadata.labels['nope']"))
		}, wantErr: []string{`"app"`}},
		{name: "unparsable fieldRef", mutate: func(in *Input) {
			in.Analysis.Args = append(in.Analysis.Args[:0:0], fieldArg("app", "metadata.labels['app'"))
		}, wantErr: []string{`"app"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := buildInput()
			tc.mutate(&in)
			run, err := Build(in, buildLookup())
			if err == nil {
				t.Fatalf("built %s, want an error", run.Name)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %s", err, s)
				}
			}
		})
	}
}

// A Rollout without analysisRunMetadata gets no annotations and only the
// labels it asked for.
func TestBuildMinimal(t *testing.T) {
	in := Input{
		Rollout:  rollout(),
		Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "t"}}},
		Name:     "r",
	}
	l := Lookup{Templates: map[string]*v1alpha1.AnalysisTemplate{"t": at("t", v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{metric("m")}})}}
	run, err := Build(in, l)
	if err != nil {
		t.Fatal(err)
	}
	if run.Annotations != nil || len(run.Labels) != 0 || len(run.Spec.Args) != 0 || len(run.Spec.DryRun) != 0 {
		t.Errorf("run = %+v", run.ObjectMeta)
	}
}

// The hash arguments take the hash they name even when both are equal or
// empty (a first rollout has no stable ReplicaSet yet).
func TestBuildPodTemplateHash(t *testing.T) {
	tests := []struct {
		name           string
		stable, latest string
		which          v1alpha1.ValueFromPodTemplateHash
		want           string
	}{
		{name: "stable", stable: "aaa", latest: "bbb", which: v1alpha1.Stable, want: "aaa"},
		{name: "latest", stable: "aaa", latest: "bbb", which: v1alpha1.Latest, want: "bbb"},
		{name: "stable not known yet", stable: "", latest: "bbb", which: v1alpha1.Stable, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{
				Rollout: rollout(),
				Analysis: &v1alpha1.RolloutAnalysis{
					Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "t"}},
					Args:      []v1alpha1.AnalysisRunArgument{hashArg("h", tc.which)},
				},
				Name: "r", StableHash: tc.stable, LatestHash: tc.latest,
			}
			l := Lookup{Templates: map[string]*v1alpha1.AnalysisTemplate{"t": at("t", v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{metric("m")}, Args: []v1alpha1.Argument{{Name: "h"}}})}}
			run, err := Build(in, l)
			if err != nil {
				t.Fatal(err)
			}
			if a := run.Spec.Args[0]; a.Value == nil || *a.Value != tc.want {
				t.Errorf("h = %s, want %q", argString(run.Spec.Args), tc.want)
			}
		})
	}
}

// fieldRef paths address labels the way the downward API and Argo Rollouts
// do (fieldpath.ExtractFieldPathAsString): the key inside ['...'] is taken
// whole, dots and slashes included, as in the recommended
// app.kubernetes.io/* labels.
func TestBuildFieldRef(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		{name: "name", path: "metadata.name", want: "guestbook"},
		{name: "namespace", path: "metadata.namespace", want: "shop"},
		{name: "label", path: "metadata.labels['app']", want: "guestbook"},
		{name: "annotation", path: "metadata.annotations['team']", want: "payments"},
		{name: "nested spec path", path: "spec.template.spec.containers[0].image", want: "guestbook:v2"},
		{name: "nested spec path with a leading dot", path: ".spec.template.spec.containers[0].name", want: "app"},
		{name: "label with dots and a slash", path: "metadata.labels['app.kubernetes.io/part-of']", want: "shop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{
				Rollout: rollout(),
				Analysis: &v1alpha1.RolloutAnalysis{
					Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "t"}},
					Args:      []v1alpha1.AnalysisRunArgument{fieldArg("f", tc.path)},
				},
				Name: "r",
			}
			l := Lookup{Templates: map[string]*v1alpha1.AnalysisTemplate{"t": at("t", v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{metric("m")}, Args: []v1alpha1.Argument{{Name: "f"}}})}}
			run, err := Build(in, l)
			if err != nil {
				t.Fatal(err)
			}
			if a := run.Spec.Args[0]; a.Value == nil || *a.Value != tc.want || a.ValueFrom != nil {
				t.Errorf("f = %s, want %q", argString(run.Spec.Args), tc.want)
			}
		})
	}
}
