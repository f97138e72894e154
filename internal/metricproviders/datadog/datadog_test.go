package datadog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

const (
	controllerNS = "kanaria-system"
	runNS        = "shop"
	apiKey       = "0123456789abcdef0123456789abcdef"
	appKey       = "fedcba9876543210fedcba9876543210fedcba98"
)

// fixedNow is the clock every test uses: 2025-03-14T09:26:53Z.
var fixedNow = time.Unix(1741944413, 0)

// fakeSecrets is a SecretReader over an in-memory map keyed by
// "namespace/name/key".
type fakeSecrets map[string]string

func (f fakeSecrets) SecretValue(_ context.Context, ns, name, key string) (string, error) {
	v, ok := f[ns+"/"+name+"/"+key]
	if !ok {
		return "", fmt.Errorf("secrets %q not found", name)
	}
	return v, nil
}

// defaultSecrets holds the default Secret, pointing at address.
func defaultSecrets(address string) fakeSecrets {
	return fakeSecrets{
		controllerNS + "/datadog/address": address,
		controllerNS + "/datadog/api-key": apiKey,
		controllerNS + "/datadog/app-key": appKey,
	}
}

func newProvider(opts Options) *Provider {
	opts.Namespace = controllerNS
	opts.Now = func() time.Time { return fixedNow }
	return New(opts)
}

func request(dd v1alpha1.DatadogMetric, secrets metricproviders.SecretReader) metricproviders.Request {
	return metricproviders.Request{
		Namespace: runNS,
		RunName:   "measure-api-7d9f-2",
		Metric: v1alpha1.Metric{
			Name:     "error-rate",
			Provider: v1alpha1.MetricProvider{Datadog: &dd},
		},
		Secrets: secrets,
	}
}

// checkKeys asserts the credentials headers carry the fake Secret's keys.
func checkKeys(t *testing.T, r *http.Request, wantAPI, wantApp string) {
	t.Helper()
	if got := r.Header.Get("DD-API-KEY"); got != wantAPI {
		t.Errorf("DD-API-KEY = %q, want %q", got, wantAPI)
	}
	if got := r.Header.Get("DD-APPLICATION-KEY"); got != wantApp {
		t.Errorf("DD-APPLICATION-KEY = %q, want %q", got, wantApp)
	}
}

// v2Server answers POST /api/v2/query/scalar with response after checking
// the method, path, headers and that the body equals wantBody exactly.
func v2Server(t *testing.T, wantBody, response string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/query/scalar" {
			t.Errorf("request = %s %s, want POST /api/v2/query/scalar", r.Method, r.URL.Path)
		}
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", got)
		}
		checkKeys(t, r, apiKey, appKey)
		body, _ := io.ReadAll(r.Body)
		if string(body) != wantBody {
			t.Errorf("body =\n%s\nwant\n%s", body, wantBody)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, response)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// requestCount reads kanaria_metric_provider_requests_total for datadog.
func requestCount(t *testing.T, outcome string) float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "kanaria_metric_provider_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "provider") == Name && label(m, "outcome") == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestV1Value(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/v1/query" {
			t.Errorf("request = %s %s, want GET /api/v1/query", r.Method, r.URL.Path)
		}
		checkKeys(t, r, apiKey, appKey)
		want := url.Values{
			"from":  {"1741944113"},
			"to":    {"1741944413"},
			"query": {"avg:system.cpu.user{service:checkout}"},
		}
		if got := r.URL.Query(); !reflect.DeepEqual(got, want) {
			t.Errorf("query parameters = %v, want %v", got, want)
		}
		// Shape of Datadog's documented v1 answer; the trailing null point
		// is a bucket with no data yet.
		_, _ = io.WriteString(w, `{
  "status": "ok",
  "res_type": "time_series",
  "resp_version": 1,
  "query": "avg:system.cpu.user{service:checkout}",
  "message": "",
  "error": "",
  "from_date": 1741944113000,
  "to_date": 1741944413000,
  "group_by": [],
  "series": [{
    "metric": "system.cpu.user",
    "display_name": "system.cpu.user",
    "unit": [{"family": "percentage", "scale_factor": 1, "name": "percent", "short_name": "%", "plural": "percent", "id": 17}, null],
    "pointlist": [[1741944120000, 0.41], [1741944240000, 0.4375], [1741944360000, null]],
    "scope": "service:checkout",
    "expression": "avg:system.cpu.user{service:checkout}",
    "tag_set": [],
    "aggr": "avg",
    "interval": 120,
    "length": 3,
    "start": 1741944120000,
    "end": 1741944479000,
    "attributes": {},
    "query_index": 0
  }]
}`)
	}))
	defer srv.Close()

	before := requestCount(t, "success")
	p := newProvider(Options{})
	v, err := p.Query(context.Background(), request(v1alpha1.DatadogMetric{
		Interval: "5m",
		Query:    "avg:system.cpu.user{service:checkout}",
	}, defaultSecrets(srv.URL)))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if v.Result != 0.4375 || v.Raw != "0.4375" {
		t.Errorf("value = %#v / %q, want 0.4375 (last non-null point)", v.Result, v.Raw)
	}
	if v.Metadata["apiVersion"] != "v1" || v.Metadata["from"] != "2025-03-14T09:21:53Z" || v.Metadata["to"] != "2025-03-14T09:26:53Z" {
		t.Errorf("metadata = %v", v.Metadata)
	}
	if got := requestCount(t, "success") - before; got != 1 {
		t.Errorf("observed %v successful requests, want 1", got)
	}
}

