// Package compare is the `kanaria.dev/compare` metric provider: a
// statistical judge of a canary against a baseline running beside it, in
// the style of Kayenta's. For each metric it reads both sides' samples over
// a lookback at a step, compares them with the Mann-Whitney U test and the
// Hodges-Lehmann interval of the shift, classifies the metric Pass, High,
// Low or NoData, and scores the whole from 0 to 100 against pass and
// marginal thresholds. The measurement's phase is the verdict.
//
// It lives under the metric's open `plugin` map, so manifests stay valid
// for the reference's schema:
//
//	provider:
//	  plugin:
//	    kanaria.dev/compare:
//	      lookback: 10m
//	      step: 30s
//	      source: {prometheus: {address: http://prometheus:9090}}
//	      metrics:
//	      - name: error-ratio
//	        canary: sum(rate(errors{hash="{{args.canary-hash}}"}[1m]))
//	        baseline: sum(rate(errors{hash="{{args.baseline-hash}}"}[1m]))
//	        direction: increase
//	        critical: true
//	      scoring: {pass: 95, marginal: 75}
package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// Name is the provider's key in a metric's plugin map.
const Name = "kanaria.dev/compare"

// Defaults of the configuration.
const (
	DefaultLookback      = "10m"
	DefaultStep          = "30s"
	DefaultConfidence    = 0.95
	DefaultOutlierFactor = 3.0
	DefaultPass          = 95.0
	DefaultMarginal      = 75.0
)

// MaxSamples bounds lookback ÷ step: the interval looks at every pairwise
// difference, so its cost grows with the square of the samples.
const MaxSamples = 1000

// Direction says which change of a metric is bad.
type Direction string

const (
	// Increase: a higher canary is bad (errors, latency).
	Increase Direction = "increase"
	// Decrease: a lower canary is bad (throughput, success ratio).
	Decrease Direction = "decrease"
	// Either: any significant change is bad.
	Either Direction = "either"
)

func (d Direction) bad() string {
	switch d {
	case Increase:
		return "increase"
	case Decrease:
		return "decrease"
	}
	return "change"
}

// Outlier handling.
const (
	// OutliersKeep compares every sample.
	OutliersKeep = "keep"
	// OutliersRemove drops each side's values outside Tukey's fences
	// first (see RemoveOutliers).
	OutliersRemove = "remove"
)

// Config is the provider's configuration in the plugin map.
type Config struct {
	// Lookback is how far back the samples reach (default 10m).
	Lookback string `json:"lookback,omitempty"`
	// Step is the resolution of the range queries (default 30s).
	Step string `json:"step,omitempty"`
	// Source is where the queries run.
	Source Source `json:"source"`
	// Metrics are compared one by one.
	Metrics []Metric `json:"metrics"`
	// Scoring maps the score to a phase.
	Scoring *Scoring `json:"scoring,omitempty"`
}

// Source is the backend that returns both sides' series.
type Source struct {
	// Prometheus runs each query as a range query over the lookback. Its
	// address, headers, authentication, timeout and insecure are those of
	// the prometheus provider; query and rangeQuery come from the metric.
	Prometheus *v1alpha1.PrometheusMetric `json:"prometheus,omitempty"`
}

// Metric is one metric compared between canary and baseline.
type Metric struct {
	// Name identifies the metric in the result.
	Name string `json:"name"`
	// Canary and Baseline are the queries of each side's series. Samples
	// of every series a query returns are pooled.
	Canary   string `json:"canary"`
	Baseline string `json:"baseline"`
	// Direction is which change is bad (default either).
	Direction Direction `json:"direction,omitempty"`
	// Confidence is the level of the interval (default 0.95).
	Confidence float64 `json:"confidence,omitempty"`
	// AllowedIncrease is how far above the baseline's median the canary
	// may be before it is High, as a ratio: 1.2 tolerates 20% (default 1).
	AllowedIncrease float64 `json:"allowedIncrease,omitempty"`
	// AllowedDecrease is how far below it the canary may be before it is
	// Low, as a ratio: 0.8 tolerates 20% (default 1).
	AllowedDecrease float64 `json:"allowedDecrease,omitempty"`
	// Critical fails the whole measurement when this metric fails.
	Critical bool `json:"critical,omitempty"`
	// MustHaveData counts NoData as a failure instead of leaving the
	// metric out of the score.
	MustHaveData bool `json:"mustHaveData,omitempty"`
	// Weight is the metric's share in the score (default 1).
	Weight *float64 `json:"weight,omitempty"`
	// Outliers is keep (default) or remove.
	Outliers string `json:"outliers,omitempty"`
	// OutlierFactor is Tukey's k for remove (default 3).
	OutlierFactor float64 `json:"outlierFactor,omitempty"`
}

