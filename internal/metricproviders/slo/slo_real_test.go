package slo

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
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

	p := New(PrometheusRunner(prometheus.New(prometheus.Options{})))
	judge := func(app string) map[string]any {
		t.Helper()
		cfg, _ := json.Marshal(map[string]any{
			"prometheus": map[string]string{"address": srv.URL},
			"objective":  99.0,
			"period":     "1m",
			"windows":    []map[string]any{{"long": "30s", "short": "15s", "burnRate": 14.4}},
			"errorQuery": `sum(rate(http_requests_total{app="` + app + `",code="500"}[{{window}}]))`,
			"totalQuery": `sum(rate(http_requests_total{app="` + app + `"}[{{window}}]))`,
		})
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

	healthy := judge("healthy")
	burn := healthy["burnRate"].(map[string]any)
	if math.Abs(burn["30s"].(float64)-0.5) > 0.01 || math.Abs(burn["15s"].(float64)-0.5) > 0.01 || healthy["firing"] != false {
		t.Errorf("healthy: %v, want burn rates of 0.5 and no firing pair", healthy)
	}
	if math.Abs(healthy["budgetRemaining"].(float64)-0.5) > 0.01 {
		t.Errorf("healthy: budget remaining %v, want 0.5", healthy["budgetRemaining"])
	}

	burning := judge("burning")
	burn = burning["burnRate"].(map[string]any)
	if math.Abs(burn["30s"].(float64)-20) > 0.1 || math.Abs(burn["15s"].(float64)-20) > 0.1 || burning["firing"] != true {
		t.Errorf("burning: %v, want burn rates of 20 and the pair firing", burning)
	}
	if burning["budgetRemaining"].(float64) >= 0 {
		t.Errorf("burning: budget remaining %v, want it overspent", burning["budgetRemaining"])
	}
}
