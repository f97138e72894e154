// Package prometheus is the Prometheus metric provider: it runs a metric's
// PromQL query (instant, or range when rangeQuery is set) against the
// Prometheus HTTP API and turns the answer into the `result` that
// successCondition and failureCondition see, the way Argo Rollouts does.
package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

const (
	// Name identifies this provider in the controller's own metrics.
	Name = "prometheus"

	// DefaultTimeout bounds a query whose metric sets no timeout, as
	// upstream does.
	DefaultTimeout = 30 * time.Second

	// EnvAddress names the environment variable that, as in Argo Rollouts,
	// supplies the server address for metrics that leave address empty.
	EnvAddress = "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS"

	// MetadataResolvedQuery is the Metadata key under which the query
	// actually sent is recorded. Upstream shows the same key, so users can
	// see what their {{args.*}} turned into.
	MetadataResolvedQuery = "ResolvedPrometheusQuery"

	// MetadataWarnings is the Metadata key for warnings Prometheus attached
	// to a successful answer (e.g. about a partial response).
	MetadataWarnings = "warnings"
)

// Options configure a Provider. The zero value is usable.
type Options struct {
	// Transport is the base RoundTripper that requests go through. Nil
	// means a clone of http.DefaultTransport (proxy settings from the
	// environment included). Metrics with insecure: true need it to be an
	// *http.Transport, because skipping verification means changing its
	// TLS configuration.
	Transport http.RoundTripper

	// DefaultTimeout bounds queries whose metric sets no timeout; zero
	// means DefaultTimeout.
	DefaultTimeout time.Duration

	// DefaultAddress is used by metrics that leave address empty; empty
	// means the value of the EnvAddress environment variable.
	DefaultAddress string

	// Now is the clock for the `time` of instant queries and for now() in
	// rangeQuery expressions; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Provider must satisfy the engine's interface.
var _ metricproviders.Querier = (*Provider)(nil)

// Provider queries Prometheus servers. It is safe for concurrent use: the
// transports it caches are immutable once built.
type Provider struct {
	now            func() time.Time
	defaultTimeout time.Duration
	defaultAddress string

	// secure and insecure are the two base transports every request ends
	// in. Keeping exactly two means cached authenticating wrappers never
	// own connections of their own, so dropping one from the cache leaks
	// nothing.
	secure, insecure http.RoundTripper
	insecureErr      error

	mu     sync.Mutex
	chains map[chainKey]http.RoundTripper
}

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	p := &Provider{
		now:            opts.Now,
		defaultTimeout: opts.DefaultTimeout,
		defaultAddress: opts.DefaultAddress,
		chains:         make(map[chainKey]http.RoundTripper),
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.defaultTimeout <= 0 {
		p.defaultTimeout = DefaultTimeout
	}
	if p.defaultAddress == "" {
		p.defaultAddress = os.Getenv(EnvAddress)
	}
	p.secure, p.insecure, p.insecureErr = baseTransports(opts.Transport)
	return p
}

// Query runs the metric's query and converts the answer:
//
//   - a scalar becomes a float64;
//   - a vector becomes a []float64 with one element per series, in the
//     order Prometheus returned them, so `result[0]` reads the first series
//     and an empty vector is an empty, non-nil slice;
//   - a matrix (range queries) becomes a []float64 of every sample of every
//     series, series after series, which is what upstream hands to
//     conditions such as `all(result, # < 1000)`.
//
// NaN and ±Inf are kept as such so that isNaN(result[0]) works. Raw is the
// value as upstream shows it: "0.99" for a scalar, "[0.99,1]" for a vector.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	q, err := p.prepare(req.Metric)
	if err != nil {
		return metricproviders.Value{}, err
	}
	value, warnings, err := p.run(ctx, q)
	if err != nil {
		return metricproviders.Value{}, q.redact(err)
	}
	result, raw, err := Convert(value)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("prometheus at %s: %w", q.address, err)
	}
	metadata := map[string]string{MetadataResolvedQuery: q.query}
	if len(warnings) > 0 {
		metadata[MetadataWarnings] = formatWarnings(warnings)
	}
	return metricproviders.Value{Result: result, Raw: raw, Metadata: metadata}, nil
}

