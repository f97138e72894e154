// Package datadog measures metrics with Datadog's query APIs: the legacy v1
// timeseries endpoint (GET /api/v1/query) and the v2 scalar endpoint
// (POST /api/v2/query/scalar), as Argo Rollouts' datadog provider does.
package datadog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// Name identifies the provider in metrics and messages.
const Name = "datadog"

const (
	// DefaultAddress is the Datadog API used when the Secret has no address
	// (the US1 site).
	DefaultAddress = "https://api.datadoghq.com"
	// DefaultSecretName is the Secret in the controller's namespace that
	// holds the keys when a metric names no secretRef.
	DefaultSecretName = "datadog"
	// DefaultInterval is the query window when a metric sets no interval.
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout bounds one request to Datadog when Options sets none.
	DefaultTimeout = 30 * time.Second
	// DefaultAggregator is what v2 queries reduce a series with when the
	// metric names no aggregator; upstream uses "last" so a v2 query means
	// the same as the v1 "last point" reading.
	DefaultAggregator = "last"

	// Keys of the credentials Secret, as upstream names them.
	secretKeyAddress = "address"
	secretKeyAPI     = "api-key"
	secretKeyApp     = "app-key"

	pathV1 = "/api/v1/query"
	pathV2 = "/api/v2/query/scalar"

	// maxBody caps how much of a response is read so a misbehaving endpoint
	// cannot exhaust the controller's memory.
	maxBody = 16 << 20
	// maxErrorMessage caps how much of Datadog's error text reaches status.
	maxErrorMessage = 512
	// maxGroups caps the groups recorded in metadata: a `by {host}` query can
	// return thousands, and measurements live in the AnalysisRun's status.
	maxGroups = 100
)

// Options configures a Provider.
type Options struct {
	// Namespace is the controller's namespace, where the default "datadog"
	// Secret and non-namespaced secretRefs are read.
	Namespace string
	// HTTPClient sends the requests; nil means a fresh http.Client. Its own
	// Timeout, if any, applies on top of Timeout.
	HTTPClient *http.Client
	// Now returns the current time; nil means time.Now. Tests fix it to make
	// the query window predictable.
	Now func() time.Time
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
}

// Provider queries Datadog. It is safe for concurrent use.
type Provider struct {
	namespace string
	client    *http.Client
	now       func() time.Time
	timeout   time.Duration
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	p := &Provider{
		namespace: opts.Namespace,
		client:    opts.HTTPClient,
		now:       opts.Now,
		timeout:   opts.Timeout,
	}
	if p.client == nil {
		p.client = &http.Client{}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	return p
}

// credentials are the values read from the Datadog Secret. They must never
// be formatted into errors, metadata or logs.
type credentials struct {
	address string
	apiKey  string
	appKey  string
}

// Query takes one Datadog measurement for req.Metric.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	dd := req.Metric.Provider.Datadog
	if dd == nil {
		return metricproviders.Value{}, errors.New("datadog: metric has no datadog provider")
	}
	version, err := validate(dd)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("datadog: invalid metric %q: %w", req.Metric.Name, err)
	}
	interval := DefaultInterval
	if dd.Interval != "" {
		interval, err = dd.Interval.Duration()
		if err != nil {
			return metricproviders.Value{}, fmt.Errorf("datadog: invalid interval %q: %w", dd.Interval, err)
		}
		if interval <= 0 {
			return metricproviders.Value{}, fmt.Errorf("datadog: interval %q must be positive", dd.Interval)
		}
	}
	creds, err := p.credentials(ctx, req)
	if err != nil {
		return metricproviders.Value{}, err
	}
	base, err := parseAddress(creds.address)
	if err != nil {
		return metricproviders.Value{}, err
	}

	// Whole seconds, as upstream: v1 takes seconds and v2 the same instants
	// in milliseconds, so both versions query identical windows.
	to := p.now().Unix()
	from := to - int64(interval/time.Second)

	var httpReq *http.Request
	if version == "v1" {
		httpReq, err = newRequestV1(ctx, base, dd.Query, from, to)
	} else {
		httpReq, err = newRequestV2(ctx, base, dd, from, to)
	}
	if err != nil {
		return metricproviders.Value{}, err
	}
	httpReq.Header.Set("Accept", "application/json")
	httpReq.Header.Set("DD-API-KEY", creds.apiKey)
	httpReq.Header.Set("DD-APPLICATION-KEY", creds.appKey)

	body, err := p.send(httpReq)
	if err != nil {
		return metricproviders.Value{}, redact(err, creds)
	}

	var v metricproviders.Value
	if version == "v1" {
		v, err = parseV1(body)
	} else {
		v, err = parseV2(body)
	}
	if err != nil {
		return metricproviders.Value{}, redact(err, creds)
	}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	v.Metadata["apiVersion"] = version
	v.Metadata["from"] = time.Unix(from, 0).UTC().Format(time.RFC3339)
	v.Metadata["to"] = time.Unix(to, 0).UTC().Format(time.RFC3339)
	return v, nil
}

