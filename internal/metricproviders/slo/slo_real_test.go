package slo

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/prometheus"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/promserver"
)

// TestBurnRatesFromRealPrometheus measures two services whose burn rates
// are known in advance, through a real Prometheus scraping counters that
// grow at set rates: a healthy one at half its budget's pace and one
// failing 20% of requests, twenty times its pace. The policy's windows
// are seconds long so the test needs no hour of data; the arithmetic is
// the same.
func TestBurnRatesFromRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prometheus server")
	}
	target := promserver.NewTarget(t)
	labels := func(app, code string) map[string]string { return map[string]string{"app": app, "code": code} }
	target.SetRate("http_requests_total", labels("healthy", "200"), 995)
	target.SetRate("http_requests_total", labels("healthy", "500"), 5)
	target.SetRate("http_requests_total", labels("burning", "200"), 80)
	target.SetRate("http_requests_total", labels("burning", "500"), 20)
	srv := promserver.Start(t, []string{target.HostPort()}, time.Second)
	srv.WaitForSeries(t, `rate(http_requests_total{app="burning",code="500"}[15s]) > 0`, 30*time.Second)
	target.WaitScrapes(2, 30*time.Second)

	p := New(QuerierSource(map[string]metricproviders.Querier{"prometheus": prometheus.New(prometheus.Options{})}))
	sli := func(app string) map[string]any {
		return map[string]any{
			"errorQuery": `sum(rate(http_requests_total{app="` + app + `",code="500"}[{{window}}]))`,
			"totalQuery": `sum(rate(http_requests_total{app="` + app + `"}[{{window}}]))`,
		}
	}
	judge := func(app, baseline string) map[string]any {
		t.Helper()
		c := sli(app)
		c["prometheus"] = map[string]string{"address": srv.URL}
		c["objective"] = 99.0
		c["period"] = "1m"
		c["windows"] = []map[string]any{{"long": "30s", "short": "15s", "burnRate": 14.4}}
		if baseline != "" {
			c["baseline"] = sli(baseline)
		}
		cfg, _ := json.Marshal(c)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		v, err := p.Query(ctx, metricproviders.Request{Metric: v1alpha1.Metric{Name: "budget",
			Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{Name: cfg}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", app, v.Raw)
		return v.Result.(map[string]any)
	}

	healthy := judge("healthy", "")
	burn := healthy["burnRate"].(map[string]any)
	// Within 3%: the counters grow between the scrapes of their series.
	if !within(burn["30s"], 0.5) || !within(burn["15s"], 0.5) || healthy["firing"] != false {
		t.Errorf("healthy: %v, want burn rates of 0.5 and no firing pair", healthy)
	}
	if !within(healthy["budgetRemaining"], 0.5) {
		t.Errorf("healthy: budget remaining %v, want 0.5", healthy["budgetRemaining"])
	}

	burning := judge("burning", "healthy")
	burn = burning["burnRate"].(map[string]any)
	if !within(burn["30s"], 20) || !within(burn["15s"], 20) || burning["firing"] != true {
		t.Errorf("burning: %v, want burn rates of 20 and the pair firing", burning)
	}
	if burning["budgetRemaining"].(float64) >= 0 {
		t.Errorf("burning: budget remaining %v, want it overspent", burning["budgetRemaining"])
	}
	base := burning["baseline"].(map[string]any)
	if b := base["burnRate"].(map[string]any)["15s"]; !within(b, 0.5) {
		t.Errorf("baseline burn rate %v, want 0.5", b)
	}
	// The canary burns forty times what the baseline does.
	phase, err := condition.NewEvaluator().Evaluate("", `result.burnRate["15s"] > 3 * result.baseline.burnRate["15s"]`, burning)
	if err != nil || phase != v1alpha1.AnalysisPhaseFailed {
		t.Errorf("margin condition: %s, %v; want Failed", phase, err)
	}
}

// within reports whether v is a number within 3% of want.
func within(v any, want float64) bool {
	f, ok := v.(float64)
	return ok && math.Abs(f-want) <= 0.03*want
}
