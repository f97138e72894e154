// Package web is the web metric provider: it calls an HTTP endpoint and uses
// (part of) its JSON response as the measurement, as Argo Rollouts' `web`
// provider does.
package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"k8s.io/client-go/util/jsonpath"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// Name is the provider's name in metrics and messages.
const Name = "web"

const (
	// defaultTimeout is upstream's documented default for timeoutSeconds.
	defaultTimeout = 10 * time.Second
	// defaultJSONPath selects the whole document, upstream's behaviour when
	// jsonPath is omitted.
	defaultJSONPath = "{$}"
	// maxResponseBytes caps what is read from an endpoint so that a
	// misbehaving server cannot exhaust the controller's memory.
	maxResponseBytes = 10 << 20
)

// Options configures a Provider.
type Options struct {
	// Client sends the requests. Nil means a client with the settings of
	// http.DefaultTransport. Its transport, when an *http.Transport, is also
	// the template for metrics that set insecure.
	Client *http.Client
	// DefaultTimeout applies to metrics without timeoutSeconds; zero means
	// 10s, upstream's default.
	DefaultTimeout time.Duration
}

// Provider takes measurements from HTTP endpoints. It is safe for
// concurrent use.
type Provider struct {
	client         *http.Client
	insecureClient *http.Client
	defaultTimeout time.Duration
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	client := opts.Client
	if client == nil {
		client = &http.Client{Transport: cloneTransport(nil)}
	}
	timeout := opts.DefaultTimeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	// The insecure client is built once, not per request, so that metrics
	// with insecure set still share a connection pool.
	insecure := cloneTransport(client.Transport)
	if insecure.TLSClientConfig == nil {
		insecure.TLSClientConfig = &tls.Config{}
	}
	insecure.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // Only for metrics that ask for it with insecure: true.
	return &Provider{
		client: client,
		insecureClient: &http.Client{
			Transport:     insecure,
			CheckRedirect: client.CheckRedirect,
			Jar:           client.Jar,
			Timeout:       client.Timeout,
		},
		defaultTimeout: timeout,
	}
}

// cloneTransport copies rt when it is an *http.Transport, else
// http.DefaultTransport, so that changing TLS settings never touches a
// transport someone else owns.
func cloneTransport(rt http.RoundTripper) *http.Transport {
	if t, ok := rt.(*http.Transport); ok {
		return t.Clone()
	}
	return http.DefaultTransport.(*http.Transport).Clone()
}

// Query sends the metric's request and returns the value its jsonPath
// selects from the JSON response:
//
//   - numbers decode to float64, objects to map[string]any, arrays to []any;
//     strings stay strings (conditions convert them with asInt/asFloat, as
//     upstream documents);
//   - a path that selects several values (a wildcard or a range) yields
//     them as a []any;
//   - a response that is not JSON yields its text as a string, as upstream,
//     unless a jsonPath other than the root was asked for, which is then an
//     error because nothing can be selected from it.
//
// Raw is the JSON text of the selected value. Errors name the endpoint
// without its query string and never include header values, because both
// commonly carry credentials.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	metric := req.Metric.Provider.Web
	if metric == nil {
		return metricproviders.Value{}, fmt.Errorf("metric %q has no web provider", req.Metric.Name)
	}
	target, err := parseURL(metric.URL)
	if err != nil {
		return metricproviders.Value{}, err
	}
	path := metric.JSONPath
	if path == "" {
		path = defaultJSONPath
	}
	parser := jsonpath.New(Name)
	if err := parser.Parse(path); err != nil {
		return metricproviders.Value{}, fmt.Errorf("invalid jsonPath %q: %w", path, err)
	}

	timeout := p.defaultTimeout
	if metric.TimeoutSeconds > 0 {
		timeout = time.Duration(metric.TimeoutSeconds) * time.Second
	}
	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	httpReq, err := newRequest(reqCtx, metric)
	if err != nil {
		return metricproviders.Value{}, err
	}
	client, err := p.clientFor(reqCtx, metric)
	if err != nil {
		return metricproviders.Value{}, err
	}

	start := time.Now()
	body, err := exchange(client, httpReq)
	metricproviders.Observe(Name, start, err)
	if err != nil {
		return metricproviders.Value{}, describeError(ctx, reqCtx, err, metric, target, timeout)
	}
	return selectValue(body, parser, path)
}