func (m Metric) direction() Direction {
	if m.Direction == "" {
		return Either
	}
	return m.Direction
}

func (m Metric) confidence() float64 {
	if m.Confidence == 0 {
		return DefaultConfidence
	}
	return m.Confidence
}

func (m Metric) allowedIncrease() float64 {
	if m.AllowedIncrease == 0 {
		return 1
	}
	return m.AllowedIncrease
}

func (m Metric) allowedDecrease() float64 {
	if m.AllowedDecrease == 0 {
		return 1
	}
	return m.AllowedDecrease
}

func (m Metric) weight() float64 {
	if m.Weight == nil {
		return 1
	}
	return *m.Weight
}

func (m Metric) outlierFactor() float64 {
	if m.OutlierFactor == 0 {
		return DefaultOutlierFactor
	}
	return m.OutlierFactor
}

// Scoring holds the thresholds, in points of the 0-100 score: at least
// Pass is Successful, at least Marginal Inconclusive, below it Failed.
type Scoring struct {
	// Pass is the least score that is Successful.
	Pass float64 `json:"pass"`
	// Marginal is the least score that is Inconclusive rather than Failed.
	Marginal float64 `json:"marginal"`
}

func (c *Config) thresholds() (pass, marginal float64) {
	if c.Scoring == nil {
		return DefaultPass, DefaultMarginal
	}
	return c.Scoring.Pass, c.Scoring.Marginal
}

func (c *Config) lookback() string {
	if c.Lookback == "" {
		return DefaultLookback
	}
	return c.Lookback
}

func (c *Config) step() string {
	if c.Step == "" {
		return DefaultStep
	}
	return c.Step
}

// Parse reads and checks the configuration of a metric's plugin map.
func Parse(raw json.RawMessage) (*Config, error) {
	return metricproviders.ParsePlugin(Name, raw, (*Config).validate)
}

// Endpoint is the address of the Prometheus the range queries run on,
// which is what a measurement waits on.
func (c *Config) Endpoint() string {
	if c.Source.Prometheus == nil {
		return ""
	}
	return c.Source.Prometheus.Address
}

// parseDuration reads a Go (1m30s) or Prometheus (1d) duration.
func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return 0, fmt.Errorf("%q must be positive", s)
		}
		return d, nil
	}
	d, err := model.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 30s, 10m or 1h", s)
	}
	return time.Duration(d), nil
}

