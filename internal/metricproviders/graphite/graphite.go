// Package graphite measures metrics with Graphite's render API
// (GET /render?target=...&format=json), as Argo Rollouts' graphite provider
// does: the metric's query is the render call's query string.
package graphite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/httpcall"
)

// Name identifies the provider in metrics and messages.
const Name = "graphite"

// Options configures a Provider.
type Options = httpcall.Options

// Provider queries Graphite. It is safe for concurrent use.
type Provider struct {
	call httpcall.Client
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	return &Provider{call: opts.Client(Name)}
}

// space matches the line breaks and indentation of a query written over
// several lines in YAML; Graphite wants one line.
var space = regexp.MustCompile(`\s+`)

// Validate checks a Graphite metric without contacting the server.
func Validate(g *v1alpha1.GraphiteMetric) error {
	if _, err := httpcall.BaseURL("", g.Address); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	_, err := renderQuery(g.Query)
	return err
}

// renderQuery turns the metric's query into the render call's query
// string, with format=json so the answer can be read.
func renderQuery(query string) (url.Values, error) {
	q := strings.TrimSpace(space.ReplaceAllString(query, " "))
	if q == "" {
		return nil, errors.New("query: set the render query, e.g. target=sumSeries(app.requests.*)&from=-5min")
	}
	values, err := url.ParseQuery(q)
	if err != nil {
		return nil, fmt.Errorf("query: not a query string: %w", err)
	}
	if len(values["target"]) == 0 {
		return nil, errors.New("query: needs a target=..., as the render API does")
	}
	values.Set("format", "json")
	return values, nil
}

// Query takes one Graphite measurement for req.Metric.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	g := req.Metric.Provider.Graphite
	if g == nil {
		return metricproviders.Value{}, errors.New("graphite: metric has no graphite provider")
	}
	base, err := httpcall.BaseURL(Name, g.Address)
	if err != nil {
		return metricproviders.Value{}, err
	}
	values, err := renderQuery(g.Query)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("graphite: %w", err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/render?"+values.Encode(), nil)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("graphite: building request: %w", err)
	}
	r.Header.Set("Accept", "application/json")
	body, err := p.call.Do(r)
	if err != nil {
		return metricproviders.Value{}, err
	}
	return parse(body)
}

// series is one target of a render answer.
type series struct {
	Target     string      `json:"target"`
	Datapoints []datapoint `json:"datapoints"`
}

// datapoint is Graphite's [value, timestamp] pair; value is null where the
// series has no data.
type datapoint struct {
	value *float64
}

func (d *datapoint) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("datapoint is not a [value, timestamp] pair: %w", err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("datapoint has %d elements, want [value, timestamp]", len(pair))
	}
	var v any
	if err := json.Unmarshal(pair[0], &v); err != nil {
		return fmt.Errorf("datapoint value: %w", err)
	}
	switch v := v.(type) {
	case nil:
	case float64:
		d.value = &v
	case string:
		// Some Graphite-compatible servers quote numbers.
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("datapoint value %q is not a number", v)
		}
		d.value = &f
	default:
		return fmt.Errorf("datapoint value %s is not a number", pair[0])
	}
	return nil
}

// parse reads the first target's points as the reference does: result is
// the list of its non-null values and the measurement's value shows them
// with six decimals.
func parse(body []byte) (metricproviders.Value, error) {
	var res []series
	if err := json.Unmarshal(body, &res); err != nil {
		return metricproviders.Value{}, fmt.Errorf("graphite: decoding render answer: %w", err)
	}
	if len(res) == 0 {
		return metricproviders.Value{}, errors.New("graphite: no values found: the query matched no series")
	}
	values := make([]float64, 0, len(res[0].Datapoints))
	parts := make([]string, 0, len(res[0].Datapoints))
	for _, dp := range res[0].Datapoints {
		if dp.value != nil {
			values = append(values, *dp.value)
			parts = append(parts, strconv.FormatFloat(*dp.value, 'f', 6, 64))
		}
	}
	meta := map[string]string{"target": httpcall.Truncate(res[0].Target)}
	if len(res) > 1 {
		meta["series"] = strconv.Itoa(len(res))
	}
	return metricproviders.Value{Result: values, Raw: "[" + strings.Join(parts, ",") + "]", Metadata: meta}, nil
}