// prepared is one query, validated and resolved, ready to send.
type prepared struct {
	query   string
	address string // redacted, for messages
	client  api.Client
	timeout time.Duration
	rng     *promv1.Range
	secrets []string
}

// prepare validates the metric and builds everything the request needs, so
// that configuration mistakes are reported before anything is sent (and are
// not counted as failed requests).
func (p *Provider) prepare(metric v1alpha1.Metric) (*prepared, error) {
	pm := metric.Provider.Prometheus
	if pm == nil {
		return nil, fmt.Errorf("metric %q has no prometheus provider", metric.Name)
	}
	address := pm.Address
	if address == "" {
		address = p.defaultAddress
	}
	if address == "" {
		return nil, fmt.Errorf("prometheus address is not set (set provider.prometheus.address or %s)", EnvAddress)
	}
	u, err := url.Parse(address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The parse error is left out: it quotes the address, which may
		// carry a password.
		return nil, errors.New("prometheus address must be an absolute http or https URL")
	}
	q := &prepared{query: pm.Query, address: u.Redacted(), timeout: p.defaultTimeout}
	if strings.TrimSpace(pm.Query) == "" {
		return nil, fmt.Errorf("prometheus at %s: query is empty", q.address)
	}
	if pm.Timeout != nil {
		switch {
		case *pm.Timeout < 0:
			return nil, fmt.Errorf("prometheus at %s: timeout must not be negative, got %d", q.address, *pm.Timeout)
		case *pm.Timeout > 0:
			// Zero keeps the default: upstream would use a zero
			// timeout and fail every query, which nobody means.
			q.timeout = time.Duration(*pm.Timeout) * time.Second
		}
	}
	if pm.RangeQuery != nil {
		r, err := p.resolveRange(pm.RangeQuery)
		if err != nil {
			return nil, fmt.Errorf("prometheus at %s: %w", q.address, err)
		}
		q.rng = &r
	}
	rt, err := p.chain(pm, u)
	if err != nil {
		return nil, fmt.Errorf("prometheus at %s: %w", q.address, err)
	}
	if len(pm.Headers) > 0 {
		rt = &headerRoundTripper{headers: pm.Headers, next: rt}
	}
	q.client, err = api.NewClient(api.Config{Address: address, Client: &http.Client{Transport: rt}})
	if err != nil {
		return nil, fmt.Errorf("prometheus at %s: creating client: %w", q.address, err)
	}
	for _, h := range pm.Headers {
		q.secrets = append(q.secrets, h.Value)
	}
	q.secrets = append(q.secrets, pm.Authentication.OAuth2.ClientSecret)
	return q, nil
}

// run sends the query and records it on the controller's metrics.
func (p *Provider) run(ctx context.Context, q *prepared) (model.Value, promv1.Warnings, error) {
	qctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	start := time.Now()
	client := promv1.NewAPI(q.client)
	var (
		value    model.Value
		warnings promv1.Warnings
		err      error
	)
	if q.rng != nil {
		value, warnings, _, err = client.QueryRange(qctx, q.query, *q.rng)
	} else {
		value, warnings, _, err = client.Query(qctx, q.query, p.now())
	}
	if err != nil {
		err = describe(ctx, q, err)
	}
	metricproviders.Observe(Name, start, err)
	return value, warnings, err
}