func (c *Config) validate() error {
	var errs []error
	lookback, lerr := parseDuration(c.lookback())
	if lerr != nil {
		errs = append(errs, fmt.Errorf("lookback: %w", lerr))
	}
	step, serr := parseDuration(c.step())
	if serr != nil {
		errs = append(errs, fmt.Errorf("step: %w", serr))
	}
	if lerr == nil && serr == nil && lookback/step > MaxSamples {
		errs = append(errs, fmt.Errorf("lookback %s at step %s gives %d samples a side; at most %d", c.lookback(), c.step(), lookback/step, MaxSamples))
	}
	switch p := c.Source.Prometheus; {
	case p == nil:
		errs = append(errs, errors.New("source: set prometheus, e.g. source: {prometheus: {address: http://prometheus:9090}}"))
	case p.Address == "":
		errs = append(errs, errors.New("source.prometheus.address: required"))
	case p.Query != "" || p.RangeQuery != nil:
		errs = append(errs, errors.New("source.prometheus: query and rangeQuery come from each metric's canary and baseline and the lookback; leave them out"))
	}
	if len(c.Metrics) == 0 {
		errs = append(errs, errors.New("metrics: at least one is required"))
	}
	seen := map[string]bool{}
	for i, m := range c.Metrics {
		at := fmt.Sprintf("metrics[%d]", i)
		if m.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", at))
		} else if seen[m.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", at, m.Name))
		}
		seen[m.Name] = true
		if strings.TrimSpace(m.Canary) == "" || strings.TrimSpace(m.Baseline) == "" {
			errs = append(errs, fmt.Errorf("%s: canary and baseline queries are required", at))
		}
		switch m.Direction {
		case "", Increase, Decrease, Either:
		default:
			errs = append(errs, fmt.Errorf("%s.direction: %q is not increase, decrease or either", at, m.Direction))
		}
		if m.Confidence != 0 && !(m.Confidence >= 0.5 && m.Confidence < 1) {
			errs = append(errs, fmt.Errorf("%s.confidence: %v is not between 0.5 and 1, e.g. 0.95", at, m.Confidence))
		}
		if m.AllowedIncrease != 0 && m.AllowedIncrease < 1 {
			errs = append(errs, fmt.Errorf("%s.allowedIncrease: %v is a ratio of at least 1, e.g. 1.2 for 20%%", at, m.AllowedIncrease))
		}
		if m.AllowedDecrease != 0 && !(m.AllowedDecrease > 0 && m.AllowedDecrease <= 1) {
			errs = append(errs, fmt.Errorf("%s.allowedDecrease: %v is a ratio above 0 and at most 1, e.g. 0.8 for 20%%", at, m.AllowedDecrease))
		}
		if m.Weight != nil && !(*m.Weight >= 0) {
			errs = append(errs, fmt.Errorf("%s.weight: must not be negative", at))
		}
		switch m.Outliers {
		case "", OutliersKeep, OutliersRemove:
		default:
			errs = append(errs, fmt.Errorf("%s.outliers: %q is not keep or remove", at, m.Outliers))
		}
		if m.OutlierFactor < 0 || (m.OutlierFactor > 0 && m.Outliers != OutliersRemove) {
			errs = append(errs, fmt.Errorf("%s.outlierFactor: needs outliers: remove and must be positive", at))
		}
	}
	total := 0.0
	for _, m := range c.Metrics {
		total += m.weight()
	}
	if len(c.Metrics) > 0 && !(total > 0) {
		errs = append(errs, errors.New("metrics: every weight is 0; at least one must count"))
	}
	if s := c.Scoring; s != nil {
		if !(s.Marginal >= 0 && s.Marginal <= s.Pass && s.Pass <= 100) {
			errs = append(errs, fmt.Errorf("scoring: want 0 <= marginal (%v) <= pass (%v) <= 100", s.Marginal, s.Pass))
		}
	}
	return errors.Join(errs...)
}

// Provider judges canaries. It is safe for concurrent use.
type Provider struct {
	prometheus metricproviders.Querier
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider whose range queries go through the engine's
// prometheus provider, so they get its client, authentication, timeouts,
// metrics and masking.
func New(prometheus metricproviders.Querier) *Provider {
	return &Provider{prometheus: prometheus}
}

// Query reads both sides of every metric and judges them.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	raw, ok := req.Metric.Provider.Plugin[Name]
	if !ok {
		return metricproviders.Value{}, fmt.Errorf("%s: metric has no %s plugin configuration", Name, Name)
	}
	c, err := Parse(raw)
	if err != nil {
		return metricproviders.Value{}, err
	}
	if p.prometheus == nil {
		return metricproviders.Value{}, fmt.Errorf("%s: no prometheus provider to run the queries", Name)
	}
	lookback, _ := parseDuration(c.lookback())
	samples := map[string]Samples{}
	for _, m := range c.Metrics {
		canary, err := p.series(ctx, req, c, lookback, m.Canary)
		if err != nil {
			return metricproviders.Value{}, fmt.Errorf("%s: metric %s, canary: %w", Name, m.Name, err)
		}
		baseline, err := p.series(ctx, req, c, lookback, m.Baseline)
		if err != nil {
			return metricproviders.Value{}, fmt.Errorf("%s: metric %s, baseline: %w", Name, m.Name, err)
		}
		samples[m.Name] = Samples{Canary: canary, Baseline: baseline}
	}
	j := Judge(c, samples)
	score := formatScore(j.Score)
	return metricproviders.Value{
		Result: j.Score, Raw: score, Phase: j.Phase, Message: j.Message,
		Metadata: Metadata(j),
	}, nil
}

// series runs one query as a range query over the lookback and returns
// every sample of every series it yields.
func (p *Provider) series(ctx context.Context, req metricproviders.Request, c *Config, lookback time.Duration, query string) ([]float64, error) {
	pm := *c.Source.Prometheus
	pm.Query = query
	pm.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{
		Start: fmt.Sprintf(`now() - duration("%ds")`, int64(lookback/time.Second)),
		End:   "now()",
		Step:  c.step(),
	}
	v, err := p.prometheus.Query(ctx, metricproviders.Request{Namespace: req.Namespace, RunName: req.RunName, Secrets: req.Secrets,
		Metric: v1alpha1.Metric{Name: req.Metric.Name, Provider: v1alpha1.MetricProvider{Prometheus: &pm}}})
	if err != nil {
		return nil, err
	}
	switch r := v.Result.(type) {
	case []float64:
		return r, nil
	case nil:
		return nil, nil
	case float64:
		return []float64{r}, nil
	}
	return nil, fmt.Errorf("the query returned %T, not a series", v.Result)
}

