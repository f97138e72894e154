// Package skywalking measures metrics with GraphQL queries against an
// Apache SkyWalking OAP server (POST /graphql), as Argo Rollouts'
// skywalking provider does: the query gets a $duration variable covering
// the metric's interval up to now, at minute steps.
package skywalking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/httpcall"
)

const (
	// Name identifies the provider in metrics and messages.
	Name = "skywalking"
	// durationLayout is SkyWalking's minute-step time format.
	durationLayout = "2006-01-02 1504"
)

// Options configures a Provider.
type Options = httpcall.Options

// Provider queries SkyWalking. It is safe for concurrent use.
type Provider struct {
	now  func() time.Time
	call httpcall.Client
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	return &Provider{now: opts.Clock(), call: opts.Client(Name)}
}

// Validate checks a SkyWalking metric without contacting the server.
func Validate(m *v1alpha1.SkyWalkingMetric) error {
	if _, err := httpcall.BaseURL("", m.Address); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	if strings.TrimSpace(m.Query) == "" {
		return errors.New("query: set the GraphQL query; it may use the $duration variable")
	}
	if _, err := interval(m); err != nil {
		return fmt.Errorf("interval: %w", err)
	}
	return nil
}

func interval(m *v1alpha1.SkyWalkingMetric) (time.Duration, error) {
	if m.Interval == "" {
		return 0, errors.New("set the window the query covers, e.g. 5m")
	}
	d, err := m.Interval.Duration()
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: %w", m.Interval, err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", m.Interval)
	}
	return d, nil
}

// duration is SkyWalking's Duration input type.
type duration struct {
	Start string `json:"start"`
	End   string `json:"end"`
	Step  string `json:"step"`
}

type graphQLRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

type graphQLResponse struct {
	Data   any `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// Query runs the metric's GraphQL query; result is the answer's data
// object, as the query shapes it.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	m := req.Metric.Provider.SkyWalking
	if m == nil {
		return metricproviders.Value{}, errors.New("skywalking: metric has no skywalking provider")
	}
	if err := Validate(m); err != nil {
		return metricproviders.Value{}, fmt.Errorf("skywalking: invalid metric %q: %w", req.Metric.Name, err)
	}
	base, _ := httpcall.BaseURL(Name, m.Address)
	window, _ := interval(m)
	// UTC, so the window does not depend on the controller's time zone.
	end := p.now().UTC()
	d := duration{Start: end.Add(-window).Format(durationLayout), End: end.Format(durationLayout), Step: "MINUTE"}
	raw, err := json.Marshal(graphQLRequest{Query: m.Query, Variables: map[string]any{"duration": d}})
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("skywalking: encoding request: %w", err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(raw))
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("skywalking: building request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("Accept", "application/json; charset=utf-8")
	body, err := p.call.Do(r)
	if err != nil {
		return metricproviders.Value{}, err
	}
	var res graphQLResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return metricproviders.Value{}, fmt.Errorf("skywalking: decoding GraphQL answer: %w", err)
	}
	if len(res.Errors) > 0 {
		msgs := make([]string, 0, len(res.Errors))
		for _, e := range res.Errors {
			msgs = append(msgs, e.Message)
		}
		return metricproviders.Value{}, fmt.Errorf("skywalking: query failed: %s", httpcall.Truncate(strings.Join(msgs, "; ")))
	}
	if res.Data == nil {
		return metricproviders.Value{}, errors.New("skywalking: no results returned from SkyWalking query")
	}
	out, err := json.Marshal(res.Data)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("skywalking: encoding result: %w", err)
	}
	return metricproviders.Value{Result: res.Data, Raw: string(out),
		Metadata: map[string]string{"start": d.Start, "end": d.End}}, nil
}
