// Package cloudmonitoring is the `kanaria.dev/cloud-monitoring` metric
// provider: it reads Google Cloud Monitoring, either with PromQL through
// the Prometheus-compatible query API or with a time-series filter through
// projects.timeSeries.list, authorised the Google way (Application Default
// Credentials, or a service-account key from a Secret).
//
// It lives under the metric's open `plugin` map, so manifests stay valid
// for the reference's schema:
//
//	provider:
//	  plugin:
//	    kanaria.dev/cloud-monitoring:
//	      project: my-project
//	      promql: sum(rate(http_requests_total{code=~"5.."}[5m]))
package cloudmonitoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/httpcall"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/prometheus"
)

const (
	// Name is the provider's key in a metric's plugin map.
	Name = "kanaria.dev/cloud-monitoring"

	// Scope is the OAuth2 scope requested: reading metrics, nothing more.
	Scope = "https://www.googleapis.com/auth/monitoring.read"

	// DefaultEndpoint is the Cloud Monitoring API.
	DefaultEndpoint = "https://monitoring.googleapis.com"

	// EnvEndpoint names the controller's environment variable that replaces
	// DefaultEndpoint, e.g. with a Private Service Connect endpoint. It is
	// the operator's setting, not a metric's: a metric that could choose
	// the address could send the controller's Google token anywhere.
	EnvEndpoint = "KANARIA_CLOUD_MONITORING_ENDPOINT"

	// MetadataQuery and MetadataFilter record the query actually sent,
	// with its arguments, so users can see what {{args.*}} turned into.
	MetadataQuery  = "ResolvedPromQLQuery"
	MetadataFilter = "ResolvedFilter"
	// MetadataStart and MetadataEnd record a filter query's interval.
	MetadataStart = "startTime"
	MetadataEnd   = "endTime"
	// MetadataWarnings records warnings of a PromQL answer and execution
	// errors of a filter answer (a partial result).
	MetadataWarnings = "warnings"

	// maxPages bounds how many pages one filter query follows, so a
	// backend that keeps returning a page token cannot hold a worker.
	maxPages = 100
)

// Options configure a Provider. The zero value is usable.
type Options struct {
	// Endpoint replaces DefaultEndpoint; empty means the value of
	// EnvEndpoint, else DefaultEndpoint.
	Endpoint string
	// HTTPClient sends API and token requests; nil means a fresh client.
	HTTPClient *http.Client
	// Timeout bounds each API request; zero means httpcall.DefaultTimeout.
	Timeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Provider queries Cloud Monitoring. It is safe for concurrent use.
type Provider struct {
	endpoint string
	now      func() time.Time
	call     httpcall.Client
	tokens   *tokens
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv(EnvEndpoint)
	}
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	hopts := httpcall.Options{HTTPClient: hc, Now: opts.Now, Timeout: opts.Timeout}
	return &Provider{
		endpoint: strings.TrimRight(endpoint, "/"),
		now:      hopts.Clock(),
		call:     hopts.Client(Name),
		tokens:   newTokens(hc, opts.Timeout),
	}
}

// Query takes one measurement. A PromQL answer converts as the Prometheus
// provider's does (a scalar to a float64, a vector to a []float64 with one
// element per series); a filter answer becomes a []float64 with the latest
// point of each series.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	raw, err := metricproviders.PluginConfig(req, Name)
	if err != nil {
		return metricproviders.Value{}, err
	}
	c, err := Parse(raw)
	if err != nil {
		return metricproviders.Value{}, err
	}
	if _, err := httpcall.BaseURL(Name, p.endpoint); err != nil {
		return metricproviders.Value{}, fmt.Errorf("%s: %s: %w", Name, EnvEndpoint, err)
	}
	tok, err := p.tokens.token(ctx, req, c.Credentials)
	if err != nil {
		return metricproviders.Value{}, err
	}
	var v metricproviders.Value
	if strings.TrimSpace(c.PromQL) != "" {
		v, err = p.promQL(ctx, c, tok)
	} else {
		v, err = p.timeSeries(ctx, c, tok)
	}
	// A backend may echo the request, Authorization header included, in
	// an error or in the warnings of an answer.
	if err != nil {
		return metricproviders.Value{}, httpcall.Redact(err, tok)
	}
	for k, s := range v.Metadata {
		v.Metadata[k] = strings.ReplaceAll(s, tok, "[redacted]")
	}
	return v, nil
}

