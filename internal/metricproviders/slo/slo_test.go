package slo

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/cloudmonitoring"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestThresholdsScaleWithThePeriod(t *testing.T) {
	c := &Config{Objective: 99.9}
	got, err := c.Thresholds()
	if err != nil {
		t.Fatal(err)
	}
	// The SRE workbook's published pairs for 30 days.
	want := []Alert{{"1h", "5m", 14.4, false}, {"6h", "30m", 6, false}, {"1d", "2h", 3, false}, {"3d", "6h", 1, false}}
	for i := range want {
		if got[i].Long != want[i].Long || got[i].Short != want[i].Short || !near(got[i].BurnRate, want[i].BurnRate) {
			t.Errorf("pair %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	c.Period = "7d"
	got, _ = c.Thresholds()
	// 2% of 168 hours spent in one hour: 3.36.
	if !near(got[0].BurnRate, 3.36) || !near(got[3].BurnRate, 0.1*168/72) {
		t.Errorf("7d thresholds = %+v", got)
	}
	c.Windows = []Window{{Long: "10s", Short: "5s", BurnRate: 10}}
	if got, _ = c.Thresholds(); len(got) != 1 || got[0].BurnRate != 10 {
		t.Errorf("custom thresholds = %+v", got)
	}
}

func TestJudge(t *testing.T) {
	c := &Config{Objective: 99.9}
	// A canary failing 2% of requests for the last hour, on a month that
	// had spent a quarter of its budget: 20× burn in the fast pair.
	ratios := map[string]float64{"5m": 0.02, "1h": 0.02, "30m": 0.004, "6h": 0.004, "2h": 0.001, "1d": 0.001, "3d": 0.0005, "30d": 0.00025}
	j, err := Judge(c, ratios)
	if err != nil {
		t.Fatal(err)
	}
	if !near(j.BurnRate["1h"], 20) || !near(j.BurnRate["6h"], 4) || !near(j.BudgetRemaining, 0.75) {
		t.Errorf("judgement = %+v", j)
	}
	firing := []bool{true, false, false, false}
	for i, a := range j.Alerts {
		if a.Firing != firing[i] {
			t.Errorf("pair %s/%s firing = %v", a.Long, a.Short, a.Firing)
		}
	}
	res := j.Result()
	if res["firing"] != true || !near(res["budgetRemaining"].(float64), 0.75) || !near(res["burnRate"].(map[string]any)["5m"].(float64), 20) {
		t.Errorf("result = %v", res)
	}
	// An exhausted budget.
	ratios["30d"] = 0.0015
	if j, _ = Judge(c, ratios); !near(j.BudgetRemaining, -0.5) {
		t.Errorf("budget remaining = %v, want -0.5", j.BudgetRemaining)
	}
}

func TestParseWindow(t *testing.T) {
	for s, want := range map[string]string{"5m": "5m0s", "1h": "1h0m0s", "1d": "24h0m0s", "30d": "720h0m0s", "2w": "336h0m0s", "500ms": "500ms"} {
		d, err := ParseWindow(s)
		if err != nil || d.String() != want {
			t.Errorf("ParseWindow(%q) = %v, %v", s, d, err)
		}
	}
	for _, s := range []string{"", "5", "1h30m", "-1h", "0m", "1y"} {
		if _, err := ParseWindow(s); err == nil {
			t.Errorf("ParseWindow(%q) accepted", s)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"prometheus":{"address":"http://p"},"objective":99.9,"errorQuery":"e[{{window}}]","totalQuery":"t[{{ window }}]"}`, ""},
		{`{"prometheus":{"address":"http://p"},"objective":99.9,"errorRatioQuery":"r[{{window}}]","period":"28d"}`, ""},
		{`{"prometheus":{"address":"http://p"},"objective":100,"errorRatioQuery":"r[{{window}}]"}`, "objective: 100 is not a percentage"},
		{`{"prometheus":{"address":"http://p"},"objective":99,"errorQuery":"e[5m]","totalQuery":"t[{{window}}]"}`, "errorQuery: needs {{window}}"},
		{`{"prometheus":{"address":"http://p"},"objective":99,"errorRatioQuery":"r[{{window}}]","totalQuery":"t[{{window}}]"}`, "not both"},
		{`{"objective":99,"errorRatioQuery":"r[{{window}}]","minRequests":10}`, "set prometheus, or provider"},
		{`{"prometheus":{},"objective":99,"errorRatioQuery":"r[{{window}}]"}`, "prometheus.address: required"},
		{`{"provider":{"job":{"spec":{}}},"objective":99,"errorRatioQuery":"r[{{window}}]"}`, "provider: set one of prometheus"},
		{`{"provider":{"graphite":{"address":"http://g"}},"objective":99,"errorRatioQuery":"target=r&from=-{{window}}"}`, ""},
		{`{"prometheus":{"address":"http://p"},"objective":99,"errorRatioQuery":"r[{{window}}]","minRequests":10}`, "minRequests: needs totalQuery"},
		{`{"prometheus":{"address":"http://p"},"objective":99,"errorRatioQuery":"r[{{window}}]","period":"1 month"}`, "period:"},
		{`{"prometheus":{"address":"http://p"},"objective":99,"errorRatioQuery":"r[{{window}}]","windows":[{"long":"1h","short":"5m"}]}`, "windows[0]: set burnRate or budgetShare"},
		{`{"prometheus":{"address":"http://p"},"objective":99,"errorRatioQuery":"r[{{window}}]","objectve":99}`, `unknown field "objectve"`},
	} {
		_, err := Parse(json.RawMessage(tc.json))
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Parse(%s) = %v, want %q", tc.json, err, tc.want)
		}
	}
}

// fakePrometheus answers each query from a table keyed by the query
// actually sent, so the test sees every window's substitution.
type fakePrometheus struct {
	answers map[string]float64
	asked   []string
}

func (f *fakePrometheus) run(_ context.Context, _ metricproviders.Request, p v1alpha1.MetricProvider) (float64, bool, error) {
	if p.Prometheus == nil || p.Prometheus.Address != "http://prom:9090" {
		return 0, false, fmt.Errorf("provider %+v", p)
	}
	query := p.Prometheus.Query
	f.asked = append(f.asked, query)
	v, ok := f.answers[query]
	return v, ok, nil
}

func sloRequest(cfg string) metricproviders.Request {
	return metricproviders.Request{Metric: v1alpha1.Metric{Name: "budget", Provider: v1alpha1.MetricProvider{
		Plugin: map[string]json.RawMessage{Name: json.RawMessage(cfg)}}}}
}

func TestQueryAllWindows(t *testing.T) {
	f := &fakePrometheus{answers: map[string]float64{}}
	for _, w := range []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"} {
		f.answers["sum(increase(req_total["+w+"]))"] = 10000
		f.answers["sum(increase(req_total{code=~\"5..\"}["+w+"]))"] = 5
	}
	// The fast pair burns at 20×.
	f.answers["sum(increase(req_total{code=~\"5..\"}[5m]))"] = 200
	f.answers["sum(increase(req_total{code=~\"5..\"}[1h]))"] = 200
	delete(f.answers, "sum(increase(req_total{code=~\"5..\"}[3d]))") // no errors at all: no series
	cfg := `{"prometheus":{"address":"http://prom:9090"},"objective":99.9,"minRequests":100,
		"errorQuery":"sum(increase(req_total{code=~\"5..\"}[{{window}}]))","totalQuery":"sum(increase(req_total[{{window}}]))"}`
	v, err := New(f.run).Query(context.Background(), sloRequest(cfg))
	if err != nil {
		t.Fatal(err)
	}
	res := v.Result.(map[string]any)
	burn := res["burnRate"].(map[string]any)
	if !near(burn["1h"].(float64), 20) || !near(burn["6h"].(float64), 0.5) || burn["3d"].(float64) != 0 || res["firing"] != true {
		t.Errorf("result = %v", res)
	}
	if !near(res["budgetRemaining"].(float64), 0.5) {
		t.Errorf("budget remaining = %v, want 0.5", res["budgetRemaining"])
	}
	if len(f.asked) != 16 {
		t.Errorf("asked %d queries, want 16 (8 windows × 2)", len(f.asked))
	}
	if v.Metadata["burnRate/1h/5m"] != "20/20 over 14.4" || v.Metadata["budgetRemaining"] != "0.5000" {
		t.Errorf("metadata = %v", v.Metadata)
	}
}

func TestQueryTooQuietIsInconclusive(t *testing.T) {
	f := &fakePrometheus{answers: map[string]float64{"sum(increase(req_total[10s]))": 3, "sum(increase(req_total[5s]))": 3}}
	cfg := `{"prometheus":{"address":"http://prom:9090"},"objective":99,"minRequests":20,"period":"1h",
		"windows":[{"long":"10s","short":"5s","burnRate":10}],
		"errorQuery":"sum(increase(req_err[{{window}}]))","totalQuery":"sum(increase(req_total[{{window}}]))"}`
	v, err := New(f.run).Query(context.Background(), sloRequest(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if v.Phase != v1alpha1.AnalysisPhaseInconclusive || !strings.Contains(v.Message, "3 requests in the last 5s, fewer than minRequests 20") {
		t.Errorf("value = %+v", v)
	}
}

func TestQueryErrorsNameTheWindow(t *testing.T) {
	run := func(context.Context, metricproviders.Request, v1alpha1.MetricProvider) (float64, bool, error) {
		return 0, false, fmt.Errorf("prometheus at http://prom:9090: HTTP 503")
	}
	cfg := `{"prometheus":{"address":"http://prom:9090"},"objective":99.9,"errorRatioQuery":"r[{{window}}]"}`
	_, err := New(run).Query(context.Background(), sloRequest(cfg))
	if err == nil || !strings.Contains(err.Error(), "kanaria.dev/slo: error ratio over 1d: prometheus at http://prom:9090: HTTP 503") {
		t.Fatalf("error = %v", err)
	}
}

// TestDocumentedConditions evaluates the conditions docs/analysis.md shows
// against judgements, as the engine does.
func TestDocumentedConditions(t *testing.T) {
	ev := condition.NewEvaluator()
	c := &Config{Objective: 99.9}
	quiet := map[string]float64{"5m": 0.0001, "1h": 0.0001, "30m": 0, "6h": 0, "2h": 0, "1d": 0, "3d": 0, "30d": 0.0005}
	burning := map[string]float64{"5m": 0.02, "1h": 0.02, "30m": 0, "6h": 0, "2h": 0, "1d": 0, "3d": 0, "30d": 0.0009}
	for _, tc := range []struct {
		name             string
		success, failure string
		ratios           map[string]float64
		want             v1alpha1.AnalysisPhase
	}{
		{"freeze: budget left", "result.budgetRemaining > 0.25", "false", quiet, v1alpha1.AnalysisPhaseSuccessful},
		{"freeze: budget spent", "result.budgetRemaining > 0.25", "false", burning, v1alpha1.AnalysisPhaseInconclusive},
		{"abort: healthy canary", "!result.firing", `result.firing || result.burnRate["5m"] > 14.4`, quiet, v1alpha1.AnalysisPhaseSuccessful},
		{"abort: 20x burn", "!result.firing", `result.firing || result.burnRate["5m"] > 14.4`, burning, v1alpha1.AnalysisPhaseFailed},
	} {
		j, err := Judge(c, tc.ratios)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ev.Evaluate(tc.success, tc.failure, j.Result())
		if err != nil || got != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.name, got, err, tc.want)
		}
	}
}

func TestQueryBaseline(t *testing.T) {
	f := &fakePrometheus{answers: map[string]float64{
		"canary_err[10s]": 2, "canary_all[10s]": 100, "canary_err[5s]": 1, "canary_all[5s]": 50, "canary_err[1h]": 2, "canary_all[1h]": 100,
		"stable_err[10s]": 1, "stable_all[10s]": 1000, "stable_all[5s]": 500, "stable_err[1h]": 10, "stable_all[1h]": 10000,
	}}
	cfg := `{"prometheus":{"address":"http://prom:9090"},"objective":99,"period":"1h",
		"windows":[{"long":"10s","short":"5s","burnRate":10}],
		"errorQuery":"canary_err[{{window}}]","totalQuery":"canary_all[{{window}}]",
		"baseline":{"errorQuery":"stable_err[{{window}}]","totalQuery":"stable_all[{{window}}]"}}`
	v, err := New(f.run).Query(context.Background(), sloRequest(cfg))
	if err != nil {
		t.Fatal(err)
	}
	res := v.Result.(map[string]any)
	base := res["baseline"].(map[string]any)
	if !near(res["burnRate"].(map[string]any)["5s"].(float64), 2) || !near(base["burnRate"].(map[string]any)["10s"].(float64), 0.1) ||
		base["burnRate"].(map[string]any)["5s"].(float64) != 0 || !near(base["budgetRemaining"].(float64), 0.9) {
		t.Errorf("result = %v", res)
	}
	if v.Metadata["baselineBudgetRemaining"] != "0.9000" {
		t.Errorf("metadata = %v", v.Metadata)
	}
	if _, err := Parse(json.RawMessage(`{"prometheus":{"address":"http://p"},"objective":99,"errorRatioQuery":"r[{{window}}]","baseline":{"errorQuery":"e[5m]"}}`)); err == nil ||
		!strings.Contains(err.Error(), "baseline: set errorQuery and totalQuery") || !strings.Contains(err.Error(), "baseline: errorQuery: needs {{window}}") {
		t.Errorf("a bad baseline parsed: %v", err)
	}
}

// TestQueryThroughAnotherProvider reads the SLI with New Relic through the
// engine's queriers: the SLI query fills the provider's query,
// {{windowSeconds}} is replaced in it, and the measurement's Secrets and
// namespace reach the provider.
func TestQueryThroughAnotherProvider(t *testing.T) {
	nr := &recordingQuerier{answers: map[string]any{
		"SELECT count(*) FROM Transaction WHERE error IS true SINCE 300 seconds ago":  map[string]any{"count": 3.0},
		"SELECT count(*) FROM Transaction SINCE 300 seconds ago":                      map[string]any{"count": 1000.0},
		"SELECT count(*) FROM Transaction WHERE error IS true SINCE 3600 seconds ago": map[string]any{"count": 10.0},
		"SELECT count(*) FROM Transaction SINCE 3600 seconds ago":                     map[string]any{"count": 10000.0},
	}}
	src := QuerierSource(map[string]metricproviders.Querier{"newrelic": nr})
	cfg := `{"provider":{"newRelic":{"profile":"team-b","query":"ignored"}},"objective":99,"period":"1h",
		"windows":[{"long":"1h","short":"5m","burnRate":10}],
		"errorQuery":"SELECT count(*) FROM Transaction WHERE error IS true SINCE {{windowSeconds}} seconds ago",
		"totalQuery":"SELECT count(*) FROM Transaction SINCE {{ windowSeconds }} seconds ago"}`
	req := sloRequest(cfg)
	req.Namespace, req.Secrets = "shop", secretsMarker{}
	v, err := New(src).Query(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	burn := v.Result.(map[string]any)["burnRate"].(map[string]any)
	if !near(burn["5m"].(float64), 0.3) || !near(burn["1h"].(float64), 0.1) {
		t.Errorf("burn rates = %v", burn)
	}
	if nr.profiles["team-b"] != 4 || nr.secrets != 4 || nr.namespace != "shop" {
		t.Errorf("the provider saw profiles %v, secrets %d, namespace %q", nr.profiles, nr.secrets, nr.namespace)
	}
}

type secretsMarker struct{}

func (secretsMarker) SecretValue(context.Context, string, string, string) (string, error) {
	return "", nil
}

// recordingQuerier stands for New Relic: it answers NRQL rows.
type recordingQuerier struct {
	answers   map[string]any
	profiles  map[string]int
	secrets   int
	namespace string
}

func (r *recordingQuerier) Query(_ context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	nr := req.Metric.Provider.NewRelic
	if nr == nil {
		return metricproviders.Value{}, fmt.Errorf("not a New Relic metric: %+v", req.Metric.Provider)
	}
	if r.profiles == nil {
		r.profiles = map[string]int{}
	}
	r.profiles[nr.Profile]++
	if _, ok := req.Secrets.(secretsMarker); ok {
		r.secrets++
	}
	r.namespace = req.Namespace
	q := nr.Query
	v, ok := r.answers[q]
	if !ok {
		return metricproviders.Value{}, fmt.Errorf("unexpected NRQL %q", q)
	}
	return metricproviders.Value{Result: v}, nil
}

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want float64
		ok   bool
		err  string
	}{
		{0.5, 0.5, true, ""},
		{math.NaN(), 0, false, ""},
		{[]float64{2, 3}, 2, true, ""},
		{[]float64{}, 0, false, ""},
		{[]any{4.0}, 4, true, ""},
		{map[string]any{"count": 7.0}, 7, true, ""},
		{nil, 0, false, ""},
		{map[string]any{"a": 1.0, "b": 2.0}, 0, false, "row of 2 values"},
		{"x", 0, false, "not a number"},
	} {
		got, ok, err := Number(tc.in)
		if (err != nil) != (tc.err != "") || (err != nil && !strings.Contains(err.Error(), tc.err)) || (ok && got != tc.want) || ok != tc.ok {
			t.Errorf("Number(%v) = %v, %v, %v", tc.in, got, ok, err)
		}
	}
}

// TestQueryThroughCloudMonitoring reads the SLI with the
// kanaria.dev/cloud-monitoring plugin through the engine's queriers: each
// SLI query becomes the plugin's promql, or its filter when the plugin
// sets one, and {{window}} is replaced in the plugin's other fields.
func TestQueryThroughCloudMonitoring(t *testing.T) {
	cm := &cloudMonitoringQuerier{answers: map[string]float64{
		"promql errors[5m]": 2, "promql all[5m]": 100, "promql errors[1h]": 12, "promql all[1h]": 1200,
		`filter metric.type="lb/errors" over 5m`: 2, `filter metric.type="lb/all" over 5m`: 100,
		`filter metric.type="lb/errors" over 1h`: 12, `filter metric.type="lb/all" over 1h`: 1200,
	}}
	src := QuerierSource(map[string]metricproviders.Querier{cloudmonitoring.Name: cm})
	for name, cfg := range map[string]string{
		"promql": `{"provider":{"plugin":{"kanaria.dev/cloud-monitoring":{"project":"my-proj"}}},"objective":99,"period":"1h",
			"windows":[{"long":"1h","short":"5m","burnRate":10}],
			"errorQuery":"errors[{{window}}]","totalQuery":"all[{{window}}]"}`,
		"filter": `{"provider":{"plugin":{"kanaria.dev/cloud-monitoring":{"project":"my-proj","filter":"-","lookback":"{{window}}",
			"aggregation":{"alignmentPeriod":"{{windowSeconds}}s","perSeriesAligner":"ALIGN_DELTA","crossSeriesReducer":"REDUCE_SUM"}}}},
			"objective":99,"period":"1h","windows":[{"long":"1h","short":"5m","burnRate":10}],
			"errorQuery":"metric.type=\"lb/errors\"","totalQuery":"metric.type=\"lb/all\""}`,
	} {
		t.Run(name, func(t *testing.T) {
			cm.seen = nil
			if _, err := Parse(json.RawMessage(cfg)); err != nil {
				t.Fatal(err)
			}
			req := sloRequest(cfg)
			req.Namespace, req.Secrets = "shop", secretsMarker{}
			v, err := New(src).Query(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			burn := v.Result.(map[string]any)["burnRate"].(map[string]any)
			if !near(burn["5m"].(float64), 2) || !near(burn["1h"].(float64), 1) {
				t.Errorf("burn rates = %v", burn)
			}
			if len(cm.seen) != 4 {
				t.Errorf("queries sent: %v, want errors and totals over two windows", cm.seen)
			}
		})
	}
	if SourceName(&v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{cloudmonitoring.Name: json.RawMessage(`{}`)}}) != cloudmonitoring.Name {
		t.Error("the cloud-monitoring plugin is not a source of SLIs")
	}
}

// cloudMonitoringQuerier stands for the cloud-monitoring provider: it reads
// its configuration as that provider does and answers by query.
type cloudMonitoringQuerier struct {
	answers map[string]float64
	seen    []string
}

func (q *cloudMonitoringQuerier) Query(_ context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	if _, ok := req.Secrets.(secretsMarker); !ok || req.Namespace != "shop" {
		return metricproviders.Value{}, fmt.Errorf("the measurement's Secrets and namespace did not arrive")
	}
	c, err := cloudmonitoring.Parse(req.Metric.Provider.Plugin[cloudmonitoring.Name])
	if err != nil {
		return metricproviders.Value{}, err
	}
	key := "promql " + c.PromQL
	if c.Filter != "" {
		key = fmt.Sprintf("filter %s over %s", c.Filter, c.Lookback)
		if c.Aggregation == nil || (c.Aggregation.AlignmentPeriod != "300s" && c.Aggregation.AlignmentPeriod != "3600s") {
			return metricproviders.Value{}, fmt.Errorf("the alignment period was not filled with the window: %+v", c.Aggregation)
		}
	}
	q.seen = append(q.seen, key)
	v, ok := q.answers[key]
	if !ok {
		return metricproviders.Value{}, fmt.Errorf("unexpected query %q", key)
	}
	return metricproviders.Value{Result: []float64{v}}, nil
}
