package cloudmonitoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/gcpfake"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newCredential starts a token endpoint for a fresh service-account key
// and returns it with the key file.
func newCredential(t *testing.T) (*gcpfake.TokenServer, string) {
	t.Helper()
	ts := gcpfake.New(t, Scope)
	return ts, ts.Key
}

// seen is one request the Monitoring server received.
type seen struct {
	Method, Path, Auth, Body string
	Query                    url.Values
}

// apiServer is a local Cloud Monitoring API: it records each request and
// answers with the next of its scripted answers.
type apiServer struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []seen
	answers []answer
}

type answer struct {
	status int
	header map[string]string
	body   string
}

func newAPI(t *testing.T, answers ...answer) *apiServer {
	t.Helper()
	a := &apiServer{answers: answers}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.reqs = append(a.reqs, seen{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: string(body), Query: r.URL.Query()})
		if len(a.answers) == 0 {
			http.Error(w, "no answer scripted", http.StatusTeapot)
			return
		}
		ans := a.answers[0]
		a.answers = a.answers[1:]
		for k, v := range ans.header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		if ans.status != 0 {
			w.WriteHeader(ans.status)
		}
		// A careless backend echoes what it was sent.
		fmt.Fprint(w, strings.ReplaceAll(ans.body, "AUTH", r.Header.Get("Authorization")))
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *apiServer) requests() []seen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]seen(nil), a.reqs...)
}

type secrets map[string]string

func (s secrets) SecretValue(_ context.Context, ns, name, key string) (string, error) {
	v, ok := s[ns+"/"+name+"/"+key]
	if !ok {
		return "", fmt.Errorf("secret %s/%s has no key %s", ns, name, key)
	}
	return v, nil
}

func request(t *testing.T, cfg map[string]any, sec secrets) metricproviders.Request {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return metricproviders.Request{Namespace: "team", RunName: "run", Secrets: sec,
		Metric: v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{Name: raw}}}}
}

func provider(api *apiServer) *Provider {
	return New(Options{Endpoint: api.URL, Now: func() time.Time { return testNow }, Timeout: 5 * time.Second})
}

var keyRef = map[string]any{"secretRef": map[string]any{"name": "gcp-sa", "key": "key.json"}}

func TestPromQLVectorIsOneValuePerSeriesAndTheTokenIsCached(t *testing.T) {
	tokens, key := newCredential(t)
	api := newAPI(t,
		answer{body: `{"status":"success","data":{"resultType":"vector","result":[
			{"metric":{"pod":"a"},"value":[1772366400,"0.5"]},{"metric":{"pod":"b"},"value":[1772366400,"NaN"]}]}}`},
		answer{body: `{"status":"success","data":{"resultType":"scalar","result":[1772366400,"2"]},"warnings":["partial","sent AUTH"]}`},
	)
	p := provider(api)
	sec := secrets{"team/gcp-sa/key.json": key}
	query := `sum(rate(requests{pod_template_hash="abc"}[5m]))`
	req := request(t, map[string]any{"project": "my-proj", "promql": query, "credentials": keyRef}, sec)

	v, err := p.Query(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := v.Result.([]float64)
	if !ok || len(got) != 2 || got[0] != 0.5 || !math.IsNaN(got[1]) || v.Raw != "[0.5,NaN]" {
		t.Fatalf("result %#v raw %q, want [0.5 NaN]", v.Result, v.Raw)
	}
	if v.Metadata[MetadataQuery] != query {
		t.Errorf("metadata %v does not record the query", v.Metadata)
	}
	v, err = p.Query(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if v.Result != 2.0 || v.Raw != "2" || v.Metadata[MetadataWarnings] != "partial; sent Bearer [redacted]" {
		t.Errorf("scalar: result %#v raw %q metadata %v", v.Result, v.Raw, v.Metadata)
	}

	reqs := api.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d API requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		want := seen{Method: http.MethodGet, Path: "/v1/projects/my-proj/location/global/prometheus/api/v1/query",
			Auth: "Bearer " + tokens.AccessToken, Query: url.Values{"query": {query}, "time": {"2026-03-01T12:00:00Z"}}}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("request\n%+v\nwant\n%+v", r, want)
		}
	}
	if n := tokens.Calls(t); n != 1 {
		t.Errorf("%d token requests for two measurements, want 1 (the token is cached)", n)
	}
}

