// Package slo is the `kanaria.dev/slo` metric provider: an error-budget
// gate. A metric states a service level objective as users write it for
// Sloth or Pyrra (an objective such as 99.9, a budget period such as 30d,
// and the SLI as an error query and a total query, or an error-ratio
// query, each with {{window}} where the range goes), and each measurement
// reports the burn rate over every window of the multi-window,
// multi-burn-rate policy and the share of the period's budget left.
//
// It lives under the metric's open `plugin` map, so manifests stay valid
// for the reference's schema:
//
//	provider:
//	  plugin:
//	    kanaria.dev/slo:
//	      prometheus: {address: http://prometheus:9090}
//	      objective: 99.9
//	      errorQuery: sum(rate(http_requests_total{code=~"5.."}[{{window}}]))
//	      totalQuery: sum(rate(http_requests_total[{{window}}]))
package slo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/cloudmonitoring"
)

// Name is the provider's key in a metric's plugin map.
const Name = "kanaria.dev/slo"

// DefaultPeriod is the budget period when a metric sets none.
const DefaultPeriod = "30d"

// Window is one pair of the multi-window, multi-burn-rate policy: the
// budget burns too fast when both the long and the short window burn
// faster than BurnRate.
type Window struct {
	// Long is the window that shows the burn is significant, e.g. 1h.
	Long string `json:"long"`
	// Short is the window that shows it is still going on, e.g. 5m.
	Short string `json:"short"`
	// BurnRate is the threshold; zero means BudgetShare × period ÷ Long.
	BurnRate float64 `json:"burnRate,omitempty"`
	// BudgetShare is the share of the period's budget that burning at
	// BurnRate for Long spends, e.g. 0.02.
	BudgetShare float64 `json:"budgetShare,omitempty"`
}

// DefaultWindows are the SRE workbook's pairs for a 30-day budget (14.4
// over 1h and 5m, 6 over 6h and 30m, 3 over 1d and 2h, 1 over 3d and 6h),
// as budget shares so that other periods scale.
var DefaultWindows = []Window{
	{Long: "1h", Short: "5m", BudgetShare: 0.02},
	{Long: "6h", Short: "30m", BudgetShare: 0.05},
	{Long: "1d", Short: "2h", BudgetShare: 0.10},
	{Long: "3d", Short: "6h", BudgetShare: 0.10},
}

// Prometheus is where the SLI's queries run.
type Prometheus struct {
	// Address of the Prometheus server, e.g. http://prometheus:9090.
	Address string `json:"address"`
	// Headers added to every request, e.g. a tenant header.
	Headers []v1alpha1.WebMetricHeader `json:"headers,omitempty"`
}

// Config is the provider's configuration in the plugin map.
type Config struct {
	// Prometheus runs the queries.
	Prometheus *Prometheus `json:"prometheus,omitempty"`
	// Provider runs the queries instead: one of the built-in providers
	// (prometheus, datadog, newRelic, wavefront, graphite, influxdb,
	// skywalking, or the kanaria.dev/cloud-monitoring plugin) configured
	// as in a metric, without its query, which each SLI query fills in
	// (cloud-monitoring's filter when it sets one, else its promql).
	// {{window}} is replaced in its strings too.
	Provider *v1alpha1.MetricProvider `json:"provider,omitempty"`
	// Objective is the share of good events promised, in percent.
	Objective float64 `json:"objective"`
	// Period is the budget period (default 30d).
	Period string `json:"period,omitempty"`
	// SLI is what is judged, e.g. the canary's Pods.
	SLI
	// Baseline, when set, is measured over the same windows for
	// comparison, e.g. the stable Pods or the whole service: conditions
	// read result.baseline.burnRate["5m"].
	Baseline *SLI `json:"baseline,omitempty"`
	// Windows replaces the default policy.
	Windows []Window `json:"windows,omitempty"`
	// MinRequests is the least TotalQuery must read over the shortest
	// window for the measurement to judge anything: below it the
	// measurement is Inconclusive, so a quiet canary is not passed.
	MinRequests float64 `json:"minRequests,omitempty"`
}

// SLI is a service level indicator: the queries of bad and all events, or
// of their ratio, each with {{window}} where the range goes.
type SLI struct {
	// ErrorQuery and TotalQuery count bad and all events over {{window}}.
	ErrorQuery string `json:"errorQuery,omitempty"`
	TotalQuery string `json:"totalQuery,omitempty"`
	// ErrorRatioQuery is the share of bad events over {{window}}, instead
	// of the two above.
	ErrorRatioQuery string `json:"errorRatioQuery,omitempty"`
}

