package analysis

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestOnlyMetricPluginsAreRefused(t *testing.T) {
	supported := map[string]v1alpha1.MetricProvider{
		"newRelic":            {NewRelic: &v1alpha1.NewRelicMetric{Query: "q"}},
		"wavefront":           {Wavefront: &v1alpha1.WavefrontMetric{Query: "q"}},
		"kayenta":             {Kayenta: &v1alpha1.KayentaMetric{Address: "a"}},
		"graphite":            {Graphite: &v1alpha1.GraphiteMetric{Query: "q"}},
		"influxdb":            {Influxdb: &v1alpha1.InfluxdbMetric{Query: "q"}},
		"skywalking":          {SkyWalking: &v1alpha1.SkyWalkingMetric{Query: "q"}},
		"job":                 {Job: &v1alpha1.JobMetric{}},
		"kanaria.dev/slo":     {Plugin: map[string]json.RawMessage{"kanaria.dev/slo": json.RawMessage(`{}`)}},
		"kanaria.dev/compare": {Plugin: map[string]json.RawMessage{"kanaria.dev/compare": json.RawMessage(`{}`)}},
	}
	supported["kanaria.dev/cloud-monitoring"] = v1alpha1.MetricProvider{Plugin: map[string]json.RawMessage{"kanaria.dev/cloud-monitoring": json.RawMessage(`{}`)}}
	for name, p := range supported {
		if errs := ValidateMetrics([]v1alpha1.Metric{{Name: "m", Provider: p}}, field.NewPath("spec", "metrics")); len(errs) != 0 {
			t.Errorf("%s was refused: %v", name, errs)
		}
	}
	for name, p := range map[string]v1alpha1.MetricProvider{
		"a plugin binary":         {Plugin: map[string]json.RawMessage{"example.com/p": json.RawMessage(`{}`)}},
		"two keys":                {Plugin: map[string]json.RawMessage{"kanaria.dev/slo": json.RawMessage(`{}`), "example.com/p": json.RawMessage(`{}`)}},
		"an unknown kanaria name": {Plugin: map[string]json.RawMessage{"kanaria.dev/nope": json.RawMessage(`{}`)}},
	} {
		metrics := []v1alpha1.Metric{{Name: "ok", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x"}}}, {Name: "m", Provider: p}}
		errs := ValidateMetrics(metrics, field.NewPath("spec", "metrics"))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "spec.metrics[1].provider.plugin") {
			t.Errorf("%s: %v", name, errs)
		}
	}
}
