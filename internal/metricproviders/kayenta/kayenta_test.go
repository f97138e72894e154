package kayenta

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	pt "github.com/kanaria-rollouts/kanaria/internal/metricproviders/providertest"
)

// fixedNow is 2025-03-14T09:26:53Z.
var fixedNow = time.Unix(1741944413, 0)

func metric(address string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: "mann-whitney", Interval: "1h", Provider: v1alpha1.MetricProvider{Kayenta: &v1alpha1.KayentaMetric{
		Address: address, Application: "guestbook", CanaryConfigName: "my-test",
		MetricsAccountName: "prom", ConfigurationAccountName: "configs", StorageAccountName: "store",
		Threshold: v1alpha1.KayentaThreshold{Pass: 90, Marginal: 75},
		Scopes: []v1alpha1.KayentaScope{{
			Name:            "default",
			ControlScope:    v1alpha1.ScopeDetail{Scope: "app=guestbook and rollouts-pod-template-hash=abc", Step: 60, Start: "2025-03-14T08:00:00Z", End: "2025-03-14T09:00:00Z"},
			ExperimentScope: v1alpha1.ScopeDetail{Scope: "app=guestbook and rollouts-pod-template-hash=def", Step: 60},
		}},
	}}}
}

func provider() *Provider { return New(Options{Now: func() time.Time { return fixedNow }}) }

var lookup = pt.Exchange{
	Want: pt.Want{Method: http.MethodGet, Path: "/canaryConfig",
		Query: url.Values{"application": {"guestbook"}, "configurationAccountName": {"configs"}}},
	Reply: pt.Reply{Body: `[{"id":"11111111-aaaa","name":"other","updatedTimestamp":1,"applications":["guestbook"]},
		{"id":"22222222-bbbb","name":"my-test","updatedTimestamp":2,"updatedTimestampIso":"2025-03-01T00:00:00Z","applications":["guestbook"]}]`},
}

var start = pt.Exchange{
	Want: pt.Want{Method: http.MethodPost, Path: "/canary/22222222-bbbb",
		Query:  url.Values{"application": {"guestbook"}, "metricsAccountName": {"prom"}, "configurationAccountName": {"configs"}, "storageAccountName": {"store"}},
		Header: map[string]string{"Content-Type": "application/json"},
		Body: `{"scopes":{"default":{
			"controlScope":{"scope":"app=guestbook and rollouts-pod-template-hash=abc","region":"","step":60,"start":"2025-03-14T08:00:00Z","end":"2025-03-14T09:00:00Z"},
			"experimentScope":{"scope":"app=guestbook and rollouts-pod-template-hash=def","region":"","step":60,"start":"2025-03-14T08:26:53Z","end":"2025-03-14T09:26:53Z"}}},
			"thresholds":{"pass":90,"marginal":75}}`},
	Reply: pt.Reply{Body: `{"canaryExecutionId":"01HZX-exec"}`},
}

func poll(reply string) pt.Exchange {
	return pt.Exchange{Want: pt.Want{Method: http.MethodGet, Path: "/canary/01HZX-exec"}, Reply: pt.Reply{Body: reply}}
}