func TestFilterFollowsPagesAndReadsTheLatestPointOfEachSeries(t *testing.T) {
	tokens, key := newCredential(t)
	api := newAPI(t,
		answer{body: `{"timeSeries":[
			{"metric":{"type":"t"},"valueType":"DOUBLE","points":[
				{"interval":{"startTime":"2026-03-01T11:59:00Z","endTime":"2026-03-01T12:00:00Z"},"value":{"doubleValue":3.5}},
				{"interval":{"startTime":"2026-03-01T11:58:00Z","endTime":"2026-03-01T11:59:00Z"},"value":{"doubleValue":9}}]},
			{"metric":{"type":"t"},"valueType":"INT64","points":[
				{"interval":{"endTime":"2026-03-01T11:58:00Z"},"value":{"int64Value":"1"}},
				{"interval":{"endTime":"2026-03-01T11:59:00Z"},"value":{"int64Value":"12"}}]}],
			"nextPageToken":"page-2"}`},
		answer{body: `{"timeSeries":[
			{"valueType":"DISTRIBUTION","points":[{"interval":{"endTime":"2026-03-01T12:00:00Z"},"value":{"distributionValue":{"count":"4","mean":250.5}}}]},
			{"valueType":"DISTRIBUTION","points":[{"interval":{"endTime":"2026-03-01T12:00:00Z"},"value":{"distributionValue":{}}}]},
			{"valueType":"DOUBLE","points":[{"interval":{"endTime":"2026-03-01T12:00:00Z"},"value":{"doubleValue":"Infinity"}}]},
			{"valueType":"DOUBLE","points":[]}],
			"executionErrors":[{"code":14,"message":"one region unavailable for AUTH"}]}`},
	)
	p := provider(api)
	filter := `metric.type="loadbalancing.googleapis.com/https/request_count" AND resource.label."url_map_name"="web"`
	req := request(t, map[string]any{"project": "my-proj", "filter": filter, "lookback": "10m", "credentials": keyRef,
		"aggregation": map[string]any{"alignmentPeriod": "1m", "perSeriesAligner": "ALIGN_RATE", "crossSeriesReducer": "REDUCE_SUM",
			"groupByFields": []string{`resource.label."url_map_name"`, `metric.label."response_code_class"`}}},
		secrets{"team/gcp-sa/key.json": key})

	v, err := p.Query(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := v.Result.([]float64)
	if len(got) != 5 || got[0] != 3.5 || got[1] != 12 || got[2] != 250.5 || !math.IsNaN(got[3]) || !math.IsInf(got[4], 1) {
		t.Fatalf("result %v, want [3.5 12 250.5 NaN +Inf]", got)
	}
	if v.Raw != "[3.5,12,250.5,NaN,+Inf]" {
		t.Errorf("raw %q", v.Raw)
	}
	wantMD := map[string]string{MetadataFilter: filter, MetadataStart: "2026-03-01T11:50:00Z", MetadataEnd: "2026-03-01T12:00:00Z",
		MetadataWarnings: "one region unavailable for Bearer [redacted]"}
	if !reflect.DeepEqual(v.Metadata, wantMD) {
		t.Errorf("metadata %v, want %v", v.Metadata, wantMD)
	}
	base := url.Values{
		"filter":                         {filter},
		"interval.startTime":             {"2026-03-01T11:50:00Z"},
		"interval.endTime":               {"2026-03-01T12:00:00Z"},
		"view":                           {"FULL"},
		"aggregation.alignmentPeriod":    {"60s"},
		"aggregation.perSeriesAligner":   {"ALIGN_RATE"},
		"aggregation.crossSeriesReducer": {"REDUCE_SUM"},
		"aggregation.groupByFields":      {`resource.label."url_map_name"`, `metric.label."response_code_class"`},
	}
	second := url.Values{"pageToken": {"page-2"}}
	for k, v := range base {
		second[k] = v
	}
	reqs := api.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (one per page)", len(reqs))
	}
	for i, want := range []url.Values{base, second} {
		r := reqs[i]
		if r.Method != http.MethodGet || r.Path != "/v3/projects/my-proj/timeSeries" || r.Auth != "Bearer "+tokens.AccessToken || r.Body != "" {
			t.Errorf("page %d: %s %s auth %q body %q", i+1, r.Method, r.Path, r.Auth, r.Body)
		}
		if !reflect.DeepEqual(r.Query, want) {
			t.Errorf("page %d query\n%v\nwant\n%v", i+1, r.Query, want)
		}
	}
	tokens.Calls(t)
}

