package compare

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// fakePrometheus answers each query with the series the test set for it
// and records the providers it was asked to run.
type fakePrometheus struct {
	series map[string][]float64
	err    error
	asked  []v1alpha1.PrometheusMetric
}

func (f *fakePrometheus) Query(_ context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	f.asked = append(f.asked, *req.Metric.Provider.Prometheus)
	if f.err != nil {
		return metricproviders.Value{}, f.err
	}
	s, ok := f.series[req.Metric.Provider.Prometheus.Query]
	if !ok {
		return metricproviders.Value{Result: []float64{}}, nil
	}
	return metricproviders.Value{Result: s}, nil
}

func request(t *testing.T, config string) metricproviders.Request {
	t.Helper()
	return metricproviders.Request{Namespace: "ns", RunName: "run", Metric: v1alpha1.Metric{Name: "judge",
		Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{Name: json.RawMessage(config)}}}}
}

const config = `{"lookback": "5m", "step": "15s",
 "source": {"prometheus": {"address": "http://prom:9090", "headers": [{"key": "X-Scope-OrgID", "value": "team"}]}},
 "metrics": [
  {"name": "errors", "canary": "errors_canary", "baseline": "errors_baseline", "direction": "increase", "critical": true},
  {"name": "latency", "canary": "latency_canary", "baseline": "latency_baseline", "outliers": "remove"}
 ]}`

func TestQueryJudgesAndRecords(t *testing.T) {
	f := &fakePrometheus{series: map[string][]float64{
		"errors_canary":    seq(21, 0.05, 0.001),
		"errors_baseline":  seq(21, 0.01, 0.001),
		"latency_canary":   seq(21, 0.2, 0.01),
		"latency_baseline": seq(21, 0.2, 0.01),
	}}
	v, err := New(f).Query(context.Background(), request(t, config))
	if err != nil {
		t.Fatal(err)
	}
	if v.Phase != v1alpha1.AnalysisPhaseFailed || v.Result != 0.0 || v.Raw != "0" || !strings.Contains(v.Message, "critical metric errors failed") {
		t.Fatalf("phase %s result %v raw %q message %q", v.Phase, v.Result, v.Raw, v.Message)
	}
	if len(f.asked) != 4 {
		t.Fatalf("%d queries, want 4", len(f.asked))
	}
	q := f.asked[0]
	if q.Address != "http://prom:9090" || len(q.Headers) != 1 || q.Query != "errors_canary" || q.RangeQuery == nil ||
		q.RangeQuery.Start != `now() - duration("300s")` || q.RangeQuery.End != "now()" || q.RangeQuery.Step != "15s" {
		t.Errorf("query sent: %+v %+v", q, q.RangeQuery)
	}
	if v.Metadata["score"] != "0" {
		t.Errorf("score metadata %q", v.Metadata["score"])
	}
	errLine := v.Metadata["metric/errors"]
	for _, want := range []string{"class=High", "n=21/21", "u=441", "method=exact", "critical=true", "interval=[0.036,0.044]", "estimate=0.04", "confidence=0.95"} {
		if !strings.Contains(errLine, want) {
			t.Errorf("metric/errors = %q, lacks %q", errLine, want)
		}
	}
	if !strings.Contains(v.Metadata["metric/latency"], "class=Pass") {
		t.Errorf("metric/latency = %q", v.Metadata["metric/latency"])
	}
	for k, val := range v.Metadata {
		if len(val) > 300 {
			t.Errorf("metadata %s is %d bytes", k, len(val))
		}
	}
}

func TestQueryPassesEqualCanary(t *testing.T) {
	same := seq(21, 0.01, 0.0005)
	f := &fakePrometheus{series: map[string][]float64{"errors_canary": same, "errors_baseline": same,
		"latency_canary": same, "latency_baseline": same}}
	v, err := New(f).Query(context.Background(), request(t, config))
	if err != nil {
		t.Fatal(err)
	}
	if v.Phase != v1alpha1.AnalysisPhaseSuccessful || v.Result != 100.0 {
		t.Fatalf("phase %s result %v message %q", v.Phase, v.Result, v.Message)
	}
}

