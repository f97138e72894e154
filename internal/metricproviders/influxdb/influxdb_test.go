package influxdb

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
	token        = "influx-token-Zm9vYmFyYmF6cXV4cXV1eA=="
	flux         = `from(bucket: "app_istio")
  |> range(start: -15m)
  |> filter(fn: (r) => r["destination_workload"] == "checkout")`
)

// annotatedCSV is an answer of InfluxDB 2.7's /api/v2/query in the default
// dialect: two tables, three records.
const annotatedCSV = "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string\r\n" +
	"#group,false,false,true,true,false,false,true,true\r\n" +
	"#default,_result,,,,,,,\r\n" +
	",result,table,_start,_stop,_time,_value,_field,_measurement\r\n" +
	",,0,2025-03-14T09:11:53Z,2025-03-14T09:26:53Z,2025-03-14T09:20:00Z,0.004,value,errors\r\n" +
	",,0,2025-03-14T09:11:53Z,2025-03-14T09:26:53Z,2025-03-14T09:25:00Z,0.012,value,errors\r\n" +
	",,1,2025-03-14T09:11:53Z,2025-03-14T09:26:53Z,2025-03-14T09:25:00Z,0.5,ratio,errors\r\n" +
	"\r\n"

// setup serves one expected query answered with reply, or none when reply
// is nil.
func setup(t *testing.T, profile string, reply *pt.Reply) (*pt.Server, metricproviders.Request) {
	ex := pt.Exchange{Want: pt.Want{
		Method: http.MethodPost, Path: "/api/v2/query", Query: url.Values{"org": {"acme"}},
		Header: map[string]string{"Authorization": "Token " + token, "Content-Type": "application/json"},
		Body:   `{"query":` + jsonString(flux) + `,"type":"flux","dialect":{"annotations":["datatype","group","default"],"delimiter":",","header":true}}`,
	}}
	var srv *pt.Server
	if reply != nil {
		ex.Reply = *reply
		srv = pt.Serve(t, ex)
	} else {
		srv = pt.Serve(t)
	}
	secretName := profile
	if secretName == "" {
		secretName = "influxdb"
	}
	return srv, metricproviders.Request{Namespace: "shop", RunName: "checkout-1",
		Secrets: pt.Secrets{
			controllerNS + "/" + secretName + "/authToken": token,
			controllerNS + "/" + secretName + "/address":   srv.URL + "/",
			controllerNS + "/" + secretName + "/org":       "acme\n",
		},
		Metric: v1alpha1.Metric{Name: "error-rate", Provider: v1alpha1.MetricProvider{
			Influxdb: &v1alpha1.InfluxdbMetric{Profile: profile, Query: flux}}}}
}

func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func TestQueryListsEveryValue(t *testing.T) {
	for _, profile := range []string{"", "team-b"} {
		_, req := setup(t, profile, &pt.Reply{Header: map[string]string{"Content-Type": "text/csv; charset=utf-8"}, Body: annotatedCSV})
		v, err := New(Options{Namespace: controllerNS}).Query(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if want := []any{0.004, 0.012, 0.5}; !reflect.DeepEqual(v.Result, want) {
			t.Errorf("result = %#v, want %#v", v.Result, want)
		}
		if v.Raw != "[0.004 0.012 0.5]" {
			t.Errorf("raw = %q", v.Raw)
		}
	}
}

func TestQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply pt.Reply
		want  string
	}{
		{"unauthorized", pt.Reply{Status: 401, Body: `{"code":"unauthorized","message":"unauthorized access"}`}, "influxdb: POST /api/v2/query: the server rejected the credentials (HTTP 401): unauthorized access"},
		{"rate limited", pt.Reply{Status: 429, Header: map[string]string{"Retry-After": "12"}, Body: `{"code":"too many requests","message":"org acme over its query quota"}`}, "rate limited (HTTP 429, retry after 12): org acme over its query quota"},
		{"server error", pt.Reply{Status: 500, Body: `{"code":"internal error","message":"panic in the query engine"}`}, "HTTP 500: panic in the query engine"},
		{"bad flux", pt.Reply{Status: 400, Body: `{"code":"invalid","message":"compilation failed: error at @1:1-1:5: undefined identifier fro"}`}, "HTTP 400: compilation failed"},
		{"malformed", pt.Reply{Header: map[string]string{"Content-Type": "text/csv"}, Body: "#datatype,string,long\r\n#group,false\r\n,result,table,_value\r\n,,zero,\"x\r\n"}, "influxdb: POST /api/v2/query"},
		{"empty", pt.Reply{Header: map[string]string{"Content-Type": "text/csv"}, Body: "\r\n"}, "influxdb: no results returned from flux query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, req := setup(t, "", &tc.reply)
			_, err := New(Options{Namespace: controllerNS}).Query(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestQueryTimesOut(t *testing.T) {
	block := make(chan struct{})
	srv, req := setup(t, "", nil)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block })
	defer close(block)
	_, err := New(Options{Namespace: controllerNS, Timeout: 50 * time.Millisecond}).Query(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Fatalf("error = %v, want a timeout", err)
	}
}

func TestProfileErrors(t *testing.T) {
	_, req := setup(t, "", nil)
	delete(req.Secrets.(pt.Secrets), controllerNS+"/influxdb/org")
	_, err := New(Options{Namespace: controllerNS}).Query(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), `reading key "org" of Secret kanaria-system/influxdb`) {
		t.Fatalf("error = %v", err)
	}
	req.Secrets.(pt.Secrets)[controllerNS+"/influxdb/org"] = "acme"
	req.Secrets.(pt.Secrets)[controllerNS+"/influxdb/address"] = "influx:8086"
	_, err = New(Options{Namespace: controllerNS}).Query(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Fatalf("error = %v", err)
	}
	if Validate(&v1alpha1.InfluxdbMetric{}) == nil {
		t.Error("a metric without a query validated")
	}
}