// validate rejects the combinations upstream rejects, because Datadog would
// either fail them or answer something the user did not mean (e.g. several
// queries without a formula return columns in no promised order). It
// returns the effective API version.
func validate(dd *v1alpha1.DatadogMetric) (string, error) {
	version := dd.ApiVersion
	if version == "" {
		version = "v1"
	}
	switch {
	case version != "v1" && version != "v2":
		return "", fmt.Errorf("apiVersion %q is not v1 or v2", dd.ApiVersion)
	case dd.Query == "" && len(dd.Queries) == 0:
		return "", errors.New("set query or queries")
	case dd.Query != "" && len(dd.Queries) > 0:
		return "", errors.New("set query or queries, not both")
	case version == "v1" && dd.Query == "":
		return "", errors.New("apiVersion v1 supports only query; use apiVersion v2 for queries and formula")
	case version == "v1" && dd.Aggregator != "":
		return "", errors.New("aggregator needs apiVersion v2")
	case dd.Formula != "" && len(dd.Queries) == 0:
		return "", errors.New("formula needs queries")
	case dd.Formula == "" && len(dd.Queries) > 1:
		return "", errors.New("several queries need a formula that combines them")
	}
	return version, nil
}

// credentials reads the keys from the Secret the metric selects: its
// secretRef (in the AnalysisRun's namespace when namespaced) or the
// default "datadog" Secret in the controller's namespace.
func (p *Provider) credentials(ctx context.Context, req metricproviders.Request) (credentials, error) {
	if req.Secrets == nil {
		return credentials{}, errors.New("datadog: no secret reader configured")
	}
	ref := req.Metric.Provider.Datadog.SecretRef
	ns, name := p.namespace, DefaultSecretName
	if ref.Namespaced {
		if ref.Name == "" {
			return credentials{}, errors.New("datadog: secretRef.namespaced needs secretRef.name")
		}
		ns = req.Namespace
	}
	if ref.Name != "" {
		name = ref.Name
	}

	var c credentials
	var err error
	if c.apiKey, err = readKey(ctx, req.Secrets, ns, name, secretKeyAPI); err != nil {
		return credentials{}, err
	}
	if c.appKey, err = readKey(ctx, req.Secrets, ns, name, secretKeyApp); err != nil {
		return credentials{}, err
	}
	// address is optional. The reader cannot tell "no such key" from other
	// failures, but it just read this Secret twice, so an error here means
	// the key is absent; fall back to the documented default.
	if addr, err := req.Secrets.SecretValue(ctx, ns, name, secretKeyAddress); err == nil {
		c.address = strings.TrimSpace(addr)
	}
	if c.address == "" {
		c.address = DefaultAddress
	}
	return c, nil
}