func TestV1NoData(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"ok","res_type":"time_series","resp_version":1,"query":"sum:requests.error.count{service:checkout}","message":"","error":"","from_date":1741944113000,"to_date":1741944413000,"group_by":[],"series":[]}`)
	}))
	defer srv.Close()

	v, err := newProvider(Options{}).Query(context.Background(), request(v1alpha1.DatadogMetric{
		Query: "sum:requests.error.count{service:checkout}",
	}, defaultSecrets(srv.URL)))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if v.Result != nil || v.Raw != "[]" {
		t.Errorf("value = %#v / %q, want nil / []", v.Result, v.Raw)
	}
}

func TestV2SingleQuery(t *testing.T) {
	want := `{"data":{"type":"scalar_request","attributes":{"from":1741943813000,"to":1741944413000,"queries":[{"data_source":"metrics","query":"avg:kubernetes.cpu.usage.total{kube_deployment:checkout}","name":"query","aggregator":"last"}],"formulas":[]}}}`
	srv := v2Server(t, want, `{
  "data": {
    "type": "scalar_response",
    "attributes": {
      "columns": [{
        "name": "query",
        "type": "number",
        "values": [0.0006332881882246533],
        "meta": {"unit": [{"family": "cpu", "name": "nanocore", "plural": "nanocores", "scale_factor": 1e-9, "short_name": "ncores", "id": 120}, null]}
      }]
    }
  }
}`)
	v, err := newProvider(Options{}).Query(context.Background(), request(v1alpha1.DatadogMetric{
		ApiVersion: "v2",
		Interval:   "10m",
		Query:      "avg:kubernetes.cpu.usage.total{kube_deployment:checkout}",
	}, defaultSecrets(srv.URL)))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if v.Result != 0.0006332881882246533 || v.Raw != "0.0006332881882246533" {
		t.Errorf("value = %#v / %q", v.Result, v.Raw)
	}
}

func TestV2QueriesAndFormula(t *testing.T) {
	want := `{"data":{"type":"scalar_request","attributes":{"from":1741944113000,"to":1741944413000,"queries":[{"data_source":"metrics","query":"count:requests.errors{service:checkout}.as_count()","name":"a","aggregator":"sum"},{"data_source":"metrics","query":"count:requests{service:checkout}.as_count()","name":"b","aggregator":"sum"}],"formulas":[{"formula":"moving_rollup(a, 300, 'sum') / moving_rollup(b, 300, 'sum') * 100"}]}}}`
	srv := v2Server(t, want, `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"moving_rollup(a, 300, 'sum') / moving_rollup(b, 300, 'sum') * 100","type":"number","values":[1.25],"meta":{"unit":null}}]}}}`)
	v, err := newProvider(Options{}).Query(context.Background(), request(v1alpha1.DatadogMetric{
		ApiVersion: "v2",
		Interval:   "5m",
		Aggregator: "sum",
		Queries: map[string]string{
			"b": "count:requests{service:checkout}.as_count()",
			"a": "count:requests.errors{service:checkout}.as_count()",
		},
		Formula: "moving_rollup(a, 300, 'sum') / moving_rollup(b, 300, 'sum') * 100",
	}, defaultSecrets(srv.URL)))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if v.Result != 1.25 || v.Raw != "1.25" {
		t.Errorf("value = %#v / %q, want 1.25", v.Result, v.Raw)
	}
}

func TestV2NoData(t *testing.T) {
	for name, response := range map[string]string{
		"empty values": `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"query","type":"number","values":[],"meta":{"unit":null}}]}}}`,
		"null value":   `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"query","type":"number","values":[null],"meta":{"unit":null}}]}}}`,
		"no columns":   `{"data":{"type":"scalar_response","attributes":{"columns":[]}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, response)
			}))
			defer srv.Close()
			v, err := newProvider(Options{}).Query(context.Background(), request(v1alpha1.DatadogMetric{
				ApiVersion: "v2", Query: "sum:requests.error.rate{service:checkout}",
			}, defaultSecrets(srv.URL)))
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if v.Result != nil || v.Raw != "[]" {
				t.Errorf("value = %#v / %q, want nil / []", v.Result, v.Raw)
			}
		})
	}
}

