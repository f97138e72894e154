package analysis

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/cloudmonitoring"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/compare"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/slo"
)

// unsupportedProvider names, by its JSON field, a provider the published
// API declares and Kanaria does not measure with: a metric plugin, since
// Kanaria runs no plugin binaries. Its own providers live in the plugin
// map under a single kanaria.dev/ key.
func unsupportedProvider(p *v1alpha1.MetricProvider) string {
	if len(p.Plugin) == 0 {
		return ""
	}
	if len(p.Plugin) == 1 {
		for _, own := range []string{slo.Name, cloudmonitoring.Name, compare.Name} {
			if _, ok := p.Plugin[own]; ok {
				return ""
			}
		}
	}
	return "plugin"
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
				"is not supported by Kanaria: it runs no metric plugins; its own providers are built in (see docs/analysis.md), e.g. plugin: {kanaria.dev/slo: {...}}"))
		}
		if w := metrics[i].Provider.Web; w != nil && w.Authentication.Sigv4 != (v1alpha1.Sigv4Config{}) {
			// SigV4 signs for an AWS service; a generic endpoint has none.
			errs = append(errs, field.Invalid(path.Index(i).Child("provider", "web", "authentication", "sigv4"), "{...}",
				"is not supported: sign web requests with oauth2 or headers"))
		}
	}
	return errs
}
