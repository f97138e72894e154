package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// fakeSecrets serves Secret keys from a map keyed "namespace/name/key" and
// records what was asked.
type fakeSecrets struct {
	values map[string]string
	asked  []string
}

func (f *fakeSecrets) SecretValue(_ context.Context, namespace, name, key string) (string, error) {
	k := namespace + "/" + name + "/" + key
	f.asked = append(f.asked, k)
	v, ok := f.values[k]
	if !ok {
		return "", fmt.Errorf("Secret %s/%s does not exist", namespace, name)
	}
	return v, nil
}

func sp(s string) *string { return &s }

func TestResolveArgs(t *testing.T) {
	secrets := &fakeSecrets{values: map[string]string{"ns/creds/token": "s3cr3t", "ns/creds/empty": ""}}
	tests := []struct {
		name    string
		args    []v1alpha1.Argument
		want    map[string]string
		secrets []string
		wantErr []string
	}{
		{name: "no args", want: map[string]string{}},
		{name: "literal values", args: []v1alpha1.Argument{{Name: "a", Value: sp("1")}, {Name: "b", Value: sp("")}}, want: map[string]string{"a": "1", "b": ""}},
		{name: "secretKeyRef", args: []v1alpha1.Argument{{Name: "tok", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "creds", Key: "token"}}}}, want: map[string]string{"tok": "s3cr3t"}, secrets: []string{"s3cr3t"}},
		{name: "empty secret value is not masked", args: []v1alpha1.Argument{{Name: "e", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "creds", Key: "empty"}}}}, want: map[string]string{"e": ""}},
		{name: "missing secret", args: []v1alpha1.Argument{{Name: "tok", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "nope", Key: "token"}}}}, wantErr: []string{`"tok"`, `"nope"`, `"token"`}},
		{name: "fieldRef left unresolved", args: []v1alpha1.Argument{{Name: "app", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['app']"}}}}, wantErr: []string{`"app"`, "metadata.labels['app']"}},
		{name: "no value", args: []v1alpha1.Argument{{Name: "a", Value: sp("1")}, {Name: "service-name"}}, wantErr: []string{`"service-name"`, "no value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}, Spec: v1alpha1.AnalysisRunSpec{Args: tc.args}}
			got, err := resolveArgs(context.Background(), run, secrets)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one naming %v", tc.wantErr)
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
			if fmt.Sprint(got.values) != fmt.Sprint(tc.want) {
				t.Errorf("values = %v, want %v", got.values, tc.want)
			}
			if fmt.Sprint(got.secrets) != fmt.Sprint(tc.secrets) {
				t.Errorf("secrets = %q, want %q", got.secrets, tc.secrets)
			}
		})
	}
}

// An error about a Secret never carries its value.
func TestResolveArgsErrorHidesValues(t *testing.T) {
	secrets := &fakeSecrets{values: map[string]string{"ns/a/k": "hunter2"}}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}, Spec: v1alpha1.AnalysisRunSpec{Args: []v1alpha1.Argument{
		{Name: "one", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "a", Key: "k"}}},
		{Name: "two", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "b", Key: "k"}}},
	}}}
	_, err := resolveArgs(context.Background(), run, secrets)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error = %v", err)
	}
}

func argsOf(kv ...string) resolvedArgs {
	a := resolvedArgs{values: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		a.values[kv[i]] = kv[i+1]
	}
	return a
}

