package analysis

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// blackholeQuerier never answers a request for the blackholed host until
// the call's context ends, and answers every other host at once.
type blackholeQuerier struct {
	waiting   atomic.Int32
	deadlines chan time.Duration
}

func (b *blackholeQuerier) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	if strings.Contains(req.Metric.Provider.Web.URL, "blackhole.example") {
		b.waiting.Add(1)
		defer b.waiting.Add(-1)
		if d, ok := ctx.Deadline(); ok {
			b.deadlines <- time.Until(d)
		}
		<-ctx.Done()
		return metricproviders.Value{}, ctx.Err()
	}
	return metricproviders.Value{Result: 1.0, Raw: "1"}, nil
}

func webRun(name, url string) *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{
			Name:             "m",
			SuccessCondition: "result == 1",
			Provider:         v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, TimeoutSeconds: 3600}},
		}}},
	}
}

// TestBlackholedEndpointHoldsFewWorkers measures 100 runs whose endpoint
// never answers, from as many workers at once, beside a run whose endpoint
// is healthy: at most the endpoint's limit of calls wait on the blackhole,
// every other call is put off at once instead of holding a worker, the
// healthy run is measured meanwhile, and no call may wait longer than
// MaxProviderCall however long the metric's own timeout is.
func TestBlackholedEndpointHoldsFewWorkers(t *testing.T) {
	q := &blackholeQuerier{deadlines: make(chan time.Duration, 100)}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &Reconciler{
		Queriers:   map[string]metricproviders.Querier{"web": q},
		Conditions: condition.NewEvaluator(),
		Now:        func() time.Time { return now },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const runs = 100
	var wg sync.WaitGroup
	var deferred atomic.Int32
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := webRun("slow-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "http://blackhole.example:8080/health")
			if len(r.measure(ctx, run, resolvedArgs{}, retentionOf(run), now)) > 0 {
				deferred.Add(1)
			}
		}()
	}
	// Wait until every call that got a place is waiting on the blackhole
	// and every other one was put off.
	deadline := time.Now().Add(10 * time.Second)
	for deferred.Load()+q.waiting.Load() < runs {
		if time.Now().After(deadline) {
			t.Fatalf("%d deferred and %d waiting of %d", deferred.Load(), q.waiting.Load(), runs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if w := q.waiting.Load(); w != DefaultEndpointConcurrency {
		t.Errorf("%d calls wait on the blackholed endpoint, want %d", w, DefaultEndpointConcurrency)
	}
	if got := r.bulkhead().inFlight("web/blackhole.example:8080"); got != DefaultEndpointConcurrency {
		t.Errorf("bulkhead counts %d in flight", got)
	}

	healthy := webRun("healthy", "http://ok.example/health")
	if len(r.measure(ctx, healthy, resolvedArgs{}, retentionOf(healthy), now)) > 0 {
		t.Fatal("the healthy run's measurement was put off behind the blackholed endpoint")
	}
	if res := findResult(&healthy.Status, "m"); res == nil || res.Count != 1 || res.Measurements[0].Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("healthy run not measured: %+v", healthy.Status.MetricResults)
	}

	for range DefaultEndpointConcurrency {
		if d := <-q.deadlines; d > MaxProviderCall {
			t.Errorf("a call may wait %s, beyond the cap of %s (the metric asked for 3600s)", d, MaxProviderCall)
		}
	}
	cancel()
	wg.Wait()
	if got := r.bulkhead().inFlight("web/blackhole.example:8080"); got != 0 {
		t.Errorf("%d places still taken after the calls ended", got)
	}
}

func TestEndpointOf(t *testing.T) {
	args := resolvedArgs{values: map[string]string{"host": "Metrics.Example:9090"}}
	// The SLI of the kanaria.dev/slo cases, which the provider's own parse
	// requires.
	const sli = `"objective":99.9,"errorRatioQuery":"ratio[{{window}}]"`
	for _, tc := range []struct {
		provider v1alpha1.MetricProvider
		want     string
	}{
		{v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: "http://{{args.host}}/prom"}}, "prometheus/metrics.example:9090"},
		{v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{}}, "prometheus"},
		{v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "https://a.example/x"}}, "web/a.example"},
		{v1alpha1.MetricProvider{Datadog: &v1alpha1.DatadogMetric{}}, "datadog"},
		{v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{Address: "http://graphite:8080"}}, "graphite/graphite:8080"},
		{v1alpha1.MetricProvider{SkyWalking: &v1alpha1.SkyWalkingMetric{Address: "http://oap:12800"}}, "skywalking/oap:12800"},
		{v1alpha1.MetricProvider{Kayenta: &v1alpha1.KayentaMetric{Address: "https://kayenta.example"}}, "kayenta/kayenta.example"},
		{v1alpha1.MetricProvider{Wavefront: &v1alpha1.WavefrontMetric{Address: "Example.Wavefront.com"}}, "wavefront/example.wavefront.com"},
		{v1alpha1.MetricProvider{NewRelic: &v1alpha1.NewRelicMetric{Query: "q"}}, "newrelic/newrelic"},
		{v1alpha1.MetricProvider{NewRelic: &v1alpha1.NewRelicMetric{Query: "q", Profile: "team-b"}}, "newrelic/team-b"},
		{v1alpha1.MetricProvider{Influxdb: &v1alpha1.InfluxdbMetric{Query: "q"}}, "influxdb/influxdb"},
		{v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/slo": json.RawMessage(`{"prometheus":{"address":"http://prom:9090"},` + sli + `}`)}}, "kanaria.dev/slo/prometheus/prom:9090"},
		{v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/slo": json.RawMessage(`{"provider":{"graphite":{"address":"http://g:8080"}},` + sli + `}`)}}, "kanaria.dev/slo/graphite/g:8080"},
		{v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/slo": json.RawMessage(`{"provider":{"plugin":{"kanaria.dev/cloud-monitoring":{"project":"shop-prod"}}},` + sli + `}`)}}, "kanaria.dev/slo/kanaria.dev/cloud-monitoring/shop-prod"},
		// A configuration that does not parse waits on no backend.
		{v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/slo": json.RawMessage(`{"prometheus":{"address":"http://prom:9090"}}`)}}, "kanaria.dev/slo"},
		{v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/cloud-monitoring": json.RawMessage(`{"project":"shop-prod","promql":"up","typo":1}`)}}, "kanaria.dev/cloud-monitoring"},
		{v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/cloud-monitoring": json.RawMessage(`{"project":"shop-prod","promql":"up"}`)}}, "kanaria.dev/cloud-monitoring/shop-prod"},
		{v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/compare": json.RawMessage(`{"source":{"prometheus":{"address":"http://Prom:9090"}},"metrics":[{"name":"latency","canary":"c","baseline":"b"}]}`)}}, "kanaria.dev/compare/prom:9090"},
		{v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"argoproj-labs/sample": json.RawMessage(`{}`)}}, "plugin"},
	} {
		if got := endpointOf(v1alpha1.Metric{Name: "m", Provider: tc.provider}, args); got != tc.want {
			t.Errorf("endpointOf = %q, want %q", got, tc.want)
		}
	}
}

// TestRetryAfterFollowsTheEndpoint: a measurement put off for a quick
// endpoint is tried again moments later, one for an endpoint whose calls
// are slow or have never ended after a second, and several endpoints go by
// the quickest.
func TestRetryAfterFollowsTheEndpoint(t *testing.T) {
	var b bulkhead
	if got := b.retryAfter([]string{"web/new.example"}); got != deferredRetry {
		t.Errorf("no call ended yet: retry after %s, want %s", got, deferredRetry)
	}
	for _, e := range []string{"web/quick.example", "web/busy.example", "web/slow.example"} {
		if !b.acquire(e) {
			t.Fatalf("no place for %s", e)
		}
	}
	b.release("web/quick.example", 2*time.Millisecond)
	b.release("web/busy.example", 300*time.Millisecond)
	b.release("web/slow.example", 30*time.Second)
	for _, tc := range []struct {
		endpoints []string
		want      time.Duration
	}{
		{[]string{"web/quick.example"}, minDeferredRetry},
		{[]string{"web/busy.example"}, 300 * time.Millisecond},
		{[]string{"web/slow.example"}, deferredRetry},
		{[]string{"web/slow.example", "web/busy.example"}, 300 * time.Millisecond},
	} {
		if got := b.retryAfter(tc.endpoints); got != tc.want {
			t.Errorf("retryAfter(%v) = %s, want %s", tc.endpoints, got, tc.want)
		}
	}
	// The average follows the endpoint: calls that turn slow push it up.
	for range 20 {
		b.acquire("web/busy.example")
		b.release("web/busy.example", 5*time.Second)
	}
	if got := b.retryAfter([]string{"web/busy.example"}); got != deferredRetry {
		t.Errorf("after slow calls: retry after %s, want %s", got, deferredRetry)
	}
}
