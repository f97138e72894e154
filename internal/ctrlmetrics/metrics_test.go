package ctrlmetrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func objects() []client.Object {
	canary := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr(int32(5)),
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				TrafficRouting: &v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{}},
			}},
		},
		Status: v1alpha1.RolloutStatus{
			Replicas: 6, AvailableReplicas: 4, UpdatedReplicas: 2,
			Conditions: []v1alpha1.RolloutCondition{{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionTrue, Reason: "RolloutPaused"}},
		},
	}
	bg := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Spec:       v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "api"}}},
		Status: v1alpha1.RolloutStatus{Conditions: []v1alpha1.RolloutCondition{
			{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"},
			{Type: v1alpha1.InvalidSpec, Status: corev1.ConditionTrue, Reason: "InvalidSpec"},
		}},
	}
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"},
		Spec: v1alpha1.AnalysisRunSpec{
			Metrics: []v1alpha1.Metric{
				{Name: "errors", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{}}},
				{Name: "smoke", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}},
			},
			DryRun: []v1alpha1.DryRun{{MetricName: "smo.*"}},
		},
		Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning, MetricResults: []v1alpha1.MetricResult{
			{Name: "errors", Phase: v1alpha1.AnalysisPhaseFailed},
		}},
	}
	ex := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "trial"},
		Status:     v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseFailed},
	}
	at := &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "errors"},
		Spec:       v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "rate", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{}}}}},
	}
	cat := &v1alpha1.ClusterAnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke"},
		Spec:       v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "smoke", Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"x/y": json.RawMessage(`{}`)}}}}},
	}
	return []client.Object{canary, bg, run, ex, at, cat}
}

func newMetrics(t *testing.T, objs ...client.Object) (*Metrics, client.Client, *prometheus.Registry) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(objs...).WithStatusSubresource(objs...).Build()
	m := New(logr.Discard(), Build{Version: "v9.9.9", GoVersion: "go1.26", GoArch: "amd64", Commit: "abc"})
	m.ReadFrom(c)
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	return m, c, reg
}