func TestEmptyAnswersAreNoDataNotErrors(t *testing.T) {
	_, key := newCredential(t)
	api := newAPI(t,
		answer{body: `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		answer{body: `{}`},
	)
	p := provider(api)
	sec := secrets{"team/gcp-sa/key.json": key}
	for _, cfg := range []map[string]any{
		{"project": "my-proj", "promql": "up", "credentials": keyRef},
		{"project": "my-proj", "filter": `metric.type="x"`, "credentials": keyRef},
	} {
		v, err := p.Query(context.Background(), request(t, cfg, sec))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := v.Result.([]float64); !ok || got == nil || len(got) != 0 || v.Raw != "[]" {
			t.Errorf("%v: result %#v raw %q, want an empty list", cfg, v.Result, v.Raw)
		}
	}
}

func TestErrorShapes(t *testing.T) {
	googleErr := func(code int, status, msg string) string {
		return fmt.Sprintf(`{"error":{"code":%d,"message":%q,"status":%q}}`, code, msg, status)
	}
	for _, tc := range []struct {
		name string
		ans  answer
		want []string
	}{
		{"401", answer{status: 401, body: googleErr(401, "UNAUTHENTICATED", "Request had invalid authentication credentials: AUTH")},
			[]string{"rejected the credentials (HTTP 401)", "Request had invalid authentication credentials"}},
		{"403", answer{status: 403, body: googleErr(403, "PERMISSION_DENIED", "Permission monitoring.timeSeries.list denied")},
			[]string{"rejected the credentials (HTTP 403)", "Permission monitoring.timeSeries.list denied"}},
		{"429", answer{status: 429, header: map[string]string{"Retry-After": "30"}, body: googleErr(429, "RESOURCE_EXHAUSTED", "Quota exceeded")},
			[]string{"rate limited (HTTP 429, retry after 30)", "Quota exceeded"}},
		{"500", answer{status: 500, body: googleErr(500, "INTERNAL", "Internal error encountered.")},
			[]string{"HTTP 500", "Internal error encountered."}},
		{"503", answer{status: 503, header: map[string]string{"Retry-After": "5"}, body: googleErr(503, "UNAVAILABLE", "The service is currently unavailable.")},
			[]string{"HTTP 503, retry after 5", "currently unavailable"}},
		{"prometheus error", answer{status: 400, body: `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`},
			[]string{"HTTP 400", "parse error at char 5"}},
		{"malformed", answer{body: `{"status":"success","data":`}, []string{"decoding the PromQL answer"}},
		{"string result", answer{body: `{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`}, []string{`result type "string" is not supported`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens, key := newCredential(t)
			api := newAPI(t, tc.ans)
			_, err := provider(api).Query(context.Background(),
				request(t, map[string]any{"project": "my-proj", "promql": "up", "credentials": keyRef}, secrets{"team/gcp-sa/key.json": key}))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tokens.AccessToken) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error %q carries a credential", err)
			}
		})
	}
	t.Run("malformed list", func(t *testing.T) {
		_, key := newCredential(t)
		api := newAPI(t, answer{body: `{"timeSeries":[{"points":[{"value":{"stringValue":"x"}}]}]}`}, answer{body: `[`})
		p := provider(api)
		req := request(t, map[string]any{"project": "my-proj", "filter": `metric.type="x"`, "credentials": keyRef}, secrets{"team/gcp-sa/key.json": key})
		if _, err := p.Query(context.Background(), req); err == nil || !strings.Contains(err.Error(), "strings, not numbers") {
			t.Errorf("string series: %v", err)
		}
		if _, err := p.Query(context.Background(), req); err == nil || !strings.Contains(err.Error(), "decoding the timeSeries.list answer") {
			t.Errorf("malformed: %v", err)
		}
	})
	t.Run("endless paging", func(t *testing.T) {
		_, key := newCredential(t)
		var answers []answer
		for i := 0; i <= maxPages; i++ {
			answers = append(answers, answer{body: `{"timeSeries":[],"nextPageToken":"again"}`})
		}
		api := newAPI(t, answers...)
		_, err := provider(api).Query(context.Background(),
			request(t, map[string]any{"project": "my-proj", "filter": `metric.type="x"`, "credentials": keyRef}, secrets{"team/gcp-sa/key.json": key}))
		if err == nil || !strings.Contains(err.Error(), "pages") || len(api.requests()) != maxPages {
			t.Errorf("error %v after %d requests, want a paging error after %d", err, len(api.requests()), maxPages)
		}
	})
}

func TestTokenEndpointRefusalKeepsTheAssertionAndKeyOut(t *testing.T) {
	tokens, key := newCredential(t)
	tokens.Refuse(http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Invalid JWT Signature.","echo":"ASSERTION"}`)
	api := newAPI(t)
	_, err := provider(api).Query(context.Background(),
		request(t, map[string]any{"project": "my-proj", "promql": "up", "credentials": keyRef}, secrets{"team/gcp-sa/key.json": key}))
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "invalid_grant: Invalid JWT Signature.") {
		t.Errorf("error %q does not say what the endpoint said", err)
	}
	if strings.Contains(err.Error(), "eyJ") || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("error %q carries the assertion or the key", err)
	}
	if len(api.requests()) != 0 {
		t.Errorf("the API was called without a token")
	}
	tokens.Calls(t)
}

func TestCredentialsOtherThanServiceAccountKeysAreRefused(t *testing.T) {
	api := newAPI(t)
	ext := `{"type":"external_account","audience":"x","subject_token_type":"urn:ietf:params:oauth:token-type:jwt","token_url":"http://127.0.0.1:1/token","credential_source":{"executable":{"command":"/bin/true"}}}`
	for name, value := range map[string]string{"external account": ext, "not JSON": "-----BEGIN PRIVATE KEY-----\nabc\n"} {
		_, err := provider(api).Query(context.Background(),
			request(t, map[string]any{"project": "my-proj", "promql": "up", "credentials": keyRef}, secrets{"team/gcp-sa/key.json": value}))
		if err == nil || !strings.Contains(err.Error(), "not a usable service-account key") || strings.Contains(err.Error(), "abc") {
			t.Errorf("%s: error %v", name, err)
		}
	}
	_, err := provider(api).Query(context.Background(),
		request(t, map[string]any{"project": "my-proj", "promql": "up", "credentials": keyRef}, secrets{}))
	if err == nil || !strings.Contains(err.Error(), "reading the service-account key from Secret gcp-sa") {
		t.Errorf("missing Secret: %v", err)
	}
}

func TestApplicationDefaultCredentialsFromTheEnvironment(t *testing.T) {
	tokens, key := newCredential(t)
	path := filepath.Join(t.TempDir(), "key.json")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
	api := newAPI(t, answer{body: `{"status":"success","data":{"resultType":"scalar","result":[1772366400,"1"]}}`},
		answer{body: `{"status":"success","data":{"resultType":"scalar","result":[1772366400,"1"]}}`})
	t.Setenv(EnvEndpoint, api.URL)
	p := New(Options{Now: func() time.Time { return testNow }})
	// Before the key file exists there are no credentials; the failure is
	// not kept, so the file is found once it appears.
	_, err := p.Query(context.Background(), request(t, map[string]any{"project": "123456", "promql": "vector(1)"}, nil))
	if err == nil || !strings.Contains(err.Error(), "no Application Default Credentials") {
		t.Fatalf("without credentials: %v", err)
	}
	if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		v, err := p.Query(context.Background(), request(t, map[string]any{"project": "123456", "promql": "vector(1)"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if v.Result != 1.0 {
			t.Errorf("result %v", v.Result)
		}
	}
	for _, r := range api.requests() {
		if r.Auth != "Bearer "+tokens.AccessToken || r.Path != "/v1/projects/123456/location/global/prometheus/api/v1/query" {
			t.Errorf("request %+v", r)
		}
	}
	if n := tokens.Calls(t); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		want string // "" for valid
	}{
		{`{"project":"my-proj","promql":"up"}`, ""},
		{`{"project":"example.com:my-proj","filter":"metric.type=\"x\"","lookback":"1h","aggregation":{"alignmentPeriod":"60s","perSeriesAligner":"ALIGN_DELTA","crossSeriesReducer":"REDUCE_SUM","groupByFields":["a"]},"credentials":{"secretRef":{"name":"s","key":"k"}}}`, ""},
		{`{"promql":"up"}`, "project: required"},
		{`{"project":"My Proj/x","promql":"up"}`, "not a project ID"},
		{`{"project":"p"}`, "set promql, or filter"},
		{`{"project":"p","promql":"up","filter":"x"}`, "set promql, or filter"},
		{`{"project":"p","promql":"up","lookback":"5m"}`, "apply to filter queries"},
		{`{"project":"p","filter":"x","lookback":"3d"}`, ""},
		{`{"project":"p","filter":"x","lookback":"1.5h"}`, ""},
		{`{"project":"p","filter":"x","lookback":"soon"}`, "lookback:"},
		{`{"project":"p","filter":"x","lookback":"-5m"}`, "must be positive"},
		{`{"project":"p","filter":"x","aggregation":{"perSeriesAligner":"ALIGN_RATE"}}`, "alignmentPeriod: required"},
		{`{"project":"p","filter":"x","aggregation":{"alignmentPeriod":"1500ms","perSeriesAligner":"ALIGN_RATE"}}`, "whole number of seconds"},
		{`{"project":"p","filter":"x","aggregation":{"alignmentPeriod":"60s","perSeriesAligner":"rate"}}`, "not an aligner"},
		{`{"project":"p","filter":"x","aggregation":{"crossSeriesReducer":"REDUCE_SUM"}}`, "perSeriesAligner: required"},
		{`{"project":"p","filter":"x","aggregation":{"alignmentPeriod":"60s","perSeriesAligner":"ALIGN_RATE","crossSeriesReducer":"sum"}}`, "not a reducer"},
		{`{"project":"p","filter":"x","aggregation":{"groupByFields":["a"]}}`, "needs a crossSeriesReducer"},
		{`{"project":"p","promql":"up","credentials":{}}`, "set secretRef"},
		{`{"project":"p","promql":"up","credentials":{"secretRef":{"name":"s"}}}`, "set name and key"},
		{`{"project":"p","promql":"up","address":"http://x"}`, "unknown field"},
	} {
		_, err := Parse(json.RawMessage(tc.cfg))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestWithQueryFillsTheFilterOrThePromQL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"project":"p"}`, `{"project":"p","promql":"Q"}`},
		{`{"project":"p","promql":"old"}`, `{"project":"p","promql":"Q"}`},
		{`{"project":"p","filter":"-","lookback":"1h"}`, `{"filter":"Q","lookback":"1h","project":"p"}`},
	} {
		out, err := WithQuery(json.RawMessage(tc.in), "Q")
		if err != nil {
			t.Fatal(err)
		}
		var got, want map[string]any
		_ = json.Unmarshal(out, &got)
		_ = json.Unmarshal([]byte(tc.want), &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %s, want %s", tc.in, out, tc.want)
		}
	}
}

func TestContextCancelAbandonsTheRequest(t *testing.T) {
	_, key := newCredential(t)
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	p := New(Options{Endpoint: slow.URL, Now: func() time.Time { return testNow }})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := p.Query(ctx, request(t, map[string]any{"project": "p", "promql": "up", "credentials": keyRef}, secrets{"team/gcp-sa/key.json": key}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the deadline", err)
	}
}

// TestTokensAreCachedPerCredential sends measurements at once with two
// keys from two Secrets: each key mints one token, used for all its
// measurements, and each request carries its own key's token.
func TestTokensAreCachedPerCredential(t *testing.T) {
	a, keyA := newCredential(t)
	b, keyB := newCredential(t)
	var answers []answer
	for i := 0; i < 16; i++ {
		answers = append(answers, answer{body: `{"status":"success","data":{"resultType":"vector","result":[]}}`})
	}
	api := newAPI(t, answers...)
	p := provider(api)
	sec := secrets{"team/sa-a/key.json": keyA, "team/sa-b/key.json": keyB}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		name := []string{"sa-a", "sa-b"}[i%2]
		req := request(t, map[string]any{"project": "p", "promql": name, "credentials": map[string]any{"secretRef": map[string]any{"name": name, "key": "key.json"}}}, sec)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Query(context.Background(), req)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if na, nb := a.Calls(t), b.Calls(t); na != 1 || nb != 1 {
		t.Errorf("token requests %d and %d for 8 measurements each, want 1 each", na, nb)
	}
	for _, r := range api.requests() {
		want := map[string]string{"sa-a": "Bearer " + a.AccessToken, "sa-b": "Bearer " + b.AccessToken}[r.Query.Get("query")]
		if r.Auth != want {
			t.Errorf("query %q went with %q, want %q", r.Query.Get("query"), r.Auth, want)
		}
	}
}