// newRequest builds the HTTP request, rejecting the combinations upstream
// rejects: a body on a GET, and both body and jsonBody.
func newRequest(ctx context.Context, metric *v1alpha1.WebMetric) (*http.Request, error) {
	method := metric.Method
	if method == "" {
		method = v1alpha1.WebMetricMethodGet
	}
	switch method {
	case v1alpha1.WebMetricMethodGet, v1alpha1.WebMetricMethodPost, v1alpha1.WebMetricMethodPut:
	default:
		return nil, fmt.Errorf("unsupported web method %q: use GET, POST or PUT", method)
	}

	hasJSONBody := len(metric.JSONBody) > 0
	if metric.Body != "" && hasJSONBody {
		return nil, errors.New("web metric sets both body and jsonBody; set only one")
	}
	if (metric.Body != "" || hasJSONBody) && method == v1alpha1.WebMetricMethodGet {
		return nil, errors.New("web metric body and jsonBody can only be used with POST or PUT")
	}

	var body io.Reader
	switch {
	case hasJSONBody:
		var compact bytes.Buffer
		if err := json.Compact(&compact, metric.JSONBody); err != nil {
			return nil, fmt.Errorf("web metric jsonBody is not valid JSON: %w", err)
		}
		body = &compact
	case metric.Body != "":
		body = strings.NewReader(metric.Body)
	}

	httpReq, err := http.NewRequestWithContext(ctx, string(method), metric.URL, body)
	if err != nil {
		// URL problems were reported by parseURL, so this is about the
		// method or body; the URL is left out in case it carries secrets.
		return nil, fmt.Errorf("building web request: %w", unwrapURLError(err))
	}
	for _, h := range metric.Headers {
		// Go sends Request.Host, not a Host header, so honour it there.
		if strings.EqualFold(h.Key, "Host") {
			httpReq.Host = h.Value
			continue
		}
		httpReq.Header.Set(h.Key, h.Value)
	}
	if hasJSONBody {
		// Set after the user's headers, as upstream: jsonBody is JSON.
		httpReq.Header.Set("Content-Type", "application/json")
	}
	return httpReq, nil
}

// clientFor picks the client for a metric: the insecure one if it asked for
// insecure, wrapped to add an OAuth2 bearer token if it configured oauth2.
func (p *Provider) clientFor(ctx context.Context, metric *v1alpha1.WebMetric) (*http.Client, error) {
	client := p.client
	if metric.Insecure {
		client = p.insecureClient
	}

	auth := metric.Authentication
	if auth.Sigv4 != (v1alpha1.Sigv4Config{}) {
		// Upstream offers SigV4 only for Prometheus (Amazon Managed
		// Prometheus); a generic endpoint has no AWS service to sign for.
		return nil, errors.New("web metric authentication.sigv4 is not supported; use oauth2 or headers")
	}
	o := auth.OAuth2
	if o.TokenURL == "" && o.ClientID == "" && o.ClientSecret == "" && len(o.Scopes) == 0 {
		return client, nil
	}
	if o.TokenURL == "" || o.ClientID == "" {
		return nil, errors.New("web metric authentication.oauth2 needs tokenUrl and clientId")
	}
	if _, err := parseURL(o.TokenURL); err != nil {
		return nil, fmt.Errorf("authentication.oauth2.tokenUrl: %w", err)
	}
	cfg := &clientcredentials.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		TokenURL:     o.TokenURL,
		Scopes:       o.Scopes,
	}
	// A token is fetched per measurement, as upstream does, with the same
	// client (so the same insecure setting) and the same deadline as the
	// measurement. Caching tokens across measurements would mean keeping
	// client secrets in a long-lived map keyed by them.
	tokenCtx := context.WithValue(ctx, oauth2.HTTPClient, client)
	return cfg.Client(tokenCtx), nil
}

