package wavefront

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	pt "github.com/kanaria-rollouts/kanaria/internal/metricproviders/providertest"
)

const (
	controllerNS = "kanaria-system"
	token        = "wf-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	query        = `sum(rate(5m, ts("istio.requestcount.count", response_code!=500 and destination_service="checkout")))`
)

// fixedNow is 2025-03-14T09:26:53.250Z.
var fixedNow = time.UnixMilli(1741944413250)

func setup(t *testing.T, exchanges ...pt.Exchange) (*Provider, metricproviders.Request) {
	srv := pt.Serve(t, exchanges...)
	host := strings.Split(strings.TrimPrefix(srv.URL, "http://"), ":")[0]
	p := New(Options{Namespace: controllerNS, Now: func() time.Time { return fixedNow }})
	return p, metricproviders.Request{
		Namespace: "shop", RunName: "checkout-1",
		Metric: v1alpha1.Metric{Name: "success-rate", Provider: v1alpha1.MetricProvider{
			Wavefront: &v1alpha1.WavefrontMetric{Address: srv.URL, Query: query},
		}},
		Secrets: pt.Secrets{controllerNS + "/wavefront-api-tokens/" + host: token + "\n"},
	}
}

func chartWant() pt.Want {
	return pt.Want{
		Method: http.MethodGet, Path: "/api/v2/chart/api",
		Query:  url.Values{"q": {query}, "s": {"1741944413250"}, "g": {"s"}, "p": {"1"}, "i": {"false"}},
		Header: map[string]string{"Authorization": "Bearer " + token, "Accept": "application/json"},
	}
}

func TestQueryOneSeries(t *testing.T) {
	p, req := setup(t, pt.Exchange{Want: chartWant(), Reply: pt.Reply{Body: `{
		"name": "q", "query": "q", "granularity": 1,
		"timeseries": [{"label": "istio.requestcount.count", "host": "h", "tags": {}, "data": [[1741944413, 0.9876], [1741944414, 0.5]]}],
		"stats": {"keys": 1, "points": 2}}`}})
	v, err := p.Query(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if v.Result != 0.9876 || v.Raw != "0.99" || v.Phase != "" {
		t.Errorf("value = %#v", v)
	}
}

func TestQuerySeveralSeriesAndNaN(t *testing.T) {
	p, req := setup(t, pt.Exchange{Want: chartWant(), Reply: pt.Reply{Body: `{
		"timeseries": [{"label": "a", "data": [[1, 0.5]]}, {"label": "b", "data": [[1, "NaN"]]}],
		"warnings": "partial data"}`}})
	v, err := p.Query(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := v.Result.([]float64)
	if len(got) != 2 || got[0] != 0.5 || got[1] == got[1] {
		t.Errorf("result = %v, want [0.5 NaN]", got)
	}
	if v.Raw != "[0.50,NaN]" || v.Phase != v1alpha1.AnalysisPhaseInconclusive || v.Metadata["warnings"] != "partial data" {
		t.Errorf("value = %#v", v)
	}
}

func TestQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply pt.Reply
		want  string
	}{
		{"unauthorized", pt.Reply{Status: 401, Body: `{"status":{"result":"ERROR","message":"token ` + token + ` is not valid","code":401}}`}, "the server rejected the credentials (HTTP 401)"},
		{"rate limited", pt.Reply{Status: 429, Header: map[string]string{"Retry-After": "30"}, Body: `{"message":"Too many requests"}`}, "rate limited (HTTP 429, retry after 30): Too many requests"},
		{"server error", pt.Reply{Status: 503, Body: ``}, "wavefront: GET /api/v2/chart/api: HTTP 503"},
		{"malformed", pt.Reply{Body: `{"timeseries": [`}, "decoding chart answer"},
		{"empty", pt.Reply{Body: `{"timeseries": []}`}, "no time series found"},
		{"no points", pt.Reply{Body: `{"timeseries": [{"label":"a","data":[]}]}`}, "has no [timestamp, value] point"},
		{"query error", pt.Reply{Body: `{"errorType":"QuerySyntaxError","errorMessage":"Unexpected token"}`}, "query failed: Unexpected token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, req := setup(t, pt.Exchange{Want: chartWant(), Reply: tc.reply})
			_, err := p.Query(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestQueryWithoutToken(t *testing.T) {
	p, req := setup(t)
	req.Secrets = pt.Secrets{}
	_, err := p.Query(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "no API token for 127.0.0.1:") {
		t.Fatalf("error = %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct{ addr, base, key string }{
		{"example.wavefront.com", "https://example.wavefront.com", "example.wavefront.com"},
		{"https://example.wavefront.com/", "https://example.wavefront.com", "example.wavefront.com"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1"},
		{"wavefront-proxy:2878", "https://wavefront-proxy:2878", "wavefront-proxy"},
	} {
		base, key, err := endpoint(tc.addr)
		if err != nil || base != tc.base || key != tc.key {
			t.Errorf("endpoint(%q) = %q, %q, %v", tc.addr, base, key, err)
		}
	}
	if err := Validate(&v1alpha1.WavefrontMetric{Address: "example.wavefront.com"}); err == nil {
		t.Error("a metric without a query validated")
	}
	if err := Validate(&v1alpha1.WavefrontMetric{Query: "ts(x)"}); err == nil {
		t.Error("a metric without an address validated")
	}
	if !reflect.DeepEqual(Validate(&v1alpha1.WavefrontMetric{Address: "a.wavefront.com", Query: "ts(x)"}), nil) {
		t.Error("a good metric did not validate")
	}
}