// validate checks the SLI's queries; windowed says the provider's own
// configuration already carries {{window}} (a cloud-monitoring filter's
// lookback), so the queries need not.
func (s *SLI) validate(prefix string, windowed bool) []error {
	var errs []error
	ratio := s.ErrorRatioQuery != ""
	pair := s.ErrorQuery != "" || s.TotalQuery != ""
	switch {
	case ratio && pair:
		errs = append(errs, fmt.Errorf("%sset errorQuery and totalQuery, or errorRatioQuery, not both", prefix))
	case !ratio && (s.ErrorQuery == "" || s.TotalQuery == ""):
		errs = append(errs, fmt.Errorf("%sset errorQuery and totalQuery, or errorRatioQuery", prefix))
	}
	for _, q := range []struct{ name, q string }{{"errorQuery", s.ErrorQuery}, {"totalQuery", s.TotalQuery}, {"errorRatioQuery", s.ErrorRatioQuery}} {
		if q.q != "" && !windowed && !windowPlaceholder.MatchString(q.q) {
			errs = append(errs, fmt.Errorf("%s%s: needs {{window}} (or {{windowSeconds}}) where the range goes, e.g. [{{window}}]", prefix, q.name))
		}
	}
	return errs
}

// Parse reads and checks the configuration of a metric's plugin map.
func Parse(raw json.RawMessage) (*Config, error) {
	return metricproviders.ParsePlugin(Name, raw, (*Config).validate)
}

func (c *Config) validate() error {
	var errs []error
	switch {
	case (c.Prometheus == nil) == (c.Provider == nil):
		errs = append(errs, errors.New("set prometheus, or provider, to run the queries"))
	case c.Prometheus != nil && c.Prometheus.Address == "":
		errs = append(errs, errors.New("prometheus.address: required"))
	case c.Provider != nil && SourceName(c.Provider) == "":
		errs = append(errs, errors.New("provider: set one of prometheus, datadog, newRelic, wavefront, graphite, influxdb, skywalking or plugin: {kanaria.dev/cloud-monitoring: ...}"))
	}
	if !(c.Objective > 0 && c.Objective < 100) {
		errs = append(errs, fmt.Errorf("objective: %v is not a percentage between 0 and 100, e.g. 99.9", c.Objective))
	}
	if _, err := ParseWindow(c.period()); err != nil {
		errs = append(errs, fmt.Errorf("period: %w", err))
	}
	windowed := false
	if c.Provider != nil {
		raw, _ := json.Marshal(c.Provider)
		windowed = windowPlaceholder.Match(raw)
	}
	errs = append(errs, c.SLI.validate("", windowed)...)
	if c.Baseline != nil {
		errs = append(errs, c.Baseline.validate("baseline: ", windowed)...)
	}
	if c.MinRequests < 0 || (c.MinRequests > 0 && c.ErrorRatioQuery != "") {
		errs = append(errs, errors.New("minRequests: needs totalQuery (counting requests) and must not be negative"))
	}
	for i, w := range c.Windows {
		for _, d := range []string{w.Long, w.Short} {
			if _, err := ParseWindow(d); err != nil {
				errs = append(errs, fmt.Errorf("windows[%d]: %w", i, err))
			}
		}
		if (w.BurnRate > 0) == (w.BudgetShare > 0) {
			errs = append(errs, fmt.Errorf("windows[%d]: set burnRate or budgetShare", i))
		}
	}
	return errors.Join(errs...)
}