func TestGaugesFromTheCache(t *testing.T) {
	_, _, reg := newMetrics(t, objects()...)
	want := `
# HELP rollout_info Information about rollout.
# TYPE rollout_info gauge
rollout_info{name="api",namespace="shop",phase="InvalidSpec",strategy="blueGreen",traffic_router=""} 1
rollout_info{name="web",namespace="shop",phase="Paused",strategy="canary",traffic_router="Istio"} 1
# HELP rollout_info_replicas_available The number of available replicas per rollout.
# TYPE rollout_info_replicas_available gauge
rollout_info_replicas_available{name="api",namespace="shop"} 0
rollout_info_replicas_available{name="web",namespace="shop"} 4
# HELP rollout_info_replicas_desired The number of desired replicas per rollout.
# TYPE rollout_info_replicas_desired gauge
rollout_info_replicas_desired{name="api",namespace="shop"} 1
rollout_info_replicas_desired{name="web",namespace="shop"} 5
# HELP rollout_info_replicas_unavailable The number of unavailable replicas per rollout.
# TYPE rollout_info_replicas_unavailable gauge
rollout_info_replicas_unavailable{name="api",namespace="shop"} 0
rollout_info_replicas_unavailable{name="web",namespace="shop"} 2
# HELP rollout_info_replicas_updated The number of updated replicas per rollout.
# TYPE rollout_info_replicas_updated gauge
rollout_info_replicas_updated{name="api",namespace="shop"} 0
rollout_info_replicas_updated{name="web",namespace="shop"} 2
# HELP rollout_phase Information on the state of the rollout (DEPRECATED - use rollout_info)
# TYPE rollout_phase gauge
rollout_phase{name="api",namespace="shop",phase="Abort",strategy="blueGreen"} 0
rollout_phase{name="api",namespace="shop",phase="Completed",strategy="blueGreen"} 0
rollout_phase{name="api",namespace="shop",phase="Error",strategy="blueGreen"} 0
rollout_phase{name="api",namespace="shop",phase="Paused",strategy="blueGreen"} 0
rollout_phase{name="api",namespace="shop",phase="Progressing",strategy="blueGreen"} 0
rollout_phase{name="api",namespace="shop",phase="Timeout",strategy="blueGreen"} 0
rollout_phase{name="web",namespace="shop",phase="Abort",strategy="canary"} 0
rollout_phase{name="web",namespace="shop",phase="Completed",strategy="canary"} 0
rollout_phase{name="web",namespace="shop",phase="Error",strategy="canary"} 0
rollout_phase{name="web",namespace="shop",phase="Paused",strategy="canary"} 1
rollout_phase{name="web",namespace="shop",phase="Progressing",strategy="canary"} 0
rollout_phase{name="web",namespace="shop",phase="Timeout",strategy="canary"} 0
# HELP analysis_run_info Information about analysis run.
# TYPE analysis_run_info gauge
analysis_run_info{name="web-1",namespace="shop",phase="Running"} 1
# HELP analysis_run_metric_type Information on the type of a specific metric in the Analysis Runs
# TYPE analysis_run_metric_type gauge
analysis_run_metric_type{metric="errors",name="web-1",namespace="shop",type="Prometheus"} 1
analysis_run_metric_type{metric="smoke",name="web-1",namespace="shop",type="Job"} 1
# HELP experiment_info Information about Experiment.
# TYPE experiment_info gauge
experiment_info{name="trial",namespace="shop",phase="Failed"} 1
# HELP experiment_phase Information on the state of the experiment (DEPRECATED - use experiment_info)
# TYPE experiment_phase gauge
experiment_phase{name="trial",namespace="shop",phase="Error"} 0
experiment_phase{name="trial",namespace="shop",phase="Inconclusive"} 0
experiment_phase{name="trial",namespace="shop",phase="Pending"} 0
experiment_phase{name="trial",namespace="shop",phase="Running"} 0
experiment_phase{name="trial",namespace="shop",phase="Successful"} 0
# HELP argo_rollouts_controller_info Running Argo-rollouts version
# TYPE argo_rollouts_controller_info gauge
argo_rollouts_controller_info{version="v9.9.9"} 1
# HELP build_info A metric with a constant '1' value labeled by version from which the controller was built.
# TYPE build_info gauge
build_info{commit="abc",goarch="amd64",goversion="go1.26",version="v9.9.9"} 1
# HELP analysis_template_info Information about analysis templates.
# TYPE analysis_template_info gauge
analysis_template_info{name="errors",namespace="shop"} 1
analysis_template_info{name="smoke",namespace=""} 1
# HELP analysis_template_metric_info Information on metrics in analysis templates.
# TYPE analysis_template_metric_info gauge
analysis_template_metric_info{metric="rate",name="errors",namespace="shop",type="Web"} 1
analysis_template_metric_info{metric="smoke",name="smoke",namespace="",type="RPCPlugin"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rollout_info", "rollout_info_replicas_available",
		"rollout_info_replicas_desired", "rollout_info_replicas_unavailable", "rollout_info_replicas_updated", "rollout_phase",
		"analysis_run_info", "analysis_run_metric_type", "experiment_info", "experiment_phase", "argo_rollouts_controller_info",
		"build_info", "analysis_template_info", "analysis_template_metric_info"); err != nil {
		t.Error(err)
	}

	// The metric phases: a result's phase, Pending without one, and the
	// dry-run flag from spec.dryRun.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "analysis_run_metric_phase" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			got[l["metric"]+"/"+l["dry_run"]+"/"+l["phase"]] = m.GetGauge().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"errors/false/Failed": 1, "errors/false/Pending": 0, "errors/false/Running": 0,
		"smoke/true/Pending": 1, "smoke/true/Failed": 0, "smoke/true/Inconclusive": 0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("analysis_run_metric_phase %s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if len(got) != 12 {
		t.Errorf("analysis_run_metric_phase has %d series, want 6 phases for each of 2 metrics: %v", len(got), got)
	}
}

// TestDeletedObjectsLeave checks that the gauges and the per-object
// counters of a deleted Rollout are gone at the next scrape, while those of
// the others stay.
func TestDeletedObjectsLeave(t *testing.T) {
	m, c, reg := newMetrics(t, objects()...)
	var forgotten []string
	m.OnForget(func(ns, name string) { forgotten = append(forgotten, ns+"/"+name) })
	ok := reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) { return reconcile.Result{}, nil })
	failing := reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
		return reconcile.Result{}, errors.New("boom")
	})
	for _, name := range []string{"web", "api"} {
		req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: name}}
		if _, err := m.Timed(KindRollout, ok).Reconcile(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Timed(KindRollout, failing).Reconcile(context.Background(), req); err == nil {
			t.Fatal("the wrapped error was lost")
		}
	}
	rec := m.Recorder(record.NewFakeRecorder(10))
	ro := objects()[0]
	rec.Event(ro, corev1.EventTypeNormal, "RolloutPaused", "paused")
	rec.Eventf(ro, corev1.EventTypeNormal, "RolloutPaused", "paused %d", 2)

	if n := testutil.CollectAndCount(reg, "rollout_reconcile"); n != 2 {
		t.Fatalf("rollout_reconcile has %d series, want 2", n)
	}
	if v := m.errors[KindRollout].value("shop", "web"); v != 1 {
		t.Errorf("rollout_reconcile_error of web = %v, want 1", v)
	}
	if v := m.events.value("shop", "web", "Normal", "RolloutPaused"); v != 2 {
		t.Errorf("rollout_events_total = %v, want 2", v)
	}

	if err := c.Delete(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "rollout_reconcile"); n != 1 {
		t.Errorf("rollout_reconcile has %d series after web's deletion, want 1 (api's)", n)
	}
	for _, name := range []string{"rollout_reconcile_error", "rollout_events_total", "rollout_info"} {
		if n := testutil.CollectAndCount(reg, name); (name == "rollout_events_total" && n != 0) || (name != "rollout_events_total" && n != 1) {
			t.Errorf("%s has %d series after web's deletion", name, n)
		}
	}
	if len(forgotten) != 1 || forgotten[0] != "shop/web" {
		t.Errorf("forgotten %v, want [shop/web]", forgotten)
	}
}

func TestRequestCounter(t *testing.T) {
	for _, tc := range []struct {
		method, url, body string
		want              requestInfo
	}{
		{"GET", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web", "", requestInfo{"rollouts", "shop", "web", "Get"}},
		{"PATCH", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web/status", "", requestInfo{"rollouts", "shop", "web", "Patch"}},
		{"GET", "/apis/argoproj.io/v1alpha1/rollouts?limit=500", "", requestInfo{"rollouts", "", "N/A", "List"}},
		{"GET", "/apis/apps/v1/namespaces/shop/replicasets?watch=true", "", requestInfo{"replicasets", "shop", "N/A", "Watch"}},
		{"GET", "/api/v1/namespaces/shop/services?watch=true&fieldSelector=metadata.name%3Dweb", "", requestInfo{"services", "shop", "web", "Watch"}},
		{"PATCH", "/apis/apps/v1/namespaces/shop/replicasets/web-7d9f", "", requestInfo{"replicasets", "shop", "N/A", "Patch"}},
		{"PATCH", "/api/v1/namespaces/shop/pods/web-7d9f-x2x", "", requestInfo{"pods", "shop", "N/A", "Patch"}},
		{"POST", "/api/v1/namespaces/shop/services", `{"metadata":{"name":"web-canary"}}`, requestInfo{"services", "shop", "web-canary", "Create"}},
		{"POST", "/api/v1/namespaces/shop/events", `{"metadata":{"name":"web.1"}}`, requestInfo{"events", "shop", "N/A", "Create"}},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/kanaria/leases/kanaria-controller", "", requestInfo{"leases", "kanaria", "kanaria-controller", "Update"}},
		{"DELETE", "/apis/batch/v1/namespaces/shop/jobs/smoke-1", "", requestInfo{"jobs", "shop", "N/A", "Delete"}},
		{"GET", "/api/v1/namespaces/shop", "", requestInfo{"namespaces", "", "shop", "Get"}},
		{"GET", "/healthz", "", requestInfo{"Unknown", "Unknown", "Unknown", "Unknown"}},
		// Discovery names no resource and lists nothing.
		{"GET", "/apis/networking.istio.io/v1alpha3", "", requestInfo{"Unknown", "Unknown", "Unknown", "Unknown"}},
		{"GET", "/api/v1", "", requestInfo{"Unknown", "Unknown", "Unknown", "Unknown"}},
		{"GET", "/apis/argoproj.io", "", requestInfo{"Unknown", "Unknown", "Unknown", "Unknown"}},
	} {
		var body *strings.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		var req *http.Request
		if body != nil {
			req = httptest.NewRequest(tc.method, "https://api"+tc.url, body)
			b := tc.body
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(b)), nil }
		} else {
			req = httptest.NewRequest(tc.method, "https://api"+tc.url, nil)
		}
		if got := describeRequest(req); got != tc.want {
			t.Errorf("%s %s: %+v, want %+v", tc.method, tc.url, got, tc.want)
		}
	}

	m := New(logr.Discard(), Build{Version: "dev"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusConflict) }))
	defer srv.Close()
	hc := &http.Client{Transport: m.WrapTransport(http.DefaultTransport)}
	req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web/status", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := m.requests.value("rollouts", "shop", "web", "Patch", "409"); v != 1 {
		t.Errorf("controller_clientset_k8s_request_total for the conflict = %v, want 1", v)
	}
}

// TestWithoutClusterTemplates checks that a controller that may not watch
// ClusterAnalysisTemplates asks for no informer of them and lists none,
// while the namespaced templates keep their gauges.
func TestWithoutClusterTemplates(t *testing.T) {
	src := &fakeInformers{}
	m := New(logr.Discard(), Build{Version: "v9.9.9", GoVersion: "go1.26", GoArch: "amd64", Commit: "abc"})
	m.WithoutClusterTemplates()
	m.ReadFrom(src)
	for _, o := range objects() {
		switch o.(type) {
		case *v1alpha1.AnalysisTemplate:
			src.informer(o).Add(o)
		case *v1alpha1.ClusterAnalysisTemplate:
			if len(src.informers) > 0 && src.informers["*v1alpha1.ClusterAnalysisTemplate"] != nil {
				t.Fatal("an informer of ClusterAnalysisTemplates was asked for")
			}
		}
	}
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		if f.GetName() != "analysis_template_info" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "name" {
					names = append(names, l.GetValue())
				}
			}
		}
	}
	if len(names) != 1 || names[0] != "errors" {
		t.Fatalf("analysis_template_info names %v, want only the namespaced template errors", names)
	}
}