func TestThreeCallFlow(t *testing.T) {
	for _, tc := range []struct {
		score string
		phase v1alpha1.AnalysisPhase
		raw   string
	}{
		{"93.7", v1alpha1.AnalysisPhaseSuccessful, "93"},
		{"90", v1alpha1.AnalysisPhaseSuccessful, "90"},
		{"89.99", v1alpha1.AnalysisPhaseInconclusive, "89"},
		{"75", v1alpha1.AnalysisPhaseInconclusive, "75"},
		{"74.5", v1alpha1.AnalysisPhaseFailed, "74"},
	} {
		t.Run(tc.score, func(t *testing.T) {
			srv := pt.Serve(t, lookup, start,
				poll(`{"complete":false,"status":"running"}`),
				poll(`{"complete":true,"status":"succeeded","result":{"judgeResult":{"score":{"score":`+tc.score+`,"classification":"Pass"}}}}`))
			req := metricproviders.Request{Namespace: "shop", RunName: "guestbook-1", Metric: metric(srv.URL)}
			v, err := provider().Query(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if v.Phase != v1alpha1.AnalysisPhaseRunning || v.ResumeAfter != ResumeDelay || v.Metadata[MetadataExecutionID] != "01HZX-exec" || v.Metadata[MetadataConfigID] != "22222222-bbbb" {
				t.Fatalf("started = %#v", v)
			}
			v, err = provider().Resume(context.Background(), req, v.Metadata)
			if err != nil || v.Phase != v1alpha1.AnalysisPhaseRunning || v.Metadata[MetadataExecutionID] != "01HZX-exec" {
				t.Fatalf("first poll = %#v, %v", v, err)
			}
			v, err = provider().Resume(context.Background(), req, v.Metadata)
			if err != nil {
				t.Fatal(err)
			}
			if v.Phase != tc.phase || v.Raw != tc.raw || v.Metadata["classification"] != "Pass" {
				t.Errorf("judged = %#v, want %s %s", v, tc.phase, tc.raw)
			}
			if srv.Calls() != 4 {
				t.Errorf("calls = %d, want 4", srv.Calls())
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		exchanges []pt.Exchange
		resume    bool
		want      string
	}{
		{"no such config", []pt.Exchange{{Want: lookup.Want, Reply: pt.Reply{Body: `[]`}}}, false, `application "guestbook" has no canary configuration named "my-test" (0 found)`},
		{"unauthorized", []pt.Exchange{{Want: lookup.Want, Reply: pt.Reply{Status: 401, Body: `{"error":"Unauthorized","message":"Full authentication is required","status":401}`}}}, false, "kayenta: GET /canaryConfig: the server rejected the credentials (HTTP 401): Full authentication is required; Unauthorized"},
		{"rate limited", []pt.Exchange{lookup, {Want: start.Want, Reply: pt.Reply{Status: 429, Header: map[string]string{"Retry-After": "2"}}}}, false, "kayenta: POST /canary/22222222-bbbb: rate limited (HTTP 429, retry after 2)"},
		{"server error", []pt.Exchange{{Want: lookup.Want, Reply: pt.Reply{Status: 500, Body: `{"timestamp":1,"status":500,"error":"Internal Server Error","message":"Unable to load configs","path":"/canaryConfig"}`}}}, false, "HTTP 500: Unable to load configs; Internal Server Error"},
		{"malformed", []pt.Exchange{{Want: lookup.Want, Reply: pt.Reply{Body: `[{"id":`}}}, false, "decoding the canary configurations"},
		{"no execution id", []pt.Exchange{lookup, {Want: start.Want, Reply: pt.Reply{Body: `{}`}}}, false, "started no judgement"},
		{"no complete field", []pt.Exchange{poll(`{"status":"running"}`)}, true, "has no complete field"},
		{"failed judgement", []pt.Exchange{poll(`{"complete":true,"status":"terminal","exception":{"details":{"error":"Metric query failed","errors":["no data for canary"]}}}`)}, true, "finished without a score: terminal Metric query failed no data for canary"},
		{"malformed poll", []pt.Exchange{poll(`{"complete":tru`)}, true, "decoding judgement 01HZX-exec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := pt.Serve(t, tc.exchanges...)
			req := metricproviders.Request{Namespace: "shop", RunName: "guestbook-1", Metric: metric(srv.URL)}
			var err error
			if tc.resume {
				_, err = provider().Resume(context.Background(), req, map[string]string{MetadataExecutionID: "01HZX-exec"})
			} else {
				_, err = provider().Query(context.Background(), req)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	m := metric("http://kayenta:8090")
	if err := Validate(m.Provider.Kayenta, m.Interval); err != nil {
		t.Fatal(err)
	}
	if err := Validate(m.Provider.Kayenta, ""); err == nil || !strings.Contains(err.Error(), "scopes[0].experimentScope: set start and end") {
		t.Errorf("a scope without a window validated: %v", err)
	}
	bad := *m.Provider.Kayenta
	bad.Threshold = v1alpha1.KayentaThreshold{Pass: 70, Marginal: 80}
	bad.CanaryConfigName = ""
	bad.Scopes = append(bad.Scopes, bad.Scopes[0])
	err := Validate(&bad, "1h")
	for _, want := range []string{"canaryConfigName: required", "threshold: need 0 <= marginal (80) <= pass (70)", "scopes[1].name: needs a name of its own"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to contain %q", err, want)
		}
	}
}