// projectPath is the API's resource name of the project.
func projectPath(c *Config) string {
	return "projects/" + url.PathEscape(c.Project)
}

// get sends an authorised GET and returns the body of a 2xx answer.
func (p *Provider) get(ctx context.Context, path string, query url.Values, tok string) ([]byte, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, p.endpoint+path+"?"+query.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: building request: %w", Name, err)
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Accept", "application/json")
	return p.call.Do(r)
}

// promResponse is the Prometheus API's envelope.
type promResponse struct {
	Status string `json:"status"`
	Data   struct {
		ResultType model.ValueType `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
}

func (p *Provider) promQL(ctx context.Context, c *Config, tok string) (metricproviders.Value, error) {
	path := "/v1/" + projectPath(c) + "/location/global/prometheus/api/v1/query"
	q := url.Values{"query": {c.PromQL}, "time": {p.now().UTC().Format(time.RFC3339Nano)}}
	body, err := p.get(ctx, path, q, tok)
	if err != nil {
		return metricproviders.Value{}, err
	}
	var res promResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return metricproviders.Value{}, fmt.Errorf("%s: decoding the PromQL answer: %w", Name, err)
	}
	if res.Status != "success" {
		return metricproviders.Value{}, fmt.Errorf("%s: PromQL query failed: %s: %s", Name, res.ErrorType, httpcall.Truncate(res.Error))
	}
	value, err := decodeResult(res.Data.ResultType, res.Data.Result)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("%s: decoding the PromQL answer: %w", Name, err)
	}
	result, rawText, err := prometheus.Convert(value)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("%s: %w", Name, err)
	}
	md := map[string]string{MetadataQuery: c.PromQL}
	if len(res.Warnings) > 0 {
		md[MetadataWarnings] = httpcall.Truncate(strings.Join(res.Warnings, "; "))
	}
	return metricproviders.Value{Result: result, Raw: rawText, Metadata: md}, nil
}

// decodeResult reads the result of the given type; nil for an answer that
// carried none.
func decodeResult(typ model.ValueType, raw json.RawMessage) (model.Value, error) {
	if len(raw) == 0 || string(raw) == "null" {
		if typ == model.ValVector || typ == model.ValMatrix {
			// An empty result: no series matched.
			return model.Vector{}, nil
		}
		return nil, nil
	}
	var v model.Value
	switch typ {
	case model.ValScalar:
		v = &model.Scalar{}
	case model.ValVector:
		v = &model.Vector{}
	case model.ValMatrix:
		v = &model.Matrix{}
	case model.ValString:
		v = &model.String{}
	default:
		return nil, fmt.Errorf("unknown result type %q", typ)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case *model.Vector:
		return *v, nil
	case *model.Matrix:
		return *v, nil
	}
	return v, nil
}

// listResponse is the part of a ListTimeSeriesResponse that is read.
type listResponse struct {
	TimeSeries      []timeSeries `json:"timeSeries"`
	NextPageToken   string       `json:"nextPageToken"`
	ExecutionErrors []struct {
		Message string `json:"message"`
	} `json:"executionErrors"`
}

type timeSeries struct {
	Points []struct {
		Interval struct {
			EndTime time.Time `json:"endTime"`
		} `json:"interval"`
		Value typedValue `json:"value"`
	} `json:"points"`
}

// typedValue is the API's TypedValue. Its 64-bit integers are strings in
// JSON, and its doubles may be the strings NaN, Infinity and -Infinity.
type typedValue struct {
	BoolValue         *bool           `json:"boolValue"`
	Int64Value        json.RawMessage `json:"int64Value"`
	DoubleValue       json.RawMessage `json:"doubleValue"`
	StringValue       *string         `json:"stringValue"`
	DistributionValue *struct {
		Count json.RawMessage `json:"count"`
		Mean  json.RawMessage `json:"mean"`
	} `json:"distributionValue"`
}

// float reads the value as a number: a distribution by its mean, which is
// NaN when it counted nothing (the API then sends 0, which a threshold
// such as "latency below 500ms" would wrongly pass).
func (v typedValue) float() (float64, error) {
	switch {
	case v.DoubleValue != nil:
		return jsonNumber(v.DoubleValue)
	case v.Int64Value != nil:
		return jsonNumber(v.Int64Value)
	case v.BoolValue != nil:
		if *v.BoolValue {
			return 1, nil
		}
		return 0, nil
	case v.DistributionValue != nil:
		n, err := jsonNumber(v.DistributionValue.Count)
		if err != nil || n == 0 {
			return math.NaN(), err
		}
		return jsonNumber(v.DistributionValue.Mean)
	case v.StringValue != nil:
		return 0, errors.New("the series holds strings, not numbers")
	}
	return 0, errors.New("a point has no value")
}

// jsonNumber reads a protobuf JSON number: a number, or a string holding
// one, NaN, Infinity or -Infinity. Absent means 0, as in protobuf.
func jsonNumber(raw json.RawMessage) (float64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", httpcall.Truncate(s))
		}
		return f, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, fmt.Errorf("%s is not a number", httpcall.Truncate(string(raw)))
	}
	return f, nil
}

func (p *Provider) timeSeries(ctx context.Context, c *Config, tok string) (metricproviders.Value, error) {
	lookback, _ := c.lookback()
	end := p.now().UTC()
	start := end.Add(-lookback)
	q := url.Values{
		"filter":             {c.Filter},
		"interval.startTime": {start.Format(time.RFC3339Nano)},
		"interval.endTime":   {end.Format(time.RFC3339Nano)},
		"view":               {"FULL"},
	}
	if a := c.Aggregation; a != nil {
		if a.AlignmentPeriod != "" {
			period, _ := a.period()
			q.Set("aggregation.alignmentPeriod", period)
		}
		if a.PerSeriesAligner != "" {
			q.Set("aggregation.perSeriesAligner", a.PerSeriesAligner)
		}
		if a.CrossSeriesReducer != "" {
			q.Set("aggregation.crossSeriesReducer", a.CrossSeriesReducer)
		}
		for _, f := range a.GroupByFields {
			q.Add("aggregation.groupByFields", f)
		}
	}
	path := "/v3/" + projectPath(c) + "/timeSeries"
	values := []float64{}
	var warnings []string
	for page := 0; ; page++ {
		if page == maxPages {
			return metricproviders.Value{}, fmt.Errorf("%s: the answer ran past %d pages; narrow the filter or aggregate the series", Name, maxPages)
		}
		body, err := p.get(ctx, path, q, tok)
		if err != nil {
			return metricproviders.Value{}, err
		}
		var res listResponse
		if err := json.Unmarshal(body, &res); err != nil {
			return metricproviders.Value{}, fmt.Errorf("%s: decoding the timeSeries.list answer: %w", Name, err)
		}
		for i, ts := range res.TimeSeries {
			if len(ts.Points) == 0 {
				continue
			}
			// The API returns points newest first; choose by end time
			// rather than rely on the order.
			latest := 0
			for j := range ts.Points {
				if ts.Points[j].Interval.EndTime.After(ts.Points[latest].Interval.EndTime) {
					latest = j
				}
			}
			f, err := ts.Points[latest].Value.float()
			if err != nil {
				return metricproviders.Value{}, fmt.Errorf("%s: series %d of page %d: %w", Name, i, page+1, err)
			}
			values = append(values, f)
		}
		for _, e := range res.ExecutionErrors {
			warnings = append(warnings, e.Message)
		}
		if res.NextPageToken == "" {
			break
		}
		q.Set("pageToken", res.NextPageToken)
	}
	md := map[string]string{MetadataFilter: c.Filter,
		MetadataStart: start.Format(time.RFC3339), MetadataEnd: end.Format(time.RFC3339)}
	if len(warnings) > 0 {
		sort.Strings(warnings)
		md[MetadataWarnings] = httpcall.Truncate(strings.Join(warnings, "; "))
	}
	return metricproviders.Value{Result: values, Raw: prometheus.FormatList(values), Metadata: md}, nil
}