// readKey reads a required key; the error names the Secret and key, never
// a value.
func readKey(ctx context.Context, secrets metricproviders.SecretReader, ns, name, key string) (string, error) {
	v, err := secrets.SecretValue(ctx, ns, name, key)
	if err != nil {
		return "", fmt.Errorf("datadog: reading key %q of Secret %s/%s: %w", key, ns, name, err)
	}
	// Secrets edited by hand often carry a trailing newline, which Datadog
	// would reject as a different key.
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("datadog: key %q of Secret %s/%s is empty", key, ns, name)
	}
	return v, nil
}

// parseAddress checks the Secret's address so a typo fails with a clear
// message instead of a transport error.
func parseAddress(addr string) (string, error) {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("datadog: address %q is not an http(s) URL", addr)
	}
	return strings.TrimRight(addr, "/"), nil
}

func newRequestV1(ctx context.Context, base, query string, from, to int64) (*http.Request, error) {
	q := url.Values{}
	q.Set("from", strconv.FormatInt(from, 10))
	q.Set("to", strconv.FormatInt(to, 10))
	q.Set("query", query)
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+pathV1+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("datadog: building v1 request: %w", err)
	}
	return r, nil
}

// scalarRequest is the body of POST /api/v2/query/scalar.
type scalarRequest struct {
	Data scalarRequestData `json:"data"`
}

type scalarRequestData struct {
	Type       string           `json:"type"`
	Attributes scalarAttributes `json:"attributes"`
}

type scalarAttributes struct {
	// From and To are Unix milliseconds.
	From     int64           `json:"from"`
	To       int64           `json:"to"`
	Queries  []scalarQuery   `json:"queries"`
	Formulas []scalarFormula `json:"formulas"`
}

type scalarQuery struct {
	DataSource string `json:"data_source"`
	Query      string `json:"query"`
	Name       string `json:"name"`
	Aggregator string `json:"aggregator"`
}

type scalarFormula struct {
	Formula string `json:"formula"`
}

