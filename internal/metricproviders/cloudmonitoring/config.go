package cloudmonitoring

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// Config is the provider's configuration in a metric's plugin map. Field
// names follow the Cloud Monitoring API's own (filter, interval,
// aggregation.alignmentPeriod, perSeriesAligner, crossSeriesReducer,
// groupByFields), so a query copied from Google's documentation or Metrics
// Explorer reads the same here.
type Config struct {
	// Project is the project (ID or number) whose metrics scope is read.
	Project string `json:"project"`
	// PromQL is a query for the Prometheus-compatible API, evaluated at the
	// time of the measurement.
	PromQL string `json:"promql,omitempty"`
	// Filter is a time-series filter for projects.timeSeries.list, instead
	// of PromQL.
	Filter string `json:"filter,omitempty"`
	// Lookback is how far back from now a filter query's interval starts
	// (default 5m).
	Lookback string `json:"lookback,omitempty"`
	// Aggregation aligns and reduces a filter query's series.
	Aggregation *Aggregation `json:"aggregation,omitempty"`
	// Credentials, when set, name a service-account key to use instead of
	// Application Default Credentials.
	Credentials *Credentials `json:"credentials,omitempty"`
}

// Aggregation is the API's Aggregation message, as query parameters.
type Aggregation struct {
	// AlignmentPeriod is the width of each aligned point, e.g. 60s.
	AlignmentPeriod string `json:"alignmentPeriod,omitempty"`
	// PerSeriesAligner turns each series into aligned points, e.g.
	// ALIGN_RATE.
	PerSeriesAligner string `json:"perSeriesAligner,omitempty"`
	// CrossSeriesReducer combines aligned series, e.g. REDUCE_SUM.
	CrossSeriesReducer string `json:"crossSeriesReducer,omitempty"`
	// GroupByFields keeps these labels apart when reducing, e.g.
	// resource.label."url_map_name".
	GroupByFields []string `json:"groupByFields,omitempty"`
}

// Credentials select how requests are authorised.
type Credentials struct {
	// SecretRef names a key of a Secret in the AnalysisRun's namespace that
	// holds a service-account key file (JSON).
	SecretRef *SecretRef `json:"secretRef,omitempty"`
}

// SecretRef is one key of a Secret.
type SecretRef struct {
	// Name of the Secret.
	Name string `json:"name"`
	// Key within the Secret's data.
	Key string `json:"key"`
}

// DefaultLookback is the interval of a filter query that sets none.
const DefaultLookback = 5 * time.Minute

