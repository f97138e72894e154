package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

const secretToken = "s3cr3t-token-value"

// request builds a measurement request for a web metric.
func request(web v1alpha1.WebMetric) metricproviders.Request {
	return metricproviders.Request{
		Namespace: "default",
		RunName:   "run",
		Metric: v1alpha1.Metric{
			Name:     "webmetric",
			Provider: v1alpha1.MetricProvider{Web: &web},
		},
	}
}

// jsonServer answers every request with body and counts the requests.
func jsonServer(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestGetSendsExactRequestAndDecidesConditions(t *testing.T) {
	var gotMethod, gotAuth, gotCustom, gotHost, gotPath, gotQuery, gotContentType string
	var gotBody []byte
	payload := `{"data":{"ok":true,"successPercent":0.95}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotPath, gotQuery = r.Method, r.URL.Path, r.URL.RawQuery
		gotAuth, gotCustom, gotHost = r.Header.Get("Authorization"), r.Header.Get("X-Custom"), r.Host
		gotContentType = r.Header.Get("Content-Type")
		gotBody, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, payload)
	}))
	defer srv.Close()

	p := New(Options{})
	v, err := p.Query(context.Background(), request(v1alpha1.WebMetric{
		URL: srv.URL + "/api/v1/measurement?service=canary",
		Headers: []v1alpha1.WebMetricHeader{
			{Key: "Authorization", Value: "Bearer " + secretToken},
			{Key: "X-Custom", Value: "one"},
			{Key: "Host", Value: "metrics.example"},
		},
		JSONPath: "{$.data}",
	}))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if gotMethod != http.MethodGet || gotPath != "/api/v1/measurement" || gotQuery != "service=canary" {
		t.Errorf("request = %s %s?%s, want GET /api/v1/measurement?service=canary", gotMethod, gotPath, gotQuery)
	}
	if gotAuth != "Bearer "+secretToken || gotCustom != "one" || gotHost != "metrics.example" {
		t.Errorf("headers: Authorization=%q X-Custom=%q Host=%q", gotAuth, gotCustom, gotHost)
	}
	if len(gotBody) != 0 || gotContentType != "" {
		t.Errorf("GET carried body %q with Content-Type %q, want none", gotBody, gotContentType)
	}
	want := map[string]any{"ok": true, "successPercent": 0.95}
	if !reflect.DeepEqual(v.Result, want) {
		t.Errorf("Result = %#v, want %#v", v.Result, want)
	}
	if v.Raw != `{"ok":true,"successPercent":0.95}` {
		t.Errorf("Raw = %s", v.Raw)
	}

	phase, err := condition.NewEvaluator().Evaluate("result.ok && result.successPercent >= 0.90", "", v.Result)
	if err != nil || phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("condition = %s, %v; want Successful", phase, err)
	}
}

func TestConditionOutcomes(t *testing.T) {
	e := condition.NewEvaluator()
	tests := []struct {
		name    string
		payload string
		success string
		failure string
		want    v1alpha1.AnalysisPhase
	}{
		{name: "ok true succeeds", payload: `{"ok":true}`, success: "result.ok == true", want: v1alpha1.AnalysisPhaseSuccessful},
		{name: "ok false fails", payload: `{"ok":false}`, success: "result.ok == true", want: v1alpha1.AnalysisPhaseFailed},
		{
			name: "between thresholds is inconclusive", payload: `{"rate":0.7}`,
			success: "result.rate >= 0.9", failure: "result.rate < 0.5",
			want: v1alpha1.AnalysisPhaseInconclusive,
		},
		{name: "string number via asFloat", payload: `{"rate":"0.97"}`, success: "asFloat(result.rate) >= 0.9", want: v1alpha1.AnalysisPhaseSuccessful},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := jsonServer(t, http.StatusOK, tc.payload)
			v, err := New(Options{}).Query(context.Background(), request(v1alpha1.WebMetric{URL: srv.URL}))
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			got, err := e.Evaluate(tc.success, tc.failure, v.Result)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if got != tc.want {
				t.Errorf("phase = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestJSONPathSelection(t *testing.T) {
	payload := `{"data":{"ok":true,"name":"canary","nothing":null},
		"items":[{"v":1},{"v":2},{"v":3}],"matrix":[[1,2],[3,4]]}`
	tests := []struct {
		path    string
		want    any
		raw     string
		wantErr string
	}{
		{path: "{$.data.ok}", want: true, raw: "true"},
		{path: "{.data.name}", want: "canary", raw: `"canary"`},
		{path: "{$.data.nothing}", want: nil, raw: "null"},
		{path: "{$.items[1].v}", want: 2.0, raw: "2"},
		{path: "{$.items[-1:].v}", want: 3.0, raw: "3"},
		{path: "{$.items[*].v}", want: []any{1.0, 2.0, 3.0}, raw: "[1,2,3]"},
		{path: "{$.items[0]}", want: map[string]any{"v": 1.0}, raw: `{"v":1}`},
		{path: "{$.matrix[1]}", want: []any{3.0, 4.0}, raw: "[3,4]"},
		{path: "{$.matrix[0][1]}", want: 2.0, raw: "2"},
		{path: "{$.data.missing}", wantErr: `applying jsonPath "{$.data.missing}"`},
		{path: "{$.items[?(@.v > 1.5)].v}", want: []any{2.0, 3.0}, raw: "[2,3]"},
		{path: "{$.items[?(@.v > 5.0)].v}", wantErr: "selected no value"},
		{path: "{$.data.ok", wantErr: `invalid jsonPath "{$.data.ok"`},
	}
	srv, _ := jsonServer(t, http.StatusOK, payload)
	p := New(Options{})
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			v, err := p.Query(context.Background(), request(v1alpha1.WebMetric{URL: srv.URL, JSONPath: tc.path}))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if !reflect.DeepEqual(v.Result, tc.want) {
				t.Errorf("Result = %#v, want %#v", v.Result, tc.want)
			}
			if v.Raw != tc.raw {
				t.Errorf("Raw = %s, want %s", v.Raw, tc.raw)
			}
		})
	}
}

func TestWholeBodyAndNonJSON(t *testing.T) {
	tests := []struct {
		name, body, path string
		want             any
		raw, wantErr     string
	}{
		{name: "default path is the whole document", body: `{"a":[1,"x"]}`, want: map[string]any{"a": []any{1.0, "x"}}, raw: `{"a":[1,"x"]}`},
		{name: "top-level number", body: `0.42`, want: 0.42, raw: "0.42"},
		{name: "top-level null", body: `null`, want: nil, raw: "null"},
		{name: "plain text is a string", body: "healthy\n", want: "healthy\n", raw: "healthy\n"},
		{name: "plain text with a jsonPath", body: "healthy", path: "{$.ok}", wantErr: "response is not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := jsonServer(t, http.StatusOK, tc.body)
			v, err := New(Options{}).Query(context.Background(), request(v1alpha1.WebMetric{URL: srv.URL, JSONPath: tc.path}))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if !reflect.DeepEqual(v.Result, tc.want) || v.Raw != tc.raw {
				t.Errorf("got (%#v, %q), want (%#v, %q)", v.Result, v.Raw, tc.want, tc.raw)
			}
		})
	}
}

func TestPostJSONBody(t *testing.T) {
	var gotMethod, gotContentType, gotAuth string
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotContentType, gotAuth = r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		gotBody, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `{"data":{"ok":true}}`)
	}))
	defer srv.Close()

	v, err := New(Options{}).Query(context.Background(), request(v1alpha1.WebMetric{
		Method: v1alpha1.WebMetricMethodPost,
		URL:    srv.URL,
		Headers: []v1alpha1.WebMetricHeader{
			{Key: "Content-Type", Value: "text/plain"},
			{Key: "Authorization", Value: "Bearer x"},
		},
		JSONBody: json.RawMessage(`{ "key1": "value_1", "key2": { "nestedObj": "nested value" } }`),
		JSONPath: "{$.data.ok}",
	}))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if gotMethod != http.MethodPost {
		t.Errorf("method = %s, want POST", gotMethod)
	}
	if gotContentType != "application/json" {
		t.Errorf("Content-Type = %q, want application/json (jsonBody overrides headers)", gotContentType)
	}
	if gotAuth != "Bearer x" {
		t.Errorf("Authorization = %q", gotAuth)
	}
	if string(gotBody) != `{"key1":"value_1","key2":{"nestedObj":"nested value"}}` {
		t.Errorf("body = %s", gotBody)
	}
	if v.Result != true {
		t.Errorf("Result = %#v, want true", v.Result)
	}
}

func TestPutStringBody(t *testing.T) {
	var gotMethod, gotContentType string
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotContentType = r.Method, r.Header.Get("Content-Type")
		gotBody, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `true`)
	}))
	defer srv.Close()

	_, err := New(Options{}).Query(context.Background(), request(v1alpha1.WebMetric{
		Method:  v1alpha1.WebMetricMethodPut,
		URL:     srv.URL,
		Headers: []v1alpha1.WebMetricHeader{{Key: "Content-Type", Value: "text/plain"}},
		Body:    "string value",
	}))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if gotMethod != http.MethodPut || gotContentType != "text/plain" || string(gotBody) != "string value" {
		t.Errorf("request = %s %q %q", gotMethod, gotContentType, gotBody)
	}
}

func TestNon2xxIsAnErrorWithoutSecrets(t *testing.T) {
	srv, _ := jsonServer(t, http.StatusServiceUnavailable, `{"error":"down"}`)
	_, err := New(Options{}).Query(context.Background(), request(v1alpha1.WebMetric{
		URL:     srv.URL + "/health?token=" + secretToken,
		Headers: []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer " + secretToken}},
	}))
	if err == nil {
		t.Fatal("Query succeeded on a 503")
	}
	if !strings.Contains(err.Error(), "received non-2xx response code: 503 Service Unavailable") {
		t.Errorf("error = %q, want the status code", err)
	}
	if !strings.Contains(err.Error(), "GET "+srv.URL+"/health") {
		t.Errorf("error = %q, want the endpoint named", err)
	}
	if strings.Contains(err.Error(), secretToken) {
		t.Errorf("error leaks a secret: %q", err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, `true`)
	}))
	defer srv.Close()
	defer close(release)

	start := time.Now()
	_, err := New(Options{}).Query(context.Background(), request(v1alpha1.WebMetric{URL: srv.URL, TimeoutSeconds: 1}))
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Query succeeded past its timeout")
	}
	if !strings.Contains(err.Error(), "timed out after 1s") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %q, want a timeout", err)
	}
	if elapsed > 2500*time.Millisecond {
		t.Errorf("Query took %s, want about 1s", elapsed)
	}
}

func TestDefaultTimeoutAndCancellation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()

	_, err := New(Options{DefaultTimeout: 100 * time.Millisecond}).Query(context.Background(), request(v1alpha1.WebMetric{URL: srv.URL}))
	if err == nil || !strings.Contains(err.Error(), "timed out after 100ms") {
		t.Errorf("error = %v, want the default timeout to apply", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = New(Options{}).Query(ctx, request(v1alpha1.WebMetric{URL: srv.URL}))
	if err == nil || !strings.Contains(err.Error(), "cancelled") || !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want cancellation", err)
	}
}

func TestInsecureTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	p := New(Options{})

	_, err := p.Query(context.Background(), request(v1alpha1.WebMetric{URL: srv.URL}))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("error = %v, want a certificate verification error", err)
	}
	v, err := p.Query(context.Background(), request(v1alpha1.WebMetric{URL: srv.URL, Insecure: true, JSONPath: "{$.ok}"}))
	if err != nil {
		t.Fatalf("insecure Query: %v", err)
	}
	if v.Result != true {
		t.Errorf("Result = %#v, want true", v.Result)
	}
	// The shared client must stay strict after an insecure request.
	if _, err := p.Query(context.Background(), request(v1alpha1.WebMetric{URL: srv.URL})); err == nil {
		t.Error("secure Query succeeded against an untrusted certificate after an insecure one")
	}
}

func TestInvalidMetricsSendNothing(t *testing.T) {
	srv, calls := jsonServer(t, http.StatusOK, `true`)
	tests := []struct {
		name    string
		web     v1alpha1.WebMetric
		wantErr string
	}{
		{name: "body on GET", web: v1alpha1.WebMetric{URL: srv.URL, Body: "x"}, wantErr: "only be used with POST or PUT"},
		{name: "jsonBody on GET", web: v1alpha1.WebMetric{URL: srv.URL, JSONBody: json.RawMessage(`{}`)}, wantErr: "only be used with POST or PUT"},
		{name: "both bodies", web: v1alpha1.WebMetric{URL: srv.URL, Method: "POST", Body: "x", JSONBody: json.RawMessage(`{}`)}, wantErr: "both body and jsonBody"},
		{name: "invalid jsonBody", web: v1alpha1.WebMetric{URL: srv.URL, Method: "POST", JSONBody: json.RawMessage(`{`)}, wantErr: "jsonBody is not valid JSON"},
		{name: "bad method", web: v1alpha1.WebMetric{URL: srv.URL, Method: "DELETE"}, wantErr: `unsupported web method "DELETE"`},
		{name: "empty url", web: v1alpha1.WebMetric{}, wantErr: "url is empty"},
		{name: "relative url", web: v1alpha1.WebMetric{URL: "/metrics"}, wantErr: "must use http or https"},
		{name: "sigv4", web: v1alpha1.WebMetric{URL: srv.URL, Authentication: v1alpha1.Authentication{Sigv4: v1alpha1.Sigv4Config{Region: "us-east-1"}}}, wantErr: "sigv4 is not supported"},
		{name: "oauth2 without token url", web: v1alpha1.WebMetric{URL: srv.URL, Authentication: v1alpha1.Authentication{OAuth2: v1alpha1.OAuth2Config{ClientID: "id"}}}, wantErr: "needs tokenUrl and clientId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{}).Query(context.Background(), request(tc.web))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("server received %d requests, want none", n)
	}

	_, err := New(Options{}).Query(context.Background(), metricproviders.Request{Metric: v1alpha1.Metric{Name: "m"}})
	if err == nil || !strings.Contains(err.Error(), `metric "m" has no web provider`) {
		t.Errorf("error = %v, want a missing-provider error", err)
	}
}

func TestOAuth2ClientCredentials(t *testing.T) {
	const clientSecret = "client-secret-value"
	var tokenCalls atomic.Int32
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		if err := r.ParseForm(); err != nil {
			t.Errorf("token request form: %v", err)
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" ||
			r.PostForm.Get("scope") != "metrics.read other" {
			t.Errorf("token request = %s %v", r.Method, r.PostForm)
		}
		if id != "kanaria" || secret != clientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"tok-123","token_type":"Bearer","expires_in":3600}`)
	}))
	defer tokenSrv.Close()

	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()

	metric := v1alpha1.WebMetric{
		URL:      srv.URL,
		JSONPath: "{$.ok}",
		Authentication: v1alpha1.Authentication{OAuth2: v1alpha1.OAuth2Config{
			TokenURL: tokenSrv.URL, ClientID: "kanaria", ClientSecret: clientSecret,
			Scopes: []string{"metrics.read", "other"},
		}},
	}
	v, err := New(Options{}).Query(context.Background(), request(metric))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if gotAuth != "Bearer tok-123" || v.Result != true {
		t.Errorf("Authorization = %q, Result = %#v", gotAuth, v.Result)
	}

	metric.Authentication.OAuth2.ClientSecret = "wrong-" + clientSecret
	_, err = New(Options{}).Query(context.Background(), request(metric))
	if err == nil || !strings.Contains(err.Error(), "fetching OAuth2 token") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("error = %v, want a token error with the status", err)
	}
	if strings.Contains(err.Error(), clientSecret) || strings.Contains(err.Error(), "\n") {
		t.Errorf("token error leaks the secret or spans lines: %q", err)
	}
}

func TestObserveOncePerRequest(t *testing.T) {
	ok, _ := jsonServer(t, http.StatusOK, `true`)
	bad, _ := jsonServer(t, http.StatusInternalServerError, `{}`)
	p := New(Options{})

	before := map[string]float64{"success": requestCount(t, "success"), "error": requestCount(t, "error")}
	_, _ = p.Query(context.Background(), request(v1alpha1.WebMetric{URL: ok.URL}))
	_, _ = p.Query(context.Background(), request(v1alpha1.WebMetric{URL: bad.URL}))
	_, _ = p.Query(context.Background(), request(v1alpha1.WebMetric{URL: ok.URL, Body: "not sent"}))

	if d := requestCount(t, "success") - before["success"]; d != 1 {
		t.Errorf("success requests observed = %v, want 1", d)
	}
	if d := requestCount(t, "error") - before["error"]; d != 1 {
		t.Errorf("error requests observed = %v, want 1 (invalid metrics send nothing)", d)
	}
}

// requestCount reads kanaria_metric_provider_requests_total for this
// provider and outcome from the controller's registry.
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
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == Name && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