func TestV2Grouped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"data":{"type":"scalar_response","attributes":{"columns":[
  {"name":"resource_name","type":"group","values":[["GET /cart"],["POST /checkout"],["GET /health"]]},
  {"name":"query","type":"number","values":[0.01,0.2,null],"meta":{"unit":null}}]}}}`)
	}))
	defer srv.Close()
	v, err := newProvider(Options{}).Query(context.Background(), request(v1alpha1.DatadogMetric{
		ApiVersion: "v2", Query: "sum:trace.http.request.errors{service:checkout} by {resource_name}.as_count()",
	}, defaultSecrets(srv.URL)))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if !reflect.DeepEqual(v.Result, []float64{0.01, 0.2}) || v.Raw != "[0.01,0.2]" {
		t.Errorf("value = %#v / %q", v.Result, v.Raw)
	}
	if want := `[{"name":"GET /cart","value":0.01},{"name":"POST /checkout","value":0.2}]`; v.Metadata["groups"] != want {
		t.Errorf("groups = %s, want %s", v.Metadata["groups"], want)
	}
}

func TestSecretRef(t *testing.T) {
	const otherAPI, otherApp = "11111111111111111111111111111111", "2222222222222222222222222222222222222222"
	for _, tc := range []struct {
		name string
		ref  v1alpha1.SecretRef
		ns   string
	}{
		{"namespaced", v1alpha1.SecretRef{Name: "dd-team", Namespaced: true}, runNS},
		{"named in controller namespace", v1alpha1.SecretRef{Name: "dd-team"}, controllerNS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				checkKeys(t, r, otherAPI, otherApp)
				_, _ = io.WriteString(w, `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"query","type":"number","values":[3]}]}}}`)
			}))
			defer srv.Close()
			// The default Secret exists too, with other keys, to prove the
			// reference wins.
			secrets := defaultSecrets("http://127.0.0.1:1")
			secrets[tc.ns+"/dd-team/address"] = srv.URL + "/"
			secrets[tc.ns+"/dd-team/api-key"] = otherAPI + "\n"
			secrets[tc.ns+"/dd-team/app-key"] = otherApp
			v, err := newProvider(Options{}).Query(context.Background(), request(v1alpha1.DatadogMetric{
				ApiVersion: "v2", Query: "max:kubernetes.containers.restarts{service:checkout}", SecretRef: tc.ref,
			}, secrets))
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if v.Result != 3.0 {
				t.Errorf("result = %#v, want 3", v.Result)
			}
		})
	}
}

func TestDefaultAddress(t *testing.T) {
	var got *http.Request
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"status":"ok","series":[]}`)), Header: http.Header{}}, nil
	})}
	secrets := fakeSecrets{
		controllerNS + "/datadog/api-key": apiKey,
		controllerNS + "/datadog/app-key": appKey,
	}
	if _, err := newProvider(Options{HTTPClient: client}).Query(context.Background(), request(v1alpha1.DatadogMetric{Query: "avg:system.load.1{*}"}, secrets)); err != nil {
		t.Fatalf("Query: %v", err)
	}
	if got == nil || got.URL.Scheme+"://"+got.URL.Host != DefaultAddress {
		t.Errorf("request went to %v, want %s", got.URL, DefaultAddress)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestMissingSecret(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Store(true) }))
	defer srv.Close()

	for _, tc := range []struct {
		name    string
		secrets fakeSecrets
		ref     v1alpha1.SecretRef
		want    string
	}{
		{"no default secret", fakeSecrets{}, v1alpha1.SecretRef{}, `reading key "api-key" of Secret kanaria-system/datadog`},
		{"no app key", fakeSecrets{controllerNS + "/datadog/api-key": apiKey}, v1alpha1.SecretRef{}, `reading key "app-key" of Secret kanaria-system/datadog`},
		{"empty api key", fakeSecrets{controllerNS + "/datadog/api-key": " ", controllerNS + "/datadog/app-key": appKey}, v1alpha1.SecretRef{}, `key "api-key" of Secret kanaria-system/datadog is empty`},
		{"namespaced secret missing", defaultSecrets(srv.URL), v1alpha1.SecretRef{Name: "dd", Namespaced: true}, `reading key "api-key" of Secret shop/dd`},
		{"namespaced without name", defaultSecrets(srv.URL), v1alpha1.SecretRef{Namespaced: true}, "secretRef.namespaced needs secretRef.name"},
		{"bad address", fakeSecrets{controllerNS + "/datadog/api-key": apiKey, controllerNS + "/datadog/app-key": appKey, controllerNS + "/datadog/address": "api.datadoghq.eu"}, v1alpha1.SecretRef{}, `address "api.datadoghq.eu" is not an http(s) URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newProvider(Options{}).Query(context.Background(), request(v1alpha1.DatadogMetric{Query: "avg:system.load.1{*}", SecretRef: tc.ref}, tc.secrets))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), appKey) {
				t.Errorf("error leaks a key: %v", err)
			}
		})
	}
	if called.Load() {
		t.Error("a request was sent without credentials")
	}
}

func TestHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		headers map[string]string
		body    string
		want    []string
	}{
		{"forbidden", 403, nil, `{"errors":["Forbidden"]}`, []string{"POST /api/v2/query/scalar", "HTTP 403", "Forbidden", "rejected the API or application key"}},
		{"rate limited", 429, map[string]string{"X-RateLimit-Limit": "100", "X-RateLimit-Period": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "17", "X-RateLimit-Name": "query_scalar_public"}, `{"errors":["Too many requests"]}`, []string{"rate limited", "HTTP 429", "resets in 17s", "Too many requests"}},
		{"bad query", 400, nil, `{"errors":["Error parsing query: unable to parse sum:requests{: Rule 'scope_expr' didn't match"]}`, []string{"HTTP 400", "Error parsing query"}},
		{"proxy page", 502, nil, `<html><body>Bad Gateway</body></html>`, []string{"HTTP 502"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.headers {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			before := requestCount(t, "error")
			_, err := newProvider(Options{}).Query(context.Background(), request(v1alpha1.DatadogMetric{ApiVersion: "v2", Query: "sum:requests{service:checkout}"}, defaultSecrets(srv.URL)))
			if err == nil {
				t.Fatal("Query succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "<html>") || strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), appKey) {
				t.Errorf("error carries noise or a key: %v", err)
			}
			if got := requestCount(t, "error") - before; got != 1 {
				t.Errorf("observed %v failed requests, want 1", got)
			}
		})
	}
}

func TestKeysRedactedFromEchoedErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprintf(w, `{"errors":["invalid key %s"]}`, r.Header.Get("DD-API-KEY"))
	}))
	defer srv.Close()
	_, err := newProvider(Options{}).Query(context.Background(), request(v1alpha1.DatadogMetric{Query: "avg:system.load.1{*}"}, defaultSecrets(srv.URL)))
	if err == nil || strings.Contains(err.Error(), apiKey) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error = %v, want the key redacted", err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	start := time.Now()
	_, err := newProvider(Options{Timeout: 50 * time.Millisecond}).Query(context.Background(), request(v1alpha1.DatadogMetric{ApiVersion: "v2", Query: "avg:system.load.1{*}"}, defaultSecrets(srv.URL)))
	if err == nil || !strings.Contains(err.Error(), "timed out after 50ms") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want a timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Query took %s", elapsed)
	}
}

func TestDefaultTimeout(t *testing.T) {
	if p := New(Options{}); p.timeout != 30*time.Second {
		t.Errorf("default timeout = %s, want 30s", p.timeout)
	}
}

func TestInvalidMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		dd   v1alpha1.DatadogMetric
		want string
	}{
		{"nothing to query", v1alpha1.DatadogMetric{}, "set query or queries"},
		{"both", v1alpha1.DatadogMetric{ApiVersion: "v2", Query: "a", Queries: map[string]string{"a": "b"}}, "not both"},
		{"v1 queries", v1alpha1.DatadogMetric{Queries: map[string]string{"a": "b"}}, "v1 supports only query"},
		{"v1 aggregator", v1alpha1.DatadogMetric{Query: "a", Aggregator: "sum"}, "aggregator needs apiVersion v2"},
		{"formula without queries", v1alpha1.DatadogMetric{ApiVersion: "v2", Query: "a", Formula: "a"}, "formula needs queries"},
		{"queries without formula", v1alpha1.DatadogMetric{ApiVersion: "v2", Queries: map[string]string{"a": "x", "b": "y"}}, "need a formula"},
		{"bad version", v1alpha1.DatadogMetric{ApiVersion: "v3", Query: "a"}, `apiVersion "v3"`},
		{"bad interval", v1alpha1.DatadogMetric{Query: "a", Interval: "5"}, `invalid interval "5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := requestCount(t, "error") + requestCount(t, "success")
			_, err := newProvider(Options{}).Query(context.Background(), request(tc.dd, defaultSecrets("http://127.0.0.1:1")))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if after := requestCount(t, "error") + requestCount(t, "success"); after != before {
				t.Error("an invalid metric was observed as a request")
			}
		})
	}
}