// projectPattern accepts project IDs (including domain-scoped ones such as
// example.com:proj) and project numbers; anything else would change the
// request path.
var projectPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]*$`)

// alignerPattern and reducerPattern accept the API's enum spelling, so a
// typo fails in lint rather than as a 400 at the first measurement.
var (
	alignerPattern = regexp.MustCompile(`^ALIGN_[A-Z0-9_]+$`)
	reducerPattern = regexp.MustCompile(`^REDUCE_[A-Z0-9_]+$`)
)

// Parse reads and checks the configuration of a metric's plugin map entry.
func Parse(raw json.RawMessage) (*Config, error) {
	return metricproviders.ParsePlugin(Name, raw, (*Config).validate)
}

// Endpoint is the project a measurement reads: there is one Google API for
// all, and a project's quota is what one slow or throttled query shares.
func (c *Config) Endpoint() string {
	return c.Project
}

func (c *Config) validate() error {
	var errs []error
	switch {
	case c.Project == "":
		errs = append(errs, errors.New("project: required, e.g. my-project"))
	case !projectPattern.MatchString(c.Project):
		errs = append(errs, fmt.Errorf("project: %q is not a project ID or number", c.Project))
	}
	promql, filter := strings.TrimSpace(c.PromQL) != "", strings.TrimSpace(c.Filter) != ""
	if promql == filter {
		errs = append(errs, errors.New("set promql, or filter, (one of them)"))
	}
	if promql && (c.Lookback != "" || c.Aggregation != nil) {
		errs = append(errs, errors.New("lookback and aggregation apply to filter queries; write the range and aggregation into the promql query"))
	}
	if _, err := c.lookback(); err != nil {
		errs = append(errs, fmt.Errorf("lookback: %w", err))
	}
	if a := c.Aggregation; a != nil {
		errs = append(errs, a.validate()...)
	}
	if cr := c.Credentials; cr != nil {
		switch {
		case cr.SecretRef == nil:
			errs = append(errs, errors.New("credentials: set secretRef, or leave credentials out to use Application Default Credentials"))
		case cr.SecretRef.Name == "" || cr.SecretRef.Key == "":
			errs = append(errs, errors.New("credentials.secretRef: set name and key"))
		}
	}
	return errors.Join(errs...)
}

func (a *Aggregation) validate() []error {
	var errs []error
	if a.AlignmentPeriod != "" {
		if _, err := a.period(); err != nil {
			errs = append(errs, fmt.Errorf("aggregation.alignmentPeriod: %w", err))
		}
	}
	if a.PerSeriesAligner != "" && !alignerPattern.MatchString(a.PerSeriesAligner) {
		errs = append(errs, fmt.Errorf("aggregation.perSeriesAligner: %q is not an aligner such as ALIGN_RATE", a.PerSeriesAligner))
	}
	if a.CrossSeriesReducer != "" && !reducerPattern.MatchString(a.CrossSeriesReducer) {
		errs = append(errs, fmt.Errorf("aggregation.crossSeriesReducer: %q is not a reducer such as REDUCE_SUM", a.CrossSeriesReducer))
	}
	// The API's own rules, which it would otherwise report as a 400.
	aligned := a.PerSeriesAligner != "" && a.PerSeriesAligner != "ALIGN_NONE"
	if aligned && a.AlignmentPeriod == "" {
		errs = append(errs, errors.New("aggregation.alignmentPeriod: required with a perSeriesAligner other than ALIGN_NONE"))
	}
	reduced := a.CrossSeriesReducer != "" && a.CrossSeriesReducer != "REDUCE_NONE"
	if reduced && !aligned {
		errs = append(errs, errors.New("aggregation.perSeriesAligner: required (other than ALIGN_NONE) with a crossSeriesReducer"))
	}
	if len(a.GroupByFields) > 0 && !reduced {
		errs = append(errs, errors.New("aggregation.groupByFields: needs a crossSeriesReducer"))
	}
	return errs
}

// lookback is the filter query's interval length.
func (c *Config) lookback() (time.Duration, error) {
	if c.Lookback == "" {
		return DefaultLookback, nil
	}
	return positive(c.Lookback)
}

// period is the alignment period as the API spells durations: whole
// seconds with an "s".
func (a *Aggregation) period() (string, error) {
	d, err := positive(a.AlignmentPeriod)
	if err != nil {
		return "", err
	}
	if d%time.Second != 0 {
		return "", fmt.Errorf("%q is not a whole number of seconds", a.AlignmentPeriod)
	}
	return fmt.Sprintf("%ds", int64(d/time.Second)), nil
}

// positive reads a duration as Prometheus writes them (5m, 1d, 1w), or as
// Go does (1.5h), so an error budget's windows fit a filter's lookback.
func positive(s string) (time.Duration, error) {
	var d time.Duration
	if md, err := model.ParseDuration(s); err == nil {
		d = time.Duration(md)
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 5m", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return d, nil
}

// WithQuery returns the configuration raw with query as its query: the
// filter when raw sets one, else promql. The error-budget provider fills
// each SLI query in this way.
func WithQuery(raw json.RawMessage, query string) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	if f, ok := m["filter"].(string); ok && f != "" {
		m["filter"] = query
	} else {
		m["promql"] = query
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return out, nil
}