// Endpoint is the provider a measurement's queries run on, configured as
// for its first query (its host may depend on the query's window): what
// the measurement waits on is that provider's endpoint.
func (c *Config) Endpoint() (*v1alpha1.MetricProvider, error) {
	q := c.ErrorRatioQuery
	if q == "" {
		q = c.ErrorQuery
	}
	p, err := c.query(q, c.period())
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func (c *Config) period() string {
	if c.Period == "" {
		return DefaultPeriod
	}
	return c.Period
}

// windowPlaceholder is where a query's range goes: {{window}} in
// Prometheus notation (5m, 1d), or {{windowSeconds}} as a number of
// seconds for languages that spell durations otherwise (NRQL's
// SINCE 300 seconds ago, Flux's -300s).
var windowPlaceholder = regexp.MustCompile(`{{\s*window(Seconds)?\s*}}`)

// fillWindow puts window w into s.
func fillWindow(s, w string) string {
	d, _ := ParseWindow(w)
	return windowPlaceholder.ReplaceAllStringFunc(s, func(m string) string {
		if strings.Contains(m, "Seconds") {
			return strconv.FormatInt(int64(d/time.Second), 10)
		}
		return w
	})
}

var windowSyntax = regexp.MustCompile(`^([0-9]+)(ms|s|m|h|d|w)$`)

// ParseWindow reads a window in Prometheus's notation (5m, 1h, 1d, 4w).
func ParseWindow(s string) (time.Duration, error) {
	m := windowSyntax.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a window such as 5m, 1h or 30d", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute,
		"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, nil
}

// Alert is one pair of the policy as measured.
type Alert struct {
	Long, Short string
	// BurnRate is the pair's threshold.
	BurnRate float64
	// Firing says both windows burn faster than BurnRate.
	Firing bool
}

// Judgement is what one measurement found.
type Judgement struct {
	// BurnRate is each window's error ratio divided by the error budget
	// (1 - objective), by window.
	BurnRate map[string]float64
	// ErrorRatio is each window's share of bad events.
	ErrorRatio map[string]float64
	// BudgetRemaining is the share of the period's budget left: 1 is
	// untouched, 0 spent, below 0 overspent.
	BudgetRemaining float64
	// Alerts are the policy's pairs, longest first.
	Alerts []Alert
}

// Thresholds returns the policy's pairs with their burn-rate thresholds for
// the configured period: budget share × period ÷ long window.
func (c *Config) Thresholds() ([]Alert, error) {
	period, err := ParseWindow(c.period())
	if err != nil {
		return nil, err
	}
	windows := c.Windows
	if len(windows) == 0 {
		windows = DefaultWindows
	}
	out := make([]Alert, 0, len(windows))
	for _, w := range windows {
		rate := w.BurnRate
		if rate == 0 {
			long, err := ParseWindow(w.Long)
			if err != nil {
				return nil, err
			}
			rate = w.BudgetShare * float64(period) / float64(long)
		}
		out = append(out, Alert{Long: w.Long, Short: w.Short, BurnRate: rate})
	}
	return out, nil
}

// Judge computes the burn rates and the budget left from each window's
// error ratio (the period's included). It is a pure function of its input.
func Judge(c *Config, ratios map[string]float64) (Judgement, error) {
	alerts, err := c.Thresholds()
	if err != nil {
		return Judgement{}, err
	}
	budget := 1 - c.Objective/100
	j := Judgement{BurnRate: map[string]float64{}, ErrorRatio: map[string]float64{}}
	for w, r := range ratios {
		j.ErrorRatio[w] = r
		j.BurnRate[w] = r / budget
	}
	j.BudgetRemaining = 1 - ratios[c.period()]/budget
	for _, a := range alerts {
		a.Firing = j.BurnRate[a.Long] > a.BurnRate && j.BurnRate[a.Short] > a.BurnRate
		j.Alerts = append(j.Alerts, a)
	}
	return j, nil
}

// Result is the judgement as conditions see it: result.burnRate["1h"],
// result.budgetRemaining, result.firing (any pair of the policy), and the
// same under result.baseline when baseline is not nil.
func Result(j Judgement, baseline *Judgement) map[string]any {
	res := j.Result()
	if baseline != nil {
		res["baseline"] = baseline.Result()
	}
	return res
}

// Result is the judgement as conditions see it: result.burnRate["1h"],
// result.budgetRemaining, result.firing (any pair of the policy).
func (j Judgement) Result() map[string]any {
	burn, ratio := map[string]any{}, map[string]any{}
	for w, v := range j.BurnRate {
		burn[w] = v
	}
	for w, v := range j.ErrorRatio {
		ratio[w] = v
	}
	firing := false
	alerts := make([]any, 0, len(j.Alerts))
	for _, a := range j.Alerts {
		firing = firing || a.Firing
		alerts = append(alerts, map[string]any{"long": a.Long, "short": a.Short, "burnRate": a.BurnRate, "firing": a.Firing})
	}
	return map[string]any{"burnRate": burn, "errorRatio": ratio, "budgetRemaining": j.BudgetRemaining,
		"firing": firing, "alerts": alerts}
}

// Source runs one query through a provider and returns its number; ok is
// false when there is no data.
type Source func(ctx context.Context, req metricproviders.Request, provider v1alpha1.MetricProvider) (value float64, ok bool, err error)

// Provider measures error budgets. It is safe for concurrent use.
type Provider struct {
	run Source
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider whose queries go through run.
func New(run Source) *Provider { return &Provider{run: run} }

// SourceName names the provider that runs the queries, as the engine's
// queriers are keyed, or "" for one that cannot serve an SLI.
func SourceName(p *v1alpha1.MetricProvider) string {
	switch {
	case p.Prometheus != nil:
		return "prometheus"
	case p.Datadog != nil:
		return "datadog"
	case p.NewRelic != nil:
		return "newrelic"
	case p.Wavefront != nil:
		return "wavefront"
	case p.Graphite != nil:
		return "graphite"
	case p.Influxdb != nil:
		return "influxdb"
	case p.SkyWalking != nil:
		return "skywalking"
	case len(p.Plugin[cloudmonitoring.Name]) > 0:
		return cloudmonitoring.Name
	}
	return ""
}

// QuerierSource runs queries through the engine's providers, with the
// measurement's Secrets, so they get each provider's credentials,
// timeouts, metrics and masking.
func QuerierSource(queriers map[string]metricproviders.Querier) Source {
	return func(ctx context.Context, req metricproviders.Request, p v1alpha1.MetricProvider) (float64, bool, error) {
		name := SourceName(&p)
		q := queriers[name]
		if q == nil {
			return 0, false, fmt.Errorf("%s: no %q provider to run the SLI", Name, name)
		}
		v, err := q.Query(ctx, metricproviders.Request{Namespace: req.Namespace, RunName: req.RunName, Secrets: req.Secrets,
			Metric: v1alpha1.Metric{Name: req.Metric.Name, Provider: p}})
		if err != nil {
			return 0, false, err
		}
		return Number(v.Result)
	}
}

// Number reads one number from a provider's result: a number, the first
// element of a list, or the only value of a map (an NRQL row such as
// {"count": 12}). ok is false when the result holds no data.
func Number(v any) (float64, bool, error) {
	switch r := v.(type) {
	case nil:
		return 0, false, nil
	case float64:
		return r, !math.IsNaN(r), nil
	case []float64:
		if len(r) == 0 {
			return 0, false, nil
		}
		return Number(r[0])
	case []any:
		if len(r) == 0 {
			return 0, false, nil
		}
		return Number(r[0])
	case map[string]any:
		if len(r) == 1 {
			for _, x := range r {
				return Number(x)
			}
		}
		return 0, false, fmt.Errorf("%s: the query returned a row of %d values; select one", Name, len(r))
	}
	return 0, false, fmt.Errorf("%s: the query returned %T, not a number", Name, v)
}

// query is the provider that runs an SLI query over window w.
func (c *Config) query(query, w string) (v1alpha1.MetricProvider, error) {
	q := fillWindow(query, w)
	if c.Prometheus != nil {
		return v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
			Address: c.Prometheus.Address, Headers: c.Prometheus.Headers, Query: q}}, nil
	}
	raw, err := json.Marshal(c.Provider)
	if err != nil {
		return v1alpha1.MetricProvider{}, fmt.Errorf("%s: encoding provider: %w", Name, err)
	}
	var p v1alpha1.MetricProvider
	if err := json.Unmarshal([]byte(fillWindow(string(raw), w)), &p); err != nil {
		return v1alpha1.MetricProvider{}, fmt.Errorf("%s: provider after {{window}}: %w", Name, err)
	}
	switch {
	case p.Prometheus != nil:
		p.Prometheus.Query = q
	case p.Datadog != nil:
		p.Datadog.Query = q
	case p.NewRelic != nil:
		p.NewRelic.Query = q
	case p.Wavefront != nil:
		p.Wavefront.Query = q
	case p.Graphite != nil:
		p.Graphite.Query = q
	case p.Influxdb != nil:
		p.Influxdb.Query = q
	case p.SkyWalking != nil:
		p.SkyWalking.Query = q
	case len(p.Plugin[cloudmonitoring.Name]) > 0:
		raw, err := cloudmonitoring.WithQuery(p.Plugin[cloudmonitoring.Name], q)
		if err != nil {
			return v1alpha1.MetricProvider{}, fmt.Errorf("%s: %w", Name, err)
		}
		p.Plugin = map[string]json.RawMessage{cloudmonitoring.Name: raw}
	default:
		return v1alpha1.MetricProvider{}, fmt.Errorf("%s: provider cannot run an SLI", Name)
	}
	return p, nil
}