// Metadata keys of a measurement.
const (
	// MetadataScore is the score, 0 to 100.
	MetadataScore = "score"
	// MetadataMetricPrefix starts the key of each metric's line, which
	// reads "class=High p=0.0012 u=410 n=21/21 interval=[0.01,0.03]
	// estimate=0.02 effect=2.1 confidence=0.95 method=exact", plus
	// removed=N when outliers were dropped and critical=true.
	MetadataMetricPrefix = "metric/"
)

// Metadata records every number the judge used, one short line per
// metric, so a person can see why; sample values stay out.
func Metadata(j Judgement) map[string]string {
	meta := map[string]string{MetadataScore: formatScore(j.Score)}
	for _, r := range j.Metrics {
		line := fmt.Sprintf("class=%s p=%s u=%s n=%d/%d interval=[%s,%s] estimate=%s effect=%s confidence=%s",
			r.Class, num(r.P), num(r.U), r.Canary, r.Baseline, num(r.Low), num(r.High), num(r.Estimate), num(r.Effect), num(r.Confidence))
		if r.Method != "" {
			line += " method=" + r.Method
		}
		if r.Removed > 0 {
			line += " removed=" + strconv.Itoa(r.Removed)
		}
		if r.Critical {
			line += " critical=true"
		}
		meta[MetadataMetricPrefix+r.Name] = line
	}
	return meta
}

// num writes a number in four significant digits, NaN as "NaN".
func num(f float64) string {
	if math.IsNaN(f) {
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// Report is a measurement's judgement as its metadata records it, for
// whoever shows it (the dashboard).
type Report struct {
	// Score is the score, 0 to 100.
	Score string `json:"score"`
	// Metrics are the per-metric lines, by name.
	Metrics []ReportMetric `json:"metrics"`
}

// ReportMetric is one metric's line, its numbers as recorded.
// The numbers stay strings, as recorded, so the page shows exactly what the
// measurement holds.
type ReportMetric struct {
	// Name of the compared metric.
	Name string `json:"name"`
	// Class is Pass, High, Low or NoData.
	Class string `json:"class"`
	// P is the two-sided p-value and U the canary's statistic.
	P string `json:"p"`
	U string `json:"u"`
	// N is the canary's and the baseline's sample counts, "21/21".
	N string `json:"n"`
	// Interval is the shift's interval, "[low,high]", and Estimate the
	// shift.
	Interval string `json:"interval"`
	Estimate string `json:"estimate"`
	// Effect is the canary's location as a ratio of the baseline's.
	Effect string `json:"effect"`
	// Confidence is the interval's level.
	Confidence string `json:"confidence,omitempty"`
	// Method is exact or asymptotic.
	Method string `json:"method,omitempty"`
	// Removed counts the outliers dropped.
	Removed string `json:"removed,omitempty"`
	// Critical says a failure fails the whole measurement.
	Critical bool `json:"critical,omitempty"`
}

// ParseMetadata reads the judgement back from a measurement's metadata;
// ok is false for a measurement of another provider.
func ParseMetadata(meta map[string]string) (report Report, ok bool) {
	score, has := meta[MetadataScore]
	if !has {
		return Report{}, false
	}
	report.Score = score
	for key, line := range meta {
		name, isMetric := strings.CutPrefix(key, MetadataMetricPrefix)
		if !isMetric {
			continue
		}
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, found := strings.Cut(f, "="); found {
				fields[k] = v
			}
		}
		if fields["class"] == "" {
			continue
		}
		report.Metrics = append(report.Metrics, ReportMetric{Name: name, Class: fields["class"], P: fields["p"], U: fields["u"],
			N: fields["n"], Interval: fields["interval"], Estimate: fields["estimate"], Effect: fields["effect"],
			Confidence: fields["confidence"], Method: fields["method"], Removed: fields["removed"], Critical: fields["critical"] == "true"})
	}
	if len(report.Metrics) == 0 {
		return Report{}, false
	}
	sort.Slice(report.Metrics, func(i, j int) bool { return report.Metrics[i].Name < report.Metrics[j].Name })
	return report, true
}