// describe turns a failed request into a message that names the server and
// says what went wrong in the terms a user can act on.
func describe(parent context.Context, q *prepared, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		return fmt.Errorf("prometheus query to %s timed out after %s: %w", q.address, seconds(q.timeout), err)
	}
	if parent.Err() != nil {
		return fmt.Errorf("prometheus query to %s abandoned: %w", q.address, err)
	}
	var apiErr *promv1.Error
	if errors.As(err, &apiErr) {
		// The library reads the errorType/error envelope only for 400
		// and 422; Prometheus also sends it with 503 when a query times
		// out or is aborted, so look for it in the body too. The body
		// itself stays out of the message: a proxy in front of
		// Prometheus may echo the request, headers and all.
		typ, msg := string(apiErr.Type), apiErr.Msg
		if env, ok := errorEnvelope(apiErr.Detail); ok {
			typ, msg = env.ErrorType, env.Error+" ("+apiErr.Msg+")"
		}
		return &wrappedError{msg: fmt.Sprintf("prometheus at %s returned an error: %s: %s", q.address, typ, msg), err: err}
	}
	return fmt.Errorf("prometheus query to %s failed: %w", q.address, err)
}

// envelope is the error part of a Prometheus API response.
type envelope struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

// errorEnvelope parses body as a Prometheus error response.
func errorEnvelope(body string) (envelope, bool) {
	var env envelope
	if body == "" || json.Unmarshal([]byte(body), &env) != nil {
		return envelope{}, false
	}
	return env, env.Status == "error" && env.ErrorType != "" && env.Error != ""
}

// seconds formats d the way the timeout field is written: whole seconds.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%ds", int64(d/time.Second))
}

// Convert turns a Prometheus answer into a condition result and its Raw
// form; see Query for the rules. Other providers whose backends speak the
// Prometheus query API use it so their results read the same.
func Convert(v model.Value) (any, string, error) {
	switch v := v.(type) {
	case *model.Scalar:
		return float64(v.Value), v.Value.String(), nil
	case model.Vector:
		values := make([]float64, 0, len(v))
		for _, s := range v {
			if s != nil {
				values = append(values, float64(s.Value))
			}
		}
		return values, FormatList(values), nil
	case model.Matrix:
		values := []float64{}
		for _, stream := range v {
			if stream == nil {
				continue
			}
			for _, pair := range stream.Values {
				values = append(values, float64(pair.Value))
			}
		}
		return values, FormatList(values), nil
	case nil:
		return nil, "", errors.New("response carried no result")
	default:
		// Upstream rejects string results too; accepting them here
		// would let templates pass that fail under Argo Rollouts.
		return nil, "", fmt.Errorf("result type %q is not supported", v.Type())
	}
}

// FormatList writes values as upstream does: "[a,b]" with no spaces, each
// formatted like model.SampleValue (so NaN prints as "NaN").
func FormatList(values []float64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, f := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(model.SampleValue(f).String())
	}
	b.WriteByte(']')
	return b.String()
}

// formatWarnings joins warnings as upstream records them: `"a", "b"`.
func formatWarnings(warnings promv1.Warnings) string {
	quoted := make([]string, len(warnings))
	for i, w := range warnings {
		quoted[i] = `"` + w + `"`
	}
	return strings.Join(quoted, ", ")
}

// redact removes configured secret values from err's message, in case some
// layer (a token endpoint's error body, say) repeated one. It keeps err
// reachable through errors.Is/As.
func (q *prepared) redact(err error) error {
	msg := err.Error()
	redacted := msg
	for _, s := range q.secrets {
		// Very short values would mangle ordinary words and are not
		// meaningful secrets anyway.
		if len(s) >= 4 {
			redacted = strings.ReplaceAll(redacted, s, "[redacted]")
		}
	}
	if redacted == msg {
		return err
	}
	return &wrappedError{msg: redacted, err: err}
}

// wrappedError is an error with a message of its own (one that leaves
// parts of err out) that still unwraps to err for errors.Is and errors.As.
type wrappedError struct {
	msg string
	err error
}

// Error returns the message.
func (e *wrappedError) Error() string { return e.msg }

// Unwrap returns the underlying error.
func (e *wrappedError) Unwrap() error { return e.err }