// Query measures the metric's error budget.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	raw, err := metricproviders.PluginConfig(req, Name)
	if err != nil {
		return metricproviders.Value{}, err
	}
	c, err := Parse(raw)
	if err != nil {
		return metricproviders.Value{}, err
	}
	alerts, err := c.Thresholds()
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("%s: %w", Name, err)
	}
	windows := map[string]bool{c.period(): true}
	shortest := ""
	var shortestD time.Duration
	for _, a := range alerts {
		for _, w := range []string{a.Long, a.Short} {
			windows[w] = true
			if d, _ := ParseWindow(w); shortest == "" || d < shortestD {
				shortest, shortestD = w, d
			}
		}
	}
	names := make([]string, 0, len(windows))
	for w := range windows {
		names = append(names, w)
	}
	sort.Strings(names)

	ratios := map[string]float64{}
	meta := map[string]string{}
	for _, w := range names {
		r, total, ok, err := p.ratio(ctx, req, c, &c.SLI, w)
		if err != nil {
			return metricproviders.Value{}, err
		}
		if w == shortest && c.MinRequests > 0 && total < c.MinRequests {
			return metricproviders.Value{
				Phase:    v1alpha1.AnalysisPhaseInconclusive,
				Message:  fmt.Sprintf("%s: %g requests in the last %s, fewer than minRequests %g: too quiet to judge", Name, total, w, c.MinRequests),
				Raw:      fmt.Sprintf("requests[%s]=%g", w, total),
				Metadata: map[string]string{"requests": strconv.FormatFloat(total, 'g', -1, 64)},
			}, nil
		}
		if !ok {
			// No events in a window: nothing burnt there.
			r = 0
			meta["noData"] = strings.TrimPrefix(meta["noData"]+","+w, ",")
		}
		ratios[w] = r
	}
	j, err := Judge(c, ratios)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("%s: %w", Name, err)
	}
	var baseline *Judgement
	if c.Baseline != nil {
		base := map[string]float64{}
		for _, w := range names {
			r, _, ok, err := p.ratio(ctx, req, c, c.Baseline, w)
			if err != nil {
				return metricproviders.Value{}, fmt.Errorf("baseline: %w", err)
			}
			if !ok {
				r = 0
			}
			base[w] = r
		}
		b, err := Judge(c, base)
		if err != nil {
			return metricproviders.Value{}, fmt.Errorf("%s: %w", Name, err)
		}
		baseline = &b
		meta["baselineBudgetRemaining"] = strconv.FormatFloat(b.BudgetRemaining, 'f', 4, 64)
	}
	res := Result(j, baseline)
	out, err := json.Marshal(res)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("%s: encoding the judgement: %w", Name, err)
	}
	for _, a := range j.Alerts {
		meta["burnRate/"+a.Long+"/"+a.Short] = fmt.Sprintf("%.4g/%.4g over %.4g", j.BurnRate[a.Long], j.BurnRate[a.Short], a.BurnRate)
	}
	meta["budgetRemaining"] = strconv.FormatFloat(j.BudgetRemaining, 'f', 4, 64)
	return metricproviders.Value{Result: res, Raw: string(out), Metadata: meta}, nil
}

