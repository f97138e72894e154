package prometheus

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/promserver"
)

const (
	// fixture is the published blue/green + Istio + Prometheus setup,
	// relative to this package's directory.
	fixture = "../../../../shared/fixtures/seeds/bluegreen-istio-prometheus.yaml"
	// fixtureAddress is the Prometheus address written in the fixture.
	fixtureAddress = "http://127.0.0.1:9090"
	serviceName    = "service.example.svc.cluster.local"
	istioRequests  = "istio_requests_total"
)

// TestFixtureSuccessRateAgainstRealPrometheus runs the fixture's
// success-rate query, unchanged but for its argument and address, against
// a real Prometheus scraping Istio-shaped counters, through three phases:
// no traffic, healthy traffic, and 20% 503s.
func TestFixtureSuccessRateAgainstRealPrometheus(t *testing.T) {
	tmpl := loadTemplate(t, "success-rate")
	if len(tmpl.Spec.Metrics) != 1 || tmpl.Spec.Metrics[0].Provider.Prometheus == nil {
		t.Fatalf("fixture template has %d metrics, want one prometheus metric", len(tmpl.Spec.Metrics))
	}
	m := tmpl.Spec.Metrics[0]
	if m.SuccessCondition != "result[0] >= 0.95" {
		t.Fatalf("fixture successCondition = %q; this test assumes result[0] >= 0.95", m.SuccessCondition)
	}

	target := promserver.NewTarget(t)
	// Another service's traffic, so the server has data while ours has
	// none.
	target.SetRate(istioRequests, istioLabels("other.example.svc.cluster.local", "200"), 5)
	srv := promserver.Start(t, []string{target.HostPort()}, time.Second)

	pm := m.Provider.Prometheus
	if pm.Address != fixtureAddress {
		t.Fatalf("fixture address = %q, want %q", pm.Address, fixtureAddress)
	}
	pm.Address = srv.URL
	// The engine substitutes {{args.*}}; a plain replacement stands in
	// for it here.
	pm.Query = strings.ReplaceAll(pm.Query, "{{args.service-name}}", serviceName)
	req := metricproviders.Request{Namespace: "default", RunName: "rollout-abc-2", Metric: m}
	p := New(Options{})

	t.Run("no traffic yields the or vector(1) fallback", func(t *testing.T) {
		srv.WaitForSeries(t, `irate(`+istioRequests+`{destination_service="other.example.svc.cluster.local"}[2m]) > 0`, 30*time.Second)
		got := successRate(t, p, req)
		if got != 1 {
			t.Errorf("result[0] = %v, want 1 from or vector(1)", got)
		}
	})

	t.Run("healthy traffic passes", func(t *testing.T) {
		// 99% success: distinguishable from the fallback's 1.
		target.SetRate(istioRequests, istioLabels(serviceName, "200"), 99)
		target.SetRate(istioRequests, istioLabels(serviceName, "503"), 1)
		// irate over [2m] needs two samples of both series.
		srv.WaitForSeries(t, `irate(`+istioRequests+`{destination_service="`+serviceName+`",response_code="503"}[2m]) > 0`, 30*time.Second)
		got := successRate(t, p, req)
		if got < 0.95 || math.Abs(got-0.99) > 0.001 {
			t.Errorf("result[0] = %v, want 0.99 (>= 0.95)", got)
		}
	})

	t.Run("5xx traffic fails", func(t *testing.T) {
		target.SetRate(istioRequests, istioLabels(serviceName, "200"), 80)
		target.SetRate(istioRequests, istioLabels(serviceName, "503"), 20)
		// irate reads the last two samples; after three more scrapes
		// both were taken at the new rates, with time for ingestion.
		target.WaitScrapes(3, 30*time.Second)
		got := successRate(t, p, req)
		if got >= 0.95 || math.Abs(got-0.8) > 0.001 {
			t.Errorf("result[0] = %v, want 0.8 (< 0.95)", got)
		}
	})
}

// successRate runs the query and returns result[0], checking the shape the
// fixture's condition relies on.
func successRate(t *testing.T, p *Provider, req metricproviders.Request) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := p.Query(ctx, req)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	result, ok := v.Result.([]float64)
	if !ok || len(result) != 1 {
		t.Fatalf("result = %#v (raw %s), want a one-element []float64", v.Result, v.Raw)
	}
	t.Logf("raw = %s", v.Raw)
	return result[0]
}

func istioLabels(service, code string) map[string]string {
	return map[string]string{
		"reporter":            "destination",
		"destination_service": service,
		"response_code":       code,
	}
}

// loadTemplate reads the named AnalysisTemplate from the fixture's YAML
// stream.
func loadTemplate(t *testing.T, name string) v1alpha1.AnalysisTemplate {
	t.Helper()
	path, err := filepath.Abs(fixture)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("parsing %s: %v", path, err)
		}
		if meta.Kind != "AnalysisTemplate" || meta.Metadata.Name != name {
			continue
		}
		var tmpl v1alpha1.AnalysisTemplate
		if err := yaml.UnmarshalStrict([]byte(doc), &tmpl); err != nil {
			t.Fatalf("decoding AnalysisTemplate %s: %v", name, err)
		}
		return tmpl
	}
	t.Fatalf("no AnalysisTemplate %q in %s", name, path)
	return v1alpha1.AnalysisTemplate{}
}