// errorRateTemplate is the AnalysisTemplate of
// /work/shared/fixtures/seeds/canary-workloadref-hpa-datadog.yaml, kept
// here so the test runs without the shared tree.
const errorRateTemplate = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  args:
    - name: service
  metrics:
    - name: error-rate
      interval: 30s
      failureLimit: 1
      successCondition: default(result, 0) < 0.05
      provider:
        datadog:
          apiVersion: v2
          interval: 5m
          query: |
            sum:trace.http.request.errors{service:{{args.service}}}.as_count() / sum:trace.http.request.hits{service:{{args.service}}}.as_count()
`

const fixturePath = "/work/shared/fixtures/seeds/canary-workloadref-hpa-datadog.yaml"

func TestSeedErrorRateTemplate(t *testing.T) {
	var tmpl v1alpha1.AnalysisTemplate
	if err := yaml.UnmarshalStrict([]byte(errorRateTemplate), &tmpl); err != nil {
		t.Fatalf("parsing template: %v", err)
	}
	// Guard against the copy drifting from the seed when the seed is there.
	if raw, err := os.ReadFile(fixturePath); err == nil {
		found := false
		for _, doc := range strings.Split(string(raw), "\n---\n") {
			if !strings.Contains(doc, "kind: AnalysisTemplate") {
				continue
			}
			var seed v1alpha1.AnalysisTemplate
			if err := yaml.Unmarshal([]byte(doc), &seed); err != nil {
				t.Fatalf("parsing seed: %v", err)
			}
			if !reflect.DeepEqual(seed, tmpl) {
				t.Fatalf("seed template differs from the test's copy:\n%+v\n%+v", seed, tmpl)
			}
			found = true
		}
		if !found {
			t.Fatalf("%s has no AnalysisTemplate", fixturePath)
		}
	}

	metric := tmpl.Spec.Metrics[0]
	metric.Provider.Datadog.Query = strings.ReplaceAll(metric.Provider.Datadog.Query, "{{args.service}}", "measure-api")

	// The YAML block scalar keeps its final newline, and it is sent as
	// written, as upstream does.
	want := `{"data":{"type":"scalar_request","attributes":{"from":1741944113000,"to":1741944413000,"queries":[{"data_source":"metrics","query":"sum:trace.http.request.errors{service:measure-api}.as_count() / sum:trace.http.request.hits{service:measure-api}.as_count()\n","name":"query","aggregator":"last"}],"formulas":[]}}}`
	srv := v2Server(t, want, `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"query","type":"number","values":[0.0123],"meta":{"unit":null}}]}}}`)

	v, err := newProvider(Options{}).Query(context.Background(), metricproviders.Request{
		Namespace: "default",
		RunName:   "measure-api-6b7c9-2-1",
		Metric:    metric,
		Secrets:   defaultSecrets(srv.URL),
	})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if v.Result != 0.0123 {
		t.Errorf("result = %#v, want 0.0123", v.Result)
	}
}
