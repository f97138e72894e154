package skywalking

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	pt "github.com/kanaria-rollouts/kanaria/internal/metricproviders/providertest"
)

const query = `query queryData($duration: Duration!) {
  service_apdex: readMetricsValues(
    condition: { name: "service_apdex", entity: { scope: Service, serviceName: "checkout", normal: true } },
    duration: $duration) { label values { values { value } } }
}`

// fixedNow is 2025-03-14T09:26:53Z, in a zone that is not UTC.
var fixedNow = time.Unix(1741944413, 0).In(time.FixedZone("CET", 3600))

func setup(t *testing.T, reply pt.Reply) metricproviders.Request {
	srv := pt.Serve(t, pt.Exchange{Want: pt.Want{
		Method: http.MethodPost, Path: "/graphql",
		Header: map[string]string{"Content-Type": "application/json; charset=utf-8"},
		Body:   `{"query":` + jsonString(query) + `,"variables":{"duration":{"start":"2025-03-14 0923","end":"2025-03-14 0926","step":"MINUTE"}}}`,
	}, Reply: reply})
	return metricproviders.Request{Namespace: "shop", RunName: "checkout-1", Metric: v1alpha1.Metric{
		Name: "apdex", Provider: v1alpha1.MetricProvider{SkyWalking: &v1alpha1.SkyWalkingMetric{
			Address: srv.URL, Query: query, Interval: "3m"}}}}
}

func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func provider() *Provider { return New(Options{Now: func() time.Time { return fixedNow }}) }

func TestQueryReturnsTheData(t *testing.T) {
	req := setup(t, pt.Reply{Body: `{"data":{"service_apdex":{"label":null,"values":{"values":[{"value":9950},{"value":10000}]}}}}`})
	v, err := provider().Query(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"service_apdex": map[string]any{"label": nil, "values": map[string]any{
		"values": []any{map[string]any{"value": 9950.0}, map[string]any{"value": 10000.0}}}}}
	if !reflect.DeepEqual(v.Result, want) {
		t.Errorf("result = %#v", v.Result)
	}
	if v.Raw != `{"service_apdex":{"label":null,"values":{"values":[{"value":9950},{"value":10000}]}}}` {
		t.Errorf("raw = %s", v.Raw)
	}
	if v.Metadata["start"] != "2025-03-14 0923" || v.Metadata["end"] != "2025-03-14 0926" {
		t.Errorf("metadata = %v", v.Metadata)
	}
}

func TestQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply pt.Reply
		want  string
	}{
		{"unauthorized", pt.Reply{Status: 401, Body: `{"message":"Unauthorized"}`}, "skywalking: POST /graphql: the server rejected the credentials (HTTP 401): Unauthorized"},
		{"rate limited", pt.Reply{Status: 429, Header: map[string]string{"Retry-After": "5"}, Body: ``}, "rate limited (HTTP 429, retry after 5)"},
		{"server error", pt.Reply{Status: 500, Body: `{"errors":[{"message":"storage unavailable"}]}`}, "HTTP 500: storage unavailable"},
		{"malformed", pt.Reply{Body: `{"data":{`}, "decoding GraphQL answer"},
		{"graphql error", pt.Reply{Body: `{"data":null,"errors":[{"message":"Validation error of type FieldUndefined"}]}`}, "query failed: Validation error of type FieldUndefined"},
		{"empty", pt.Reply{Body: `{"data":null}`}, "no results returned from SkyWalking query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provider().Query(context.Background(), setup(t, tc.reply))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		m    v1alpha1.SkyWalkingMetric
		want string
	}{
		{v1alpha1.SkyWalkingMetric{Address: "http://oap:12800", Query: "q", Interval: "5m"}, ""},
		{v1alpha1.SkyWalkingMetric{Address: "oap:12800", Query: "q", Interval: "5m"}, "not an http(s) URL"},
		{v1alpha1.SkyWalkingMetric{Address: "http://oap", Interval: "5m"}, "set the GraphQL query"},
		{v1alpha1.SkyWalkingMetric{Address: "http://oap", Query: "q"}, "set the window"},
		{v1alpha1.SkyWalkingMetric{Address: "http://oap", Query: "q", Interval: "five"}, "not a duration"},
	} {
		err := Validate(&tc.m)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.m, err, tc.want)
		}
	}
}
