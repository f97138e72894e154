package prometheus

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// fixedNow is the clock of every unit test, so the `time` parameter and
// range boundaries are known exactly.
var fixedNow = time.Unix(1700000000, 0)

// seen is one request the fake server received.
type seen struct {
	method, path, contentType string
	form                      map[string][]string
	header                    http.Header
	host                      string
}

// fakeServer records requests and answers each with reply.
type fakeServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newFake(t *testing.T, tls bool, reply http.HandlerFunc) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parsing form: %v", err)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{
			method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
			form: r.Form, header: r.Header.Clone(), host: r.Host,
		})
		f.mu.Unlock()
		reply(w, r)
	})
	if tls {
		f.Server = httptest.NewTLSServer(h)
	} else {
		f.Server = httptest.NewServer(h)
	}
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// respond returns a handler that writes body with status code.
func respond(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

const vector099 = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1700000000,"0.99"]}]}}`

func metric(address, query string, mods ...func(*v1alpha1.PrometheusMetric)) metricproviders.Request {
	pm := &v1alpha1.PrometheusMetric{Address: address, Query: query}
	for _, m := range mods {
		m(pm)
	}
	return metricproviders.Request{
		Namespace: "ns", RunName: "run",
		Metric: v1alpha1.Metric{Name: "success-rate", Provider: v1alpha1.MetricProvider{Prometheus: pm}},
	}
}

func newProvider() *Provider {
	return New(Options{Now: func() time.Time { return fixedNow }, DefaultAddress: "-"})
}

// isolateAWS keeps the developer's own AWS files and instance metadata out
// of the tests.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDKANARIATEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "kanaria-test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
}

func TestInstantQuerySendsExpectedRequest(t *testing.T) {
	srv := newFake(t, false, respond(200, vector099))
	timeout := int64(5)
	req := metric(srv.URL+"/prom/", `sum(rate(x[1m]))`, func(pm *v1alpha1.PrometheusMetric) {
		pm.Timeout = &timeout
		pm.Headers = []v1alpha1.WebMetricHeader{{Key: "X-Scope-OrgID", Value: "tenant_a"}, {Key: "Authorization", Value: "Bearer abc"}}
	})

	v, err := newProvider().Query(context.Background(), req)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/prom/api/v1/query" || r.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("request = %s %s (%s), want POST /prom/api/v1/query form-encoded", r.method, r.path, r.contentType)
	}
	if got := r.form["query"]; len(got) != 1 || got[0] != `sum(rate(x[1m]))` {
		t.Errorf("query = %q", got)
	}
	if got := r.form["time"]; len(got) != 1 || got[0] != "1700000000" {
		t.Errorf("time = %q, want the provider clock 1700000000", got)
	}
	if r.header.Get("X-Scope-OrgID") != "tenant_a" || r.header.Get("Authorization") != "Bearer abc" {
		t.Errorf("custom headers missing: %v", r.header)
	}
	if !reflect.DeepEqual(v.Result, []float64{0.99}) || v.Raw != "[0.99]" {
		t.Errorf("value = %#v %q, want []float64{0.99} \"[0.99]\"", v.Result, v.Raw)
	}
	if v.Metadata[MetadataResolvedQuery] != `sum(rate(x[1m]))` {
		t.Errorf("metadata = %v", v.Metadata)
	}
}

func TestFallsBackToGETWhenPOSTIsRefused(t *testing.T) {
	srv := newFake(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		respond(200, vector099)(w, r)
	})
	v, err := newProvider().Query(context.Background(), metric(srv.URL, "up"))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 || reqs[1].method != http.MethodGet || reqs[1].form["query"][0] != "up" || reqs[1].form["time"][0] != "1700000000" {
		t.Fatalf("requests = %+v, want POST then GET with query and time", reqs)
	}
	if v.Raw != "[0.99]" {
		t.Errorf("raw = %q", v.Raw)
	}
}

func TestResultConversion(t *testing.T) {
	data := func(resultType, result string) string {
		return `{"status":"success","data":{"resultType":"` + resultType + `","result":` + result + `}}`
	}
	nan := math.NaN()
	tests := []struct {
		name    string
		body    string
		want    any
		raw     string
		wantErr string
	}{
		{name: "scalar", body: data("scalar", `[1700000000,"0.5"]`), want: 0.5, raw: "0.5"},
		{name: "scalar NaN", body: data("scalar", `[1700000000,"NaN"]`), want: nan, raw: "NaN"},
		{name: "vector", body: data("vector", `[{"metric":{"a":"1"},"value":[1,"0.25"]},{"metric":{"a":"2"},"value":[1,"3"]}]`), want: []float64{0.25, 3}, raw: "[0.25,3]"},
		{name: "empty vector", body: data("vector", `[]`), want: []float64{}, raw: "[]"},
		{name: "vector NaN and Inf", body: data("vector", `[{"metric":{},"value":[1,"NaN"]},{"metric":{},"value":[1,"+Inf"]}]`), want: []float64{nan, math.Inf(1)}, raw: "[NaN,+Inf]"},
		{name: "matrix", body: data("matrix", `[{"metric":{"a":"1"},"values":[[1,"11"],[2,"12"]]},{"metric":{"a":"2"},"values":[[1,"13"],[2,"14"]]}]`), want: []float64{11, 12, 13, 14}, raw: "[11,12,13,14]"},
		{name: "empty matrix", body: data("matrix", `[]`), want: []float64{}, raw: "[]"},
		// Upstream cannot evaluate string results either.
		{name: "string", body: data("string", `[1,"hello"]`), wantErr: `"string"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, false, respond(200, tt.body))
			v, err := newProvider().Query(context.Background(), metric(srv.URL, "q"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), srv.URL) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, srv.URL, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if !sameResult(v.Result, tt.want) {
				t.Errorf("result = %#v, want %#v", v.Result, tt.want)
			}
			if v.Raw != tt.raw {
				t.Errorf("raw = %q, want %q", v.Raw, tt.raw)
			}
		})
	}
}