func newRequestV2(ctx context.Context, base string, dd *v1alpha1.DatadogMetric, from, to int64) (*http.Request, error) {
	queries := dd.Queries
	if dd.Query != "" {
		// Upstream names a lone query "query"; the name shows up as the
		// column name in Datadog's answer.
		queries = map[string]string{"query": dd.Query}
	}
	aggregator := dd.Aggregator
	if aggregator == "" {
		aggregator = DefaultAggregator
	}
	names := make([]string, 0, len(queries))
	for n := range queries {
		names = append(names, n)
	}
	// Sorted so the same metric always sends the same body.
	sort.Strings(names)

	body := scalarRequest{Data: scalarRequestData{
		Type: "scalar_request",
		Attributes: scalarAttributes{
			From:     from * 1000,
			To:       to * 1000,
			Queries:  make([]scalarQuery, 0, len(names)),
			Formulas: []scalarFormula{},
		},
	}}
	for _, n := range names {
		body.Data.Attributes.Queries = append(body.Data.Attributes.Queries, scalarQuery{
			DataSource: "metrics",
			Query:      queries[n],
			Name:       n,
			Aggregator: aggregator,
		})
	}
	if dd.Formula != "" {
		body.Data.Attributes.Formulas = append(body.Data.Attributes.Formulas, scalarFormula{Formula: dd.Formula})
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("datadog: encoding v2 request: %w", err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+pathV2, bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("datadog: building v2 request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r, nil
}

// send performs the request under the provider's timeout and records it on
// the controller's metrics. A non-2xx status is an error.
func (p *Provider) send(r *http.Request) ([]byte, error) {
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	r = r.WithContext(ctx)

	start := time.Now()
	body, err := p.do(r)
	metricproviders.Observe(Name, start, err)
	return body, err
}

func (p *Provider) do(r *http.Request) ([]byte, error) {
	what := "datadog: " + r.Method + " " + r.URL.Path
	resp, err := p.client.Do(r)
	if err != nil {
		return nil, p.transportError(r.Context(), what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, p.transportError(r.Context(), what+": reading response", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(what, resp, body)
	}
	return body, nil
}

func (p *Provider) transportError(ctx context.Context, what string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: timed out after %s: %w", what, p.timeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// statusError turns a non-2xx answer into an error that carries the status
// and Datadog's own explanation.
func statusError(what string, resp *http.Response, body []byte) error {
	msg := errorMessage(body)
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		// Datadog's rate limits are per organisation and endpoint; say when
		// the window resets so the operator can tell a burst from a quota.
		wait := ""
		if reset := resp.Header.Get("X-RateLimit-Reset"); reset != "" {
			wait = ", limit resets in " + reset + "s"
		}
		return fmt.Errorf("%s: rate limited by Datadog (HTTP 429%s)%s", what, wait, msg)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: Datadog rejected the API or application key (HTTP %d)%s", what, resp.StatusCode, msg)
	}
	return fmt.Errorf("%s: HTTP %d%s", what, resp.StatusCode, msg)
}

// errorMessage extracts Datadog's message from an error body:
// {"errors": ["..."]} on both APIs, or {"error": "..."} on some v1 answers.
// It returns "" or ": <message>".
func errorMessage(body []byte) string {
	var e struct {
		Errors json.RawMessage `json:"errors"`
		Error  string          `json:"error"`
	}
	var parts []string
	if json.Unmarshal(body, &e) == nil {
		var list []string
		var one string
		if json.Unmarshal(e.Errors, &list) == nil {
			parts = append(parts, list...)
		} else if json.Unmarshal(e.Errors, &one) == nil && one != "" {
			parts = append(parts, one)
		}
		if e.Error != "" {
			parts = append(parts, e.Error)
		}
	} else if s := strings.TrimSpace(string(body)); s != "" && !strings.HasPrefix(s, "<") {
		// Plain-text bodies come from proxies; HTML pages are noise.
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	msg := strings.Join(parts, "; ")
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage] + "..."
	}
	return ": " + msg
}

// v1Response is the part of GET /api/v1/query's answer the provider reads.
type v1Response struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Series []struct {
		// Pointlist holds [timestamp ms, value] pairs; value is null where
		// the series has no data.
		Pointlist [][]*float64 `json:"pointlist"`
	} `json:"series"`
}

// parseV1 returns the last non-null point of the first series, or nil when
// there is none so `default(result, 0)` can supply a value.
func parseV1(body []byte) (metricproviders.Value, error) {
	var res v1Response
	if err := json.Unmarshal(body, &res); err != nil {
		return metricproviders.Value{}, fmt.Errorf("datadog: decoding v1 response: %w", err)
	}
	if res.Status == "error" || res.Error != "" {
		return metricproviders.Value{}, fmt.Errorf("datadog: v1 query failed: %s", truncate(res.Error))
	}
	if len(res.Series) > 0 {
		points := res.Series[0].Pointlist
		for i := len(points) - 1; i >= 0; i-- {
			if len(points[i]) != 2 {
				return metricproviders.Value{}, fmt.Errorf("datadog: v1 point %d has %d elements, want 2", i, len(points[i]))
			}
			if v := points[i][1]; v != nil {
				return metricproviders.Value{Result: *v, Raw: formatFloat(*v)}, nil
			}
		}
	}
	return metricproviders.Value{Result: nil, Raw: "[]"}, nil
}

// v2Response is the part of POST /api/v2/query/scalar's answer the
// provider reads.
type v2Response struct {
	Data struct {
		Attributes struct {
			Columns []v2Column `json:"columns"`
		} `json:"attributes"`
		// Errors is where older upstream versions looked for query errors.
		Errors string `json:"errors"`
	} `json:"data"`
	// Errors reports problems with the query on a 200 answer.
	Errors string `json:"errors"`
}

// v2Column is one column of a scalar answer: type "number" holds one value
// (or null) per group; type "group" holds, per group, the tag values of one
// `by {tag}` dimension.
type v2Column struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Values []json.RawMessage `json:"values"`
}

type group struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// parseV2 reads the first number column. An ungrouped query yields a
// float64 (nil when Datadog has no data); a `by {tag}` query yields a
// []float64 with one value per group, the groups named in metadata, as
// upstream does.
func parseV2(body []byte) (metricproviders.Value, error) {
	var res v2Response
	if err := json.Unmarshal(body, &res); err != nil {
		return metricproviders.Value{}, fmt.Errorf("datadog: decoding v2 response: %w", err)
	}
	if msg := res.Errors + res.Data.Errors; msg != "" {
		return metricproviders.Value{}, fmt.Errorf("datadog: v2 query failed: %s", truncate(msg))
	}

	var numbers *v2Column
	var groups []*v2Column
	for i := range res.Data.Attributes.Columns {
		c := &res.Data.Attributes.Columns[i]
		switch c.Type {
		case "group":
			groups = append(groups, c)
		case "number", "":
			// An absent type is treated as a number, as upstream does for
			// older answers.
			if numbers == nil {
				numbers = c
			}
		}
	}

	var values []float64
	var named []group
	if numbers != nil {
		for i, raw := range numbers.Values {
			var v *float64
			if err := json.Unmarshal(raw, &v); err != nil {
				return metricproviders.Value{}, fmt.Errorf("datadog: value %d of column %q is not a number: %w", i, numbers.Name, err)
			}
			// null marks a group without data; skip it with its label so
			// values and names stay aligned.
			if v == nil {
				continue
			}
			values = append(values, *v)
			if len(groups) > 0 {
				name, err := groupName(groups, i)
				if err != nil {
					return metricproviders.Value{}, err
				}
				named = append(named, group{Name: name, Value: *v})
			}
		}
	}

	if len(values) == 0 {
		return metricproviders.Value{Result: nil, Raw: "[]"}, nil
	}
	if len(groups) == 0 {
		return metricproviders.Value{Result: values[0], Raw: formatFloat(values[0])}, nil
	}
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = formatFloat(v)
	}
	meta := map[string]string{}
	if len(named) > maxGroups {
		named = extremes(named)
		meta["groupsTruncated"] = "true"
	}
	g, err := json.Marshal(named)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("datadog: encoding groups: %w", err)
	}
	meta["groups"] = string(g)
	return metricproviders.Value{Result: values, Raw: "[" + strings.Join(parts, ",") + "]", Metadata: meta}, nil
}

