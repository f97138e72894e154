// Package validation checks a metric's provider fields offline, with each
// provider's own rules, so `kanaria lint` finds a bad address or a missing
// query before the first measurement does.
package validation

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/cloudmonitoring"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/compare"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/graphite"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/influxdb"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/kayenta"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/newrelic"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/skywalking"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/slo"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/wavefront"
)

// placeholder matches an argument reference, filled in only when a run
// measures.
var placeholder = regexp.MustCompile(`{{\s*args\.[^}]*}}`)

// stand-in replaces placeholders while checking: it is a valid host, query
// fragment and duration at once, so only what the user wrote literally is
// judged.
const standIn = "1m"

// Metric returns the problem with m's provider fields, naming the field
// below provider (e.g. "graphite.address: ..."), or nil.
func Metric(m v1alpha1.Metric) error {
	p, interval, err := substituted(m)
	if err != nil {
		return err
	}
	var what string
	switch {
	case p.Graphite != nil:
		what, err = "graphite", graphite.Validate(p.Graphite)
	case p.Wavefront != nil:
		what, err = "wavefront", wavefront.Validate(p.Wavefront)
	case p.NewRelic != nil:
		what, err = "newRelic", newrelic.Validate(p.NewRelic)
	case p.Influxdb != nil:
		what, err = "influxdb", influxdb.Validate(p.Influxdb)
	case p.SkyWalking != nil:
		what, err = "skywalking", skywalking.Validate(p.SkyWalking)
	case p.Kayenta != nil:
		what, err = "kayenta", kayenta.Validate(p.Kayenta, interval)
	case p.Plugin[cloudmonitoring.Name] != nil:
		_, err = cloudmonitoring.Parse(p.Plugin[cloudmonitoring.Name])
		return err
	case p.Plugin[slo.Name] != nil:
		// Parse names the provider itself.
		_, err = slo.Parse(p.Plugin[slo.Name])
		return err
	case p.Plugin[compare.Name] != nil:
		_, err = compare.Parse(p.Plugin[compare.Name])
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// substituted returns the provider and interval with every placeholder
// replaced by the stand-in.
func substituted(m v1alpha1.Metric) (v1alpha1.MetricProvider, v1alpha1.DurationString, error) {
	raw, err := json.Marshal(m.Provider)
	if err != nil {
		return v1alpha1.MetricProvider{}, "", fmt.Errorf("encoding the provider: %w", err)
	}
	var p v1alpha1.MetricProvider
	if err := json.Unmarshal(placeholder.ReplaceAll(raw, []byte(standIn)), &p); err != nil {
		return v1alpha1.MetricProvider{}, "", fmt.Errorf("decoding the provider: %w", err)
	}
	return p, v1alpha1.DurationString(placeholder.ReplaceAllString(string(m.Interval), standIn)), nil
}