func TestQueryErrors(t *testing.T) {
	f := &fakePrometheus{err: errors.New("prometheus query to http://prom:9090 failed: refused")}
	_, err := New(f).Query(context.Background(), request(t, config))
	if err == nil || !strings.Contains(err.Error(), "metric errors, canary: prometheus query") {
		t.Errorf("error %v", err)
	}
	if _, err := New(f).Query(context.Background(), request(t, `{"metrics": []}`)); err == nil {
		t.Error("invalid configuration measured")
	}
}

func TestParse(t *testing.T) {
	if c, err := Parse(json.RawMessage(config)); err != nil || c.Metrics[1].Outliers != OutliersRemove {
		t.Fatalf("%v %+v", err, c)
	}
	for _, tc := range []struct{ config, want string }{
		{`{"source": {}, "metrics": [{"name": "a", "canary": "x", "baseline": "y"}]}`, "source: set prometheus"},
		{`{"source": {"prometheus": {}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y"}]}`, "address: required"},
		{`{"source": {"prometheus": {"address": "http://p", "query": "up"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y"}]}`, "leave them out"},
		{`{"source": {"prometheus": {"address": "http://p"}}}`, "at least one"},
		{`{"lookback": "1d", "step": "1s", "source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y"}]}`, "at most 1000"},
		{`{"lookback": "soon", "source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y"}]}`, "lookback:"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x"}]}`, "canary and baseline queries are required"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y"}, {"name": "a", "canary": "x", "baseline": "y"}]}`, "used twice"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y", "direction": "up"}]}`, "direction"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y", "confidence": 95}]}`, "confidence"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y", "allowedIncrease": 0.9}]}`, "allowedIncrease"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y", "allowedDecrease": 1.1}]}`, "allowedDecrease"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y", "outliers": "drop"}]}`, "outliers"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y", "outlierFactor": 2}]}`, "outlierFactor"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y", "weight": -1}]}`, "weight"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y"}], "scoring": {"pass": 50, "marginal": 75}}`, "scoring"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y", "weight": 0}]}`, "every weight is 0"},
		{`{"source": {"prometheus": {"address": "http://p"}}, "metrics": [{"name": "a", "canary": "x", "baseline": "y", "treshold": 1}]}`, "unknown field"},
	} {
		_, err := Parse(json.RawMessage(tc.config))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), Name+": ") {
			t.Errorf("%s: error %v, want one with %q", tc.config, err, tc.want)
		}
	}
}

func TestParseMetadataRoundTrip(t *testing.T) {
	c, err := Parse(json.RawMessage(config))
	if err != nil {
		t.Fatal(err)
	}
	j := Judge(c, map[string]Samples{
		"errors":  {Canary: seq(21, 0.05, 0.001), Baseline: seq(21, 0.01, 0.001)},
		"latency": {Canary: append(seq(20, 1, 0.1), 900), Baseline: seq(21, 1, 0.1)},
	})
	r, ok := ParseMetadata(Metadata(j))
	if !ok || r.Score != "0" || len(r.Metrics) != 2 {
		t.Fatalf("%v %+v", ok, r)
	}
	e, l := r.Metrics[0], r.Metrics[1]
	if e.Name != "errors" || e.Class != "High" || !e.Critical || e.N != "21/21" || e.Interval != "[0.036,0.044]" || e.Method != "exact" || e.P == "" || e.Effect == "" {
		t.Errorf("errors: %+v", e)
	}
	if l.Name != "latency" || l.Class != "Pass" || l.Removed != "1" || l.N != "20/21" || l.Critical {
		t.Errorf("latency: %+v", l)
	}
	if _, ok := ParseMetadata(map[string]string{"ResolvedPrometheusQuery": "up"}); ok {
		t.Error("another provider's metadata read as a judgement")
	}
}
