package validation

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestMetric(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    v1alpha1.Metric
		want string
	}{
		{"graphite with args", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{
			Address: "http://{{args.host}}:8080", Query: "target=app.{{ args.service }}.errors"}}}, ""},
		{"graphite without scheme", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{
			Address: "graphite:8080", Query: "target=a"}}}, "graphite: address: \"graphite:8080\" is not an http(s) URL"},
		{"skywalking interval from args", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{SkyWalking: &v1alpha1.SkyWalkingMetric{
			Address: "http://oap:12800", Query: "q", Interval: "{{args.window}}"}}}, ""},
		{"newrelic without query", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{NewRelic: &v1alpha1.NewRelicMetric{}}}, "newRelic: query: set the NRQL query"},
		{"influxdb without query", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Influxdb: &v1alpha1.InfluxdbMetric{Profile: "x"}}}, "influxdb: query"},
		{"wavefront without address", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Wavefront: &v1alpha1.WavefrontMetric{Query: "ts(x)"}}}, "wavefront: address"},
		{"kayenta without window", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Kayenta: &v1alpha1.KayentaMetric{
			Address: "http://k", Application: "a", CanaryConfigName: "c", Threshold: v1alpha1.KayentaThreshold{Pass: 90, Marginal: 75},
			Scopes: []v1alpha1.KayentaScope{{Name: "default", ControlScope: v1alpha1.ScopeDetail{Scope: "a"}, ExperimentScope: v1alpha1.ScopeDetail{Scope: "b"}}}}}},
			"kayenta: scopes[0].controlScope: set start and end"},
		{"cloud-monitoring with args", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{
			"kanaria.dev/cloud-monitoring": json.RawMessage(`{"project":"{{args.project}}","filter":"x","lookback":"{{ args.window }}"}`)}}}, ""},
		{"cloud-monitoring without project", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{
			"kanaria.dev/cloud-monitoring": json.RawMessage(`{"promql":"up"}`)}}}, "kanaria.dev/cloud-monitoring: project: required"},
		{"compare with args", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/compare": json.RawMessage(
			`{"lookback": "{{args.lookback}}", "source": {"prometheus": {"address": "http://{{args.prom}}:9090"}},
			  "metrics": [{"name": "e", "canary": "x{h=\"{{args.canary-hash}}\"}", "baseline": "x", "direction": "increase"}]}`)}}}, ""},
		{"compare without metrics", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/compare": json.RawMessage(
			`{"source": {"prometheus": {"address": "http://p:9090"}}}`)}}}, "kanaria.dev/compare: metrics: at least one is required"},
		{"prometheus is not checked here", v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{}}}, ""},
	} {
		err := Metric(tc.m)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Metric = %v, want %q", tc.name, err, tc.want)
		}
	}
}
