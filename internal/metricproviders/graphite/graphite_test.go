package graphite

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

// docQuery is the reference documentation's example, written over several
// lines as users do.
const docQuery = `target=summarize(
  asPercent(
    sumSeries(stats.app.checkout.outcome.SUCCESS.count),
    sumSeries(stats.app.checkout.outcome.*.count)
  ),
  '5min',
  'avg'
)&from=-10min
`

const wantTarget = "summarize( asPercent( sumSeries(stats.app.checkout.outcome.SUCCESS.count), sumSeries(stats.app.checkout.outcome.*.count) ), '5min', 'avg' )"

func request(address, query string) metricproviders.Request {
	return metricproviders.Request{
		Namespace: "shop", RunName: "checkout-1",
		Metric: v1alpha1.Metric{Name: "success", Provider: v1alpha1.MetricProvider{
			Graphite: &v1alpha1.GraphiteMetric{Address: address, Query: query},
		}},
	}
}

func renderWant() pt.Want {
	return pt.Want{
		Method: http.MethodGet, Path: "/render",
		Query:  url.Values{"target": {wantTarget}, "from": {"-10min"}, "format": {"json"}},
		Header: map[string]string{"Accept": "application/json"},
	}
}

func TestQueryReadsTheFirstTarget(t *testing.T) {
	srv := pt.Serve(t, pt.Exchange{Want: renderWant(), Reply: pt.Reply{Body: `[
		{"target": "summarize(asPercent(...))", "tags": {"name": "x"},
		 "datapoints": [[97.5, 1741944000], [null, 1741944300], [99.25, 1741944600], ["98.5", 1741944900]]},
		{"target": "other", "datapoints": [[1, 1741944000]]}
	]`}})
	v, err := New(Options{}).Query(context.Background(), request(srv.URL+"/", docQuery))
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{97.5, 99.25, 98.5}; !reflect.DeepEqual(v.Result, want) {
		t.Errorf("result = %#v, want %#v", v.Result, want)
	}
	if v.Raw != "[97.500000,99.250000,98.500000]" {
		t.Errorf("raw = %q", v.Raw)
	}
	if v.Metadata["target"] != "summarize(asPercent(...))" || v.Metadata["series"] != "2" {
		t.Errorf("metadata = %v", v.Metadata)
	}
}

func TestQueryUnderAPathPrefix(t *testing.T) {
	w := renderWant()
	w.Path = "/graphite/render"
	srv := pt.Serve(t, pt.Exchange{Want: w, Reply: pt.Reply{Body: `[{"target":"t","datapoints":[[1,1]]}]`}})
	if _, err := New(Options{}).Query(context.Background(), request(srv.URL+"/graphite", docQuery)); err != nil {
		t.Fatal(err)
	}
}

func TestQueryOnlyNullPointsIsAnEmptyList(t *testing.T) {
	srv := pt.Serve(t, pt.Exchange{Want: renderWant(), Reply: pt.Reply{Body: `[{"target":"t","datapoints":[[null,1],[null,2]]}]`}})
	v, err := New(Options{}).Query(context.Background(), request(srv.URL, docQuery))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := v.Result.([]float64); !ok || len(got) != 0 || v.Raw != "[]" {
		t.Errorf("result = %#v raw %q, want an empty list", v.Result, v.Raw)
	}
}

func TestQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply pt.Reply
		want  string
	}{
		{"unauthorized", pt.Reply{Status: 401, Body: `{"message":"bad credentials"}`}, "graphite: GET /render: the server rejected the credentials (HTTP 401): bad credentials"},
		{"rate limited", pt.Reply{Status: 429, Header: map[string]string{"Retry-After": "7"}, Body: "slow down"}, "graphite: GET /render: rate limited (HTTP 429, retry after 7): slow down"},
		{"server error", pt.Reply{Status: 500, Header: map[string]string{"Content-Type": "text/html"}, Body: "<html>Traceback</html>"}, "graphite: GET /render: HTTP 500"},
		{"malformed", pt.Reply{Body: `[{"target":"t","datapoints":[[1,`}, "graphite: decoding render answer"},
		{"bad point", pt.Reply{Body: `[{"target":"t","datapoints":[[1]]}]`}, "datapoint has 1 elements"},
		{"no series", pt.Reply{Body: `[]`}, "graphite: no values found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := pt.Serve(t, pt.Exchange{Want: renderWant(), Reply: tc.reply})
			_, err := New(Options{}).Query(context.Background(), request(srv.URL, docQuery))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "summarize") {
				t.Errorf("error repeats the query: %v", err)
			}
		})
	}
}

func TestQueryTimesOut(t *testing.T) {
	block := make(chan struct{})
	srv := pt.Serve(t)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block })
	defer close(block)
	_, err := New(Options{Timeout: 50 * time.Millisecond}).Query(context.Background(), request(srv.URL, docQuery))
	if err == nil || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Fatalf("error = %v, want a timeout", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		m    v1alpha1.GraphiteMetric
		want string
	}{
		{v1alpha1.GraphiteMetric{Address: "http://graphite:8080", Query: "target=a.b&from=-5min"}, ""},
		{v1alpha1.GraphiteMetric{Address: "graphite:8080", Query: "target=a"}, "not an http(s) URL"},
		{v1alpha1.GraphiteMetric{Address: "http://g", Query: "  "}, "set the render query"},
		{v1alpha1.GraphiteMetric{Address: "http://g", Query: "from=-5min"}, "needs a target"},
		{v1alpha1.GraphiteMetric{Address: "http://g", Query: "target=%zz"}, "not a query string"},
	} {
		err := Validate(&tc.m)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.m, err, tc.want)
		}
	}
}