// exchange sends req and returns the body of a 2xx response.
func exchange(client *http.Client, req *http.Request) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, &statusError{code: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading response: %w", err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("response is larger than %d bytes", maxResponseBytes)
	}
	return body, nil
}

// statusError is a response outside 2xx.
type statusError struct{ code int }

func (e *statusError) Error() string {
	return fmt.Sprintf("received non-2xx response code: %d %s", e.code, http.StatusText(e.code))
}

// describeError turns a failed exchange into a message that says what went
// wrong and where, telling a timeout of the metric's own deadline apart from
// the caller giving up.
func describeError(parent, reqCtx context.Context, err error, metric *v1alpha1.WebMetric, target string, timeout time.Duration) error {
	method := metric.Method
	if method == "" {
		method = v1alpha1.WebMetricMethodGet
	}
	where := fmt.Sprintf("%s %s", method, target)

	var status *statusError
	if errors.As(err, &status) {
		return fmt.Errorf("web request %s: %w", where, err)
	}
	if parent.Err() != nil {
		return fmt.Errorf("web request %s cancelled: %w", where, parent.Err())
	}
	var netErr net.Error
	if errors.Is(reqCtx.Err(), context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return fmt.Errorf("web request %s timed out after %s: %w", where, timeout, context.DeadlineExceeded)
	}
	var tokenErr *oauth2.RetrieveError
	if errors.As(err, &tokenErr) {
		// RetrieveError's own text spans lines and quotes the token
		// endpoint's body; the status and OAuth2 error code are enough.
		msg := "token endpoint refused the request"
		if tokenErr.Response != nil {
			msg = "token endpoint returned " + tokenErr.Response.Status
		}
		if tokenErr.ErrorCode != "" {
			msg += ", error " + tokenErr.ErrorCode
		}
		tokenURL, _ := parseURL(metric.Authentication.OAuth2.TokenURL)
		return fmt.Errorf("web request %s: fetching OAuth2 token from %s: %s", where, tokenURL, msg)
	}
	return fmt.Errorf("web request %s: %w", where, unwrapURLError(err))
}

// unwrapURLError drops *url.Error's wrapper, whose text repeats the full
// URL, query string included.
func unwrapURLError(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

// parseURL checks that raw is an absolute http(s) URL and returns it
// without user info, query or fragment, the form used in messages.
func parseURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("web metric url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL, so only say it failed.
		return "", errors.New("web metric url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("web metric url must use http or https, not %q", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("web metric url has no host")
	}
	safe := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return safe.String(), nil
}

// selectValue applies the jsonPath to the response body.
func selectValue(body []byte, parser *jsonpath.JSONPath, path string) (metricproviders.Value, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		if path != defaultJSONPath {
			return metricproviders.Value{}, fmt.Errorf("response is not JSON, so jsonPath %q cannot select from it: %w", path, err)
		}
		text := string(body)
		return metricproviders.Value{Result: text, Raw: text}, nil
	}

	var result any
	if doc == nil && path == defaultJSONPath {
		// jsonpath cannot walk a JSON null; the root of null is null.
		result = nil
	} else {
		groups, err := parser.FindResults(doc)
		if err != nil {
			return metricproviders.Value{}, fmt.Errorf("applying jsonPath %q to the response: %w", path, err)
		}
		var found []any
		for _, group := range groups {
			for _, v := range group {
				found = append(found, interfaceOf(v))
			}
		}
		switch len(found) {
		case 0:
			return metricproviders.Value{}, fmt.Errorf("jsonPath %q selected no value from the response", path)
		case 1:
			result = found[0]
		default:
			result = found
		}
	}

	raw, err := json.Marshal(result)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("encoding the selected value: %w", err)
	}
	return metricproviders.Value{Result: result, Raw: string(raw)}, nil
}

// interfaceOf unwraps a jsonpath match; a JSON null inside the document
// comes back as an invalid or nil interface value.
func interfaceOf(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Kind() == reflect.Interface && v.IsNil() {
		return nil
	}
	return v.Interface()
}
