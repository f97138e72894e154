package analysis

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestUnsupportedProvidersAreRefusedByName(t *testing.T) {
	cases := map[string]v1alpha1.MetricProvider{
		"newRelic":   {NewRelic: &v1alpha1.NewRelicMetric{Query: "q"}},
		"wavefront":  {Wavefront: &v1alpha1.WavefrontMetric{Query: "q"}},
		"kayenta":    {Kayenta: &v1alpha1.KayentaMetric{Address: "a"}},
		"graphite":   {Graphite: &v1alpha1.GraphiteMetric{Query: "q"}},
		"influxdb":   {Influxdb: &v1alpha1.InfluxdbMetric{Query: "q"}},
		"skywalking": {SkyWalking: &v1alpha1.SkyWalkingMetric{Query: "q"}},
		"plugin":     {Plugin: map[string]json.RawMessage{"example.com/p": json.RawMessage(`{}`)}},
	}
	for name, p := range cases {
		metrics := []v1alpha1.Metric{{Name: "ok", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x"}}}, {Name: "m", Provider: p}}
		errs := ValidateMetrics(metrics, field.NewPath("spec", "metrics"))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "spec.metrics[1].provider."+name) {
			t.Errorf("%s: %v", name, errs)
		}
	}
	web := []v1alpha1.Metric{{Name: "w", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x",
		Authentication: v1alpha1.Authentication{Sigv4: v1alpha1.Sigv4Config{Region: "eu-west-1"}}}}}}
	if errs := ValidateMetrics(web, field.NewPath("spec", "metrics")); len(errs) != 1 || !strings.Contains(errs[0].Error(), "spec.metrics[0].provider.web.authentication.sigv4") {
		t.Errorf("web sigv4: %v", errs)
	}
	if errs := ValidateMetrics([]v1alpha1.Metric{{Name: "j", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}}, field.NewPath("spec")); len(errs) != 0 {
		t.Errorf("a job metric was refused: %v", errs)
	}
}