func TestSubstitute(t *testing.T) {
	tricky := "he said \"hi\"\n\tthen left\\ <b>&amp; {x}"
	tests := []struct {
		name    string
		metric  v1alpha1.Metric
		args    resolvedArgs
		check   func(t *testing.T, m v1alpha1.Metric)
		wantErr []string
	}{
		{
			name:   "prometheus query",
			metric: v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: "http://prom", Query: `sum(rate(x{svc="{{args.svc}}"}[5m]))`}}},
			args:   argsOf("svc", "web"),
			check: func(t *testing.T, m v1alpha1.Metric) {
				if want := `sum(rate(x{svc="web"}[5m]))`; m.Provider.Prometheus.Query != want {
					t.Errorf("query = %q, want %q", m.Provider.Prometheus.Query, want)
				}
			},
		},
		{
			name:   "spaces inside the braces",
			metric: v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Query: `a{{ args.x }}b{{args.x}}c{{  args.y}}`}}},
			args:   argsOf("x", "1", "y", "2"),
			check: func(t *testing.T, m v1alpha1.Metric) {
				if m.Provider.Prometheus.Query != "a1b1c2" {
					t.Errorf("query = %q, want a1b1c2", m.Provider.Prometheus.Query)
				}
			},
		},
		{
			name: "web url and headers",
			metric: v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
				URL:     "{{ args.api-url }}?service={{ args.service-name }}",
				Headers: []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{ args.api-token }}"}},
				Body:    `{"svc":"{{args.service-name}}"}`,
			}}},
			args: argsOf("api-url", "http://example/measure", "service-name", "guestbook", "api-token", "tok"),
			check: func(t *testing.T, m v1alpha1.Metric) {
				w := m.Provider.Web
				if w.URL != "http://example/measure?service=guestbook" {
					t.Errorf("url = %q", w.URL)
				}
				if w.Headers[0].Value != "Bearer tok" {
					t.Errorf("header = %q", w.Headers[0].Value)
				}
				if w.Body != `{"svc":"guestbook"}` {
					t.Errorf("body = %q", w.Body)
				}
			},
		},
		{
			name: "job spec args",
			metric: v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "t", Image: "busybox:{{args.tag}}", Args: []string{"--host={{args.host}}", "{{args.host}}"}}},
			}}}}}},
			args: argsOf("tag", "1.36", "host", "svc.ns"),
			check: func(t *testing.T, m v1alpha1.Metric) {
				c := m.Provider.Job.Spec.Template.Spec.Containers[0]
				if c.Image != "busybox:1.36" || strings.Join(c.Args, " ") != "--host=svc.ns svc.ns" {
					t.Errorf("container = %s %v", c.Image, c.Args)
				}
			},
		},
		{
			name:   "conditions",
			metric: v1alpha1.Metric{Name: "m", SuccessCondition: "result[0] >= {{args.min}}", FailureCondition: "result[0] < {{ args.floor }}", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{}}},
			args:   argsOf("min", "0.95", "floor", "0.5"),
			check: func(t *testing.T, m v1alpha1.Metric) {
				if m.SuccessCondition != "result[0] >= 0.95" || m.FailureCondition != "result[0] < 0.5" {
					t.Errorf("conditions = %q, %q", m.SuccessCondition, m.FailureCondition)
				}
			},
		},
		{
			name:   "JSON-special characters survive",
			metric: v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x/", Headers: []v1alpha1.WebMetricHeader{{Key: "X", Value: "[{{args.v}}]"}}}}},
			args:   argsOf("v", tricky),
			check: func(t *testing.T, m v1alpha1.Metric) {
				if got := m.Provider.Web.Headers[0].Value; got != "["+tricky+"]" {
					t.Errorf("header = %q, want %q", got, "["+tricky+"]")
				}
			},
		},
		{
			name:   "JSON body placeholder",
			metric: v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x/", JSONBody: json.RawMessage(`{"q":"{{args.q}}","n":1}`)}}},
			args:   argsOf("q", `a"b`),
			check: func(t *testing.T, m v1alpha1.Metric) {
				var body map[string]any
				if err := json.Unmarshal(m.Provider.Web.JSONBody, &body); err != nil {
					t.Fatalf("jsonBody %s: %v", m.Provider.Web.JSONBody, err)
				}
				if body["q"] != `a"b` {
					t.Errorf("jsonBody q = %v", body["q"])
				}
			},
		},
		{
			name:   "no placeholders: unchanged",
			metric: v1alpha1.Metric{Name: "m", Interval: "1m", Count: intOr(3), Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Query: "up{job=\"x\"} > 0 && 1 < 2"}}},
			args:   argsOf(),
			check: func(t *testing.T, m v1alpha1.Metric) {
				if m.Provider.Prometheus.Query != "up{job=\"x\"} > 0 && 1 < 2" || m.Interval != "1m" || m.Count.IntValue() != 3 {
					t.Errorf("metric changed: %+v", m)
				}
			},
		},
		{
			name:   "a value with a placeholder is not expanded again",
			metric: v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Query: "{{args.a}}"}}},
			args:   argsOf("a", "{{args.b}}"),
			check: func(t *testing.T, m v1alpha1.Metric) {
				if m.Provider.Prometheus.Query != "{{args.b}}" {
					t.Errorf("query = %q", m.Provider.Prometheus.Query)
				}
			},
		},
		{
			name:    "undefined argument",
			metric:  v1alpha1.Metric{Name: "latency", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Query: "x{a=\"{{args.known}}\",b=\"{{ args.service-name }}\"}"}}},
			args:    argsOf("known", "1"),
			wantErr: []string{"service-name", `"latency"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := *tc.metric.DeepCopy()
			got, err := substitute(tc.metric, tc.args)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one naming %v", tc.wantErr)
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
			tc.check(t, got)
			if !reflect.DeepEqual(orig, tc.metric) {
				t.Error("substitute changed its input metric")
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{name: "no secrets", in: "token abc", want: "token abc"},
		{name: "one secret", secrets: []string{"abc"}, in: "GET /?token=abc failed: abc", want: "GET /?token=***** failed: *****"},
		{name: "two secrets", secrets: []string{"abc", "xyz"}, in: "abc xyz", want: "***** *****"},
		{name: "not present", secrets: []string{"abc"}, in: "nothing here", want: "nothing here"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := resolvedArgs{secrets: tc.secrets}
			if got := a.mask(tc.in); got != tc.want {
				t.Errorf("mask = %q, want %q", got, tc.want)
			}
		})
	}
}

// resolveArgs and mask together: a secret read for a run is hidden in text.
func TestResolveArgsThenMask(t *testing.T) {
	secrets := &fakeSecrets{values: map[string]string{"ns/creds/token": "s3cr3t"}}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}, Spec: v1alpha1.AnalysisRunSpec{Args: []v1alpha1.Argument{
		{Name: "tok", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "creds", Key: "token"}}},
		{Name: "plain", Value: sp("visible")},
	}}}
	a, err := resolveArgs(context.Background(), run, secrets)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.mask("401 for s3cr3t on visible"); got != "401 for ***** on visible" {
		t.Errorf("mask = %q", got)
	}
}

func TestSecretReader(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "creds"},
		Data:       map[string][]byte{"token": []byte("s3cr3t")},
		StringData: map[string]string{"other": "plain"},
	}).Build()
	r := SecretReader{Reader: c}
	tests := []struct {
		name, ns, secret, key string
		want                  string
		wantErr               []string
	}{
		{name: "data key", ns: "ns", secret: "creds", key: "token", want: "s3cr3t"},
		{name: "stringData key", ns: "ns", secret: "creds", key: "other", want: "plain"},
		{name: "missing key", ns: "ns", secret: "creds", key: "nope", wantErr: []string{"ns/creds", `"nope"`}},
		{name: "missing secret", ns: "ns", secret: "gone", key: "token", wantErr: []string{"ns/gone", "does not exist"}},
		{name: "other namespace", ns: "other", secret: "creds", key: "token", wantErr: []string{"other/creds"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.SecretValue(context.Background(), tc.ns, tc.secret, tc.key)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("value %q, want an error", got)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %s", err, s)
					}
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error %q carries the value", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("SecretValue = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
