package newrelic

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	pt "github.com/kanaria-rollouts/kanaria/internal/metricproviders/providertest"
)

const (
	controllerNS = "kanaria-system"
	apiKey       = "NRAK-0123456789ABCDEFGHIJKLMNOPQ"
	nrql         = "FROM Transaction SELECT percentage(count(*), WHERE httpResponseCode != 500) as successRate where appName = 'checkout'"
)

func secrets(profile, url string) pt.Secrets {
	s := pt.Secrets{
		controllerNS + "/" + profile + "/personal-api-key": apiKey + "\n",
		controllerNS + "/" + profile + "/account-id":       "1234567",
	}
	if url != "" {
		s[controllerNS+"/"+profile+"/base-url-nerdgraph"] = url + "/graphql"
	}
	return s
}

func request(m v1alpha1.NewRelicMetric, s metricproviders.SecretReader) metricproviders.Request {
	return metricproviders.Request{Namespace: "shop", RunName: "checkout-1", Secrets: s,
		Metric: v1alpha1.Metric{Name: "success-rate", Provider: v1alpha1.MetricProvider{NewRelic: &m}}}
}

func want(body string) pt.Want {
	return pt.Want{Method: http.MethodPost, Path: "/graphql",
		Header: map[string]string{"Api-Key": apiKey, "Content-Type": "application/json"},
		Body:   body}
}

func body(t *testing.T, query string, vars map[string]any) string {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestQueryOneRowIsAMap(t *testing.T) {
	srv := pt.Serve(t, pt.Exchange{
		Want:  want(body(t, nrqlQuery, map[string]any{"accountId": 1234567, "query": nrql})),
		Reply: pt.Reply{Body: `{"data":{"actor":{"account":{"nrql":{"results":[{"successRate":99.5}]}}}}}`},
	})
	v, err := New(Options{Namespace: controllerNS}).Query(context.Background(), request(v1alpha1.NewRelicMetric{Query: nrql}, secrets("newrelic", srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v.Result, map[string]any{"successRate": 99.5}) || v.Raw != `{"successRate":99.5}` {
		t.Errorf("value = %#v", v)
	}
}

func TestQueryFacetsAreAListWithProfileAndTimeout(t *testing.T) {
	timeout := int64(20)
	srv := pt.Serve(t, pt.Exchange{
		Want:  want(body(t, nrqlQueryTimeout, map[string]any{"accountId": 1234567, "query": nrql, "timeout": 20})),
		Reply: pt.Reply{Body: `{"data":{"actor":{"account":{"nrql":{"results":[{"facet":"a","average.duration":0.2},{"facet":"b","average.duration":0.4}]}}}}}`},
	})
	v, err := New(Options{Namespace: controllerNS}).Query(context.Background(),
		request(v1alpha1.NewRelicMetric{Query: nrql, Profile: "team-b", Timeout: &timeout}, secrets("team-b", srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	list, ok := v.Result.([]any)
	if !ok || len(list) != 2 || list[1].(map[string]any)["average.duration"] != 0.4 {
		t.Errorf("result = %#v", v.Result)
	}
	if v.Raw != `[{"average.duration":0.2,"facet":"a"},{"average.duration":0.4,"facet":"b"}]` {
		t.Errorf("raw = %s", v.Raw)
	}
}

func TestQueryErrors(t *testing.T) {
	q := body(t, nrqlQuery, map[string]any{"accountId": 1234567, "query": nrql})
	for _, tc := range []struct {
		name  string
		reply pt.Reply
		want  string
	}{
		{"unauthorized", pt.Reply{Status: 401, Body: `{"errors":[{"message":"Invalid API key: ` + apiKey + `"}]}`}, "the server rejected the credentials (HTTP 401): Invalid API key: [redacted]"},
		{"rate limited", pt.Reply{Status: 429, Header: map[string]string{"Retry-After": "60"}, Body: `{"errors":[{"message":"Too many requests"}]}`}, "rate limited (HTTP 429, retry after 60): Too many requests"},
		{"server error", pt.Reply{Status: 502, Body: "Bad Gateway"}, "newrelic: POST /graphql: HTTP 502: Bad Gateway"},
		{"malformed", pt.Reply{Body: `{"data":{"actor":`}, "decoding NerdGraph answer"},
		{"graphql error", pt.Reply{Body: `{"data":{"actor":{"account":{"nrql":null}}},"errors":[{"message":"NRQL Syntax Error: Error at line 1"}]}`}, "NRQL query failed: NRQL Syntax Error"},
		{"empty", pt.Reply{Body: `{"data":{"actor":{"account":{"nrql":{"results":[]}}}}}`}, "no results returned from NRQL query"},
		{"empty row", pt.Reply{Body: `{"data":{"actor":{"account":{"nrql":{"results":[{}]}}}}}`}, "no results returned from NRQL query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := pt.Serve(t, pt.Exchange{Want: want(q), Reply: tc.reply})
			_, err := New(Options{Namespace: controllerNS}).Query(context.Background(), request(v1alpha1.NewRelicMetric{Query: nrql}, secrets("newrelic", srv.URL)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), apiKey) {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
}

func TestAccountSettings(t *testing.T) {
	p := New(Options{Namespace: controllerNS})
	for _, tc := range []struct {
		name    string
		secrets pt.Secrets
		url     string
		err     string
	}{
		{"default region", secrets("newrelic", ""), "https://api.newrelic.com/graphql", ""},
		{"eu", func() pt.Secrets { s := secrets("newrelic", ""); s[controllerNS+"/newrelic/region"] = "EU"; return s }(), "https://api.eu.newrelic.com/graphql", ""},
		{"unknown region", func() pt.Secrets { s := secrets("newrelic", ""); s[controllerNS+"/newrelic/region"] = "mars"; return s }(), "", `region "mars"`},
		{"no key", pt.Secrets{controllerNS + "/newrelic/account-id": "1"}, "", `reading key "personal-api-key"`},
		{"bad account", pt.Secrets{controllerNS + "/newrelic/personal-api-key": apiKey, controllerNS + "/newrelic/account-id": "abc"}, "", "account-id of Secret kanaria-system/newrelic is not a number"},
	} {
		a, err := p.account(context.Background(), request(v1alpha1.NewRelicMetric{Query: nrql}, tc.secrets), "newrelic")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || a.url != tc.url || a.accountID != 1234567 || a.apiKey != apiKey {
			t.Errorf("%s: account = %+v, %v", tc.name, a.url, err)
		}
	}
}

func TestValidate(t *testing.T) {
	bad, zero := int64(121), int64(0)
	for _, m := range []v1alpha1.NewRelicMetric{{}, {Query: nrql, Timeout: &bad}, {Query: nrql, Timeout: &zero}} {
		if Validate(&m) == nil {
			t.Errorf("Validate(%+v) passed", m)
		}
	}
	if err := Validate(&v1alpha1.NewRelicMetric{Query: nrql}); err != nil {
		t.Error(err)
	}
}
