// Package influxdb measures metrics with Flux queries against InfluxDB 2.x
// (POST /api/v2/query), through InfluxData's Go client, with the profile
// Secret Argo Rollouts' influxdb provider reads.
package influxdb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/httpcall"
	"github.com/kanaria-rollouts/kanaria/internal/version"
)

const (
	// Name identifies the provider in metrics and messages.
	Name = "influxdb"
	// DefaultProfile is the Secret read when a metric names no profile.
	DefaultProfile = "influxdb"
	// DefaultTimeout bounds one query when Options sets none.
	DefaultTimeout = 30 * time.Second

	// Keys of the profile Secret, as the reference names them.
	keyToken   = "authToken"
	keyAddress = "address"
	keyOrg     = "org"

	// maxValues caps the values kept from one answer: measurements live in
	// the AnalysisRun's status.
	maxValues = 1000
)

// Options configures a Provider.
type Options struct {
	// Namespace is the controller's namespace, where profile Secrets are.
	Namespace string
	// HTTPClient sends the requests; nil means one shared http.Client.
	HTTPClient *http.Client
	// Timeout bounds each query; zero means DefaultTimeout.
	Timeout time.Duration
}

// Provider runs Flux queries. It is safe for concurrent use.
type Provider struct {
	namespace string
	client    *http.Client
	timeout   time.Duration
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	p := &Provider{namespace: opts.Namespace, client: opts.HTTPClient, timeout: opts.Timeout}
	if p.client == nil {
		p.client = &http.Client{}
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	return p
}

// Validate checks an InfluxDB metric without contacting the server.
func Validate(m *v1alpha1.InfluxdbMetric) error {
	if strings.TrimSpace(m.Query) == "" {
		return errors.New("query: set the Flux query, e.g. from(bucket: \"app\") |> range(start: -5m)")
	}
	return nil
}

// profile is what the profile Secret holds; token must never reach an
// error, metadata or a log.
type profile struct {
	token, address, org string
}

func (p *Provider) profile(ctx context.Context, req metricproviders.Request, name string) (profile, error) {
	if req.Secrets == nil {
		return profile{}, errors.New("influxdb: no secret reader configured")
	}
	var pr profile
	for _, k := range []struct {
		key string
		to  *string
	}{{keyToken, &pr.token}, {keyAddress, &pr.address}, {keyOrg, &pr.org}} {
		v, err := req.Secrets.SecretValue(ctx, p.namespace, name, k.key)
		if err != nil {
			return profile{}, fmt.Errorf("influxdb: reading key %q of Secret %s/%s: %w", k.key, p.namespace, name, err)
		}
		*k.to = strings.TrimSpace(v)
		if *k.to == "" {
			return profile{}, fmt.Errorf("influxdb: key %q of Secret %s/%s is empty", k.key, p.namespace, name)
		}
	}
	addr, err := httpcall.BaseURL(Name, pr.address)
	if err != nil {
		return profile{}, fmt.Errorf("%s of Secret %s/%s: %w", keyAddress, p.namespace, name, err)
	}
	pr.address = addr
	return pr, nil
}

// Query runs the metric's Flux query. result is the list of every
// record's _value, as the reference gives it (result[0] is the first).
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	m := req.Metric.Provider.Influxdb
	if m == nil {
		return metricproviders.Value{}, errors.New("influxdb: metric has no influxdb provider")
	}
	if err := Validate(m); err != nil {
		return metricproviders.Value{}, fmt.Errorf("influxdb: invalid metric %q: %w", req.Metric.Name, err)
	}
	name := m.Profile
	if name == "" {
		name = DefaultProfile
	}
	pr, err := p.profile(ctx, req, name)
	if err != nil {
		return metricproviders.Value{}, err
	}
	// The client logs every request at its default level; the controller
	// logs each measurement once itself.
	opts := influxdb2.DefaultOptions().SetHTTPClient(p.client).SetLogLevel(0).
		SetApplicationName("kanaria/" + version.Version)
	client := influxdb2.NewClientWithOptions(pr.address, pr.token, opts)
	defer client.Close()

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	values, err := p.run(ctx, client, pr.org, m.Query)
	metricproviders.Observe(Name, start, err)
	if err != nil {
		return metricproviders.Value{}, httpcall.Redact(err, pr.token)
	}
	if len(values) == 0 {
		return metricproviders.Value{}, errors.New("influxdb: no results returned from flux query")
	}
	return metricproviders.Value{Result: values, Raw: fmt.Sprint(values)}, nil
}

func (p *Provider) run(ctx context.Context, client influxdb2.Client, org, query string) ([]any, error) {
	res, err := client.QueryAPI(org).Query(ctx, query)
	if err != nil {
		return nil, p.queryError(ctx, err)
	}
	defer res.Close()
	var values []any
	for res.Next() {
		if len(values) == maxValues {
			return nil, fmt.Errorf("influxdb: the query returned more than %d records; aggregate it", maxValues)
		}
		values = append(values, res.Record().Value())
	}
	if err := res.Err(); err != nil {
		return nil, p.queryError(ctx, err)
	}
	return values, nil
}

// queryError words the client's errors as the other providers word theirs.
func (p *Provider) queryError(ctx context.Context, err error) error {
	const what = "influxdb: POST /api/v2/query"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: timed out after %s: %w", what, p.timeout, err)
	}
	var he *influxhttp.Error
	if errors.As(err, &he) && he.StatusCode != 0 {
		se := &httpcall.StatusError{What: what, Code: he.StatusCode, Message: httpcall.Truncate(he.Message)}
		if he.RetryAfter > 0 {
			se.RetryAfter = fmt.Sprint(he.RetryAfter)
		}
		if he.Err != nil {
			se.Message = httpcall.Truncate(he.Err.Error())
		}
		return se
	}
	return fmt.Errorf("%s: %w", what, err)
}
