package analysis

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// unsupportedProvider names, by their JSON field, the providers the
// published API declares and Kanaria does not measure with.
func unsupportedProvider(p *v1alpha1.MetricProvider) string {
	switch {
	case p.NewRelic != nil:
		return "newRelic"
	case p.Wavefront != nil:
		return "wavefront"
	case p.Kayenta != nil:
		return "kayenta"
	case p.Graphite != nil:
		return "graphite"
	case p.Influxdb != nil:
		return "influxdb"
	case p.SkyWalking != nil:
		return "skywalking"
	case len(p.Plugin) > 0:
		return "plugin"
	}
	return ""
}

// ValidateMetrics lists the metrics of a run or template that name a
// provider Kanaria does not measure with, or web authentication it cannot
// give. Such a run ends in Error at once
// with a message naming the field, instead of taking one failing
// measurement after another.
func ValidateMetrics(metrics []v1alpha1.Metric, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range metrics {
		if name := unsupportedProvider(&metrics[i].Provider); name != "" {
			errs = append(errs, field.Invalid(path.Index(i).Child("provider", name), "{...}",
				"is not supported by Kanaria: metrics measure with prometheus, web, datadog, cloudWatch or job"))
		}
		if w := metrics[i].Provider.Web; w != nil && w.Authentication.Sigv4 != (v1alpha1.Sigv4Config{}) {
			// SigV4 signs for an AWS service; a generic endpoint has none.
			errs = append(errs, field.Invalid(path.Index(i).Child("provider", "web", "authentication", "sigv4"), "{...}",
				"is not supported: sign web requests with oauth2 or headers"))
		}
	}
	return errs
}