// groupName joins the tag values of row i across every group column, so
// `by {env,resource_name}` yields e.g. "prod,GET /a".
func groupName(cols []*v2Column, i int) (string, error) {
	var parts []string
	for _, c := range cols {
		var tags []string
		if i >= len(c.Values) || json.Unmarshal(c.Values[i], &tags) != nil || len(tags) == 0 {
			return "", fmt.Errorf("datadog: group column %q has no tags for row %d", c.Name, i)
		}
		parts = append(parts, tags...)
	}
	return strings.Join(parts, ","), nil
}

// extremes keeps the lowest and highest groups: the outlier that fails a
// gate is at one end or the other, depending on the condition.
func extremes(gs []group) []group {
	sorted := append([]group(nil), gs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Value < sorted[j].Value })
	low := maxGroups / 2
	return append(sorted[:low:low], sorted[len(sorted)-(maxGroups-low):]...)
}

func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func truncate(s string) string {
	if len(s) > maxErrorMessage {
		return s[:maxErrorMessage] + "..."
	}
	return s
}

// redactedError hides credentials an upstream message might echo. It does
// not unwrap, so the original message cannot be reached through
// errors.Unwrap, but errors.Is still sees the cause (e.g. a deadline).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// redact replaces any occurrence of the keys in err's message. Datadog does
// not echo keys today; this keeps a future or proxied answer from leaking
// them into the AnalysisRun's status.
func redact(err error, c credentials) error {
	msg := err.Error()
	out := msg
	for _, k := range []string{c.apiKey, c.appKey} {
		if k != "" {
			out = strings.ReplaceAll(out, k, "[redacted]")
		}
	}
	if out == msg {
		return err
	}
	return &redactedError{msg: out, err: err}
}