// ratio reads the error ratio over window w, and the total when the SLI is
// an error and a total query. ok is false when the window has no events.
func (p *Provider) ratio(ctx context.Context, req metricproviders.Request, c *Config, sli *SLI, w string) (ratio, total float64, ok bool, err error) {
	run := func(query string) (float64, bool, error) {
		src, err := c.query(query, w)
		if err != nil {
			return 0, false, err
		}
		return p.run(ctx, req, src)
	}
	if sli.ErrorRatioQuery != "" {
		r, ok, err := run(sli.ErrorRatioQuery)
		if err != nil {
			return 0, 0, false, fmt.Errorf("%s: error ratio over %s: %w", Name, w, err)
		}
		return r, 0, ok, nil
	}
	total, tok, err := run(sli.TotalQuery)
	if err != nil {
		return 0, 0, false, fmt.Errorf("%s: total over %s: %w", Name, w, err)
	}
	if !tok || total <= 0 {
		return 0, 0, false, nil
	}
	bad, bok, err := run(sli.ErrorQuery)
	if err != nil {
		return 0, 0, false, fmt.Errorf("%s: errors over %s: %w", Name, w, err)
	}
	if !bok {
		// Error counters that never fired have no series at all.
		bad = 0
	}
	return bad / total, total, true, nil
}