// sameResult compares results treating NaN as equal to NaN and an empty
// slice as different from nil (conditions such as len(result) == 0 need
// the slice).
func sameResult(got, want any) bool {
	eq := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		return ok && eq(g, w)
	case []float64:
		g, ok := got.([]float64)
		if !ok || g == nil || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !eq(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func TestWarningsAreRecorded(t *testing.T) {
	srv := newFake(t, false, respond(200, `{"status":"success","warnings":["partial response","slow"],"data":{"resultType":"vector","result":[]}}`))
	v, err := newProvider().Query(context.Background(), metric(srv.URL, "q"))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if got := v.Metadata[MetadataWarnings]; got != `"partial response", "slow"` {
		t.Errorf("warnings = %q", got)
	}
}

func TestRangeQuery(t *testing.T) {
	srv := newFake(t, false, respond(200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}`))
	req := metric(srv.URL, "http_latency_ms", func(pm *v1alpha1.PrometheusMetric) {
		pm.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("1h")`, End: "now()", Step: "1m"}
	})
	v, err := newProvider().Query(context.Background(), req)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	r := srv.requests()[0]
	if r.method != http.MethodPost || r.path != "/api/v1/query_range" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	want := map[string]string{"query": "http_latency_ms", "start": "1699996400", "end": "1700000000", "step": "60"}
	for k, w := range want {
		if got := r.form[k]; len(got) != 1 || got[0] != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
	if !reflect.DeepEqual(v.Result, []float64{1, 2}) || v.Raw != "[1,2]" {
		t.Errorf("value = %#v %q", v.Result, v.Raw)
	}
}

func TestRangeQueryDateExpressionsAndPrometheusStep(t *testing.T) {
	srv := newFake(t, false, respond(200, `{"status":"success","data":{"resultType":"matrix","result":[]}}`))
	req := metric(srv.URL, "q", func(pm *v1alpha1.PrometheusMetric) {
		pm.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{
			Start: `date("2023-08-14 00:00:00", "2006-01-02 15:04:05", "UTC") - duration("1h")`,
			End:   `date("2023-08-14 00:00:00", "2006-01-02 15:04:05", "UTC")`,
			Step:  "1d",
		}
	})
	if _, err := newProvider().Query(context.Background(), req); err != nil {
		t.Fatalf("Query: %v", err)
	}
	r := srv.requests()[0]
	if r.form["start"][0] != "1691967600" || r.form["end"][0] != "1691971200" || r.form["step"][0] != "86400" {
		t.Errorf("start/end/step = %v %v %v", r.form["start"], r.form["end"], r.form["step"])
	}
}

func TestConfigurationErrorsSendNothing(t *testing.T) {
	srv := newFake(t, false, respond(200, vector099))
	neg := int64(-1)
	tests := []struct {
		name string
		req  metricproviders.Request
		want string
	}{
		{"bad start", metric(srv.URL, "q", func(pm *v1alpha1.PrometheusMetric) {
			pm.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("??")`, End: "now()", Step: "1m"}
		}), "failed to parse rangeQuery.start as time"},
		{"bad end", metric(srv.URL, "q", func(pm *v1alpha1.PrometheusMetric) {
			pm.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{Start: "now()", End: `"yesterday"`, Step: "1m"}
		}), "failed to parse rangeQuery.end as time"},
		{"bad step", metric(srv.URL, "q", func(pm *v1alpha1.PrometheusMetric) {
			pm.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{Start: "now()", Step: "??"}
		}), "failed to parse rangeQuery.step as duration"},
		{"negative timeout", metric(srv.URL, "q", func(pm *v1alpha1.PrometheusMetric) { pm.Timeout = &neg }), "timeout must not be negative"},
		{"empty query", metric(srv.URL, " "), "query is empty"},
		{"relative address", metric("prometheus:9090", "q"), "absolute http or https URL"},
		{"both auths", metric(srv.URL, "q", func(pm *v1alpha1.PrometheusMetric) {
			pm.Authentication.Sigv4.Region = "us-east-1"
			pm.Authentication.OAuth2.TokenURL = srv.URL + "/token"
		}), "either sigv4 or oauth2"},
		{"oauth2 without client id", metric(srv.URL, "q", func(pm *v1alpha1.PrometheusMetric) {
			pm.Authentication.OAuth2.TokenURL = srv.URL + "/token"
		}), "tokenUrl and clientId are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newProvider().Query(context.Background(), tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid configurations", n)
	}
}

func TestAddressFromEnvironment(t *testing.T) {
	srv := newFake(t, false, respond(200, vector099))
	t.Setenv(EnvAddress, srv.URL)
	p := New(Options{})
	if _, err := p.Query(context.Background(), metric("", "up")); err != nil {
		t.Fatalf("Query: %v", err)
	}
	t.Setenv(EnvAddress, "")
	_, err := New(Options{}).Query(context.Background(), metric("", "up"))
	if err == nil || !strings.Contains(err.Error(), EnvAddress) {
		t.Fatalf("err = %v, want one mentioning %s", err, EnvAddress)
	}
}

func TestPrometheusErrors(t *testing.T) {
	const secret = "Bearer very-secret-token"
	tests := []struct {
		name  string
		code  int
		body  string
		wants []string
	}{
		{"bad_data", 400, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`,
			[]string{"bad_data", "parse error: unexpected end of input"}},
		{"execution", 422, `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`,
			[]string{"execution", "many-to-many matching not allowed"}},
		{"timeout 503", 503, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`,
			[]string{"timeout", "query timed out in expression evaluation", "503"}},
		{"status error with 200", 200, `{"status":"error","errorType":"internal","error":"boom"}`,
			[]string{"internal", "boom"}},
		// A proxy that echoes the request must not leak the header.
		{"bad gateway", 502, `<html>upstream failed; you sent Authorization: ` + secret + `</html>`,
			[]string{"server_error", "502"}},
		{"not found", 404, `404 page not found`, []string{"client_error", "404"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, false, respond(tt.code, tt.body))
			req := metric(srv.URL, "q", func(pm *v1alpha1.PrometheusMetric) {
				pm.Headers = []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: secret}}
			})
			_, err := newProvider().Query(context.Background(), req)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.wants, srv.URL) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", err, w)
				}
			}
			t.Logf("error: %v", err)
			if strings.Contains(err.Error(), "very-secret-token") {
				t.Errorf("err leaks a header value: %q", err)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	srv := newFake(t, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	one := int64(1)
	start := time.Now()
	_, err := newProvider().Query(context.Background(), metric(srv.URL, "q", func(pm *v1alpha1.PrometheusMetric) { pm.Timeout = &one }))
	if err == nil || !strings.Contains(err.Error(), "timed out after 1s") || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("err = %v, want a timeout after 1s naming the server", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("query took %s despite a 1s timeout", d)
	}
}

func TestInsecureTLS(t *testing.T) {
	srv := newFake(t, true, respond(200, vector099))
	p := newProvider()
	if _, err := p.Query(context.Background(), metric(srv.URL, "up")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("verified TLS to a self-signed server: err = %v, want a certificate error", err)
	}
	v, err := p.Query(context.Background(), metric(srv.URL, "up", func(pm *v1alpha1.PrometheusMetric) { pm.Insecure = true }))
	if err != nil {
		t.Fatalf("insecure query: %v", err)
	}
	if v.Raw != "[0.99]" {
		t.Errorf("raw = %q", v.Raw)
	}
}

func TestSigV4SignsRequests(t *testing.T) {
	isolateAWS(t)
	srv := newFake(t, false, respond(200, vector099))
	req := metric(srv.URL, "up", func(pm *v1alpha1.PrometheusMetric) {
		pm.Authentication.Sigv4 = v1alpha1.Sigv4Config{Region: "eu-west-1"}
		pm.Headers = []v1alpha1.WebMetricHeader{{Key: "X-Scope-OrgID", Value: "tenant_a"}}
	})
	if _, err := newProvider().Query(context.Background(), req); err != nil {
		t.Fatalf("Query: %v", err)
	}
	r := srv.requests()[0]
	auth := r.header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDKANARIATEST/") || !strings.Contains(auth, "/eu-west-1/aps/aws4_request") {
		t.Errorf("Authorization = %q, want a SigV4 signature for aps in eu-west-1", auth)
	}
	if !strings.Contains(auth, "x-scope-orgid") {
		t.Errorf("Authorization = %q, want the custom header signed", auth)
	}
	if r.header.Get("X-Amz-Date") == "" {
		t.Error("X-Amz-Date missing")
	}
	// The body was hashed for signing; it must still reach the server.
	if r.form["query"][0] != "up" || r.form["time"][0] != "1700000000" {
		t.Errorf("form = %v", r.form)
	}
}

func TestSigV4ForWorkspaceAddressWithoutConfig(t *testing.T) {
	isolateAWS(t)
	srv := newFake(t, false, respond(200, vector099))
	// Route the workspace hostname to the fake server.
	dial := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dial.DialContext(ctx, network, srv.Listener.Addr().String())
	}}
	p := New(Options{Transport: transport, Now: func() time.Time { return fixedNow }})
	addr := "http://aps-workspaces.ap-southeast-2.amazonaws.com/workspaces/ws-1234"
	if _, err := p.Query(context.Background(), metric(addr, "up")); err != nil {
		t.Fatalf("Query: %v", err)
	}
	r := srv.requests()[0]
	if r.path != "/workspaces/ws-1234/api/v1/query" || r.host != "aps-workspaces.ap-southeast-2.amazonaws.com" {
		t.Errorf("request = %s %s", r.host, r.path)
	}
	if auth := r.header.Get("Authorization"); !strings.Contains(auth, "/ap-southeast-2/aps/aws4_request") {
		t.Errorf("Authorization = %q, want region taken from the workspace hostname", auth)
	}
}

func TestOAuth2ClientCredentials(t *testing.T) {
	var tokenCalls int
	var mu sync.Mutex
	srv := newFake(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			mu.Lock()
			tokenCalls++
			mu.Unlock()
			id, secret, ok := r.BasicAuth()
			if !ok {
				id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
			}
			if r.PostForm.Get("grant_type") != "client_credentials" || id != "kanaria" || secret != "oauth-client-secret" || r.PostForm.Get("scope") != "read metrics" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-123", "token_type": "Bearer", "expires_in": 3600})
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok-123" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		respond(200, vector099)(w, r)
	})
	req := metric(srv.URL, "up", func(pm *v1alpha1.PrometheusMetric) {
		pm.Authentication.OAuth2 = v1alpha1.OAuth2Config{TokenURL: srv.URL + "/token", ClientID: "kanaria", ClientSecret: "oauth-client-secret", Scopes: []string{"read", "metrics"}}
	})
	p := newProvider()
	for i := 0; i < 2; i++ {
		if _, err := p.Query(context.Background(), req); err != nil {
			t.Fatalf("Query %d: %v", i, err)
		}
	}
	mu.Lock()
	calls := tokenCalls
	mu.Unlock()
	if calls != 1 {
		t.Errorf("token endpoint called %d times, want 1 (token reused)", calls)
	}

	// A rejected secret must not show up in the error.
	bad := metric(srv.URL, "up", func(pm *v1alpha1.PrometheusMetric) {
		pm.Authentication.OAuth2 = v1alpha1.OAuth2Config{TokenURL: srv.URL + "/token", ClientID: "kanaria", ClientSecret: "wrong-secret-value"}
	})
	_, err := p.Query(context.Background(), bad)
	t.Logf("error: %v", err)
	if err == nil || strings.Contains(err.Error(), "wrong-secret-value") || !strings.Contains(err.Error(), "oauth2") {
		t.Errorf("err = %v, want an oauth2 error without the secret", err)
	}
}

func TestObservesOncePerRequest(t *testing.T) {
	ok := newFake(t, false, respond(200, vector099))
	failing := newFake(t, false, respond(500, "boom"))
	p := newProvider()
	before := map[string]float64{"success": requestsTotal(t, "success"), "error": requestsTotal(t, "error")}

	if _, err := p.Query(context.Background(), metric(ok.URL, "up")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Query(context.Background(), metric(failing.URL, "up")); err == nil {
		t.Fatal("want an error from a 500")
	}
	// Invalid configuration sends nothing and so records nothing.
	_, _ = p.Query(context.Background(), metric("not a url", "up"))

	if d := requestsTotal(t, "success") - before["success"]; d != 1 {
		t.Errorf("success requests += %v, want 1", d)
	}
	if d := requestsTotal(t, "error") - before["error"]; d != 1 {
		t.Errorf("error requests += %v, want 1", d)
	}
}

// requestsTotal reads this provider's request counter from the
// controller's registry.
func requestsTotal(t *testing.T, outcome string) float64 {
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
			if hasLabels(m, map[string]string{"provider": Name, "outcome": outcome}) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}
