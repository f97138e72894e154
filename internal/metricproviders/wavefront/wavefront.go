// Package wavefront measures metrics with the Wavefront (VMware Aria
// Operations for Applications) chart API, GET /api/v2/chart/api, as Argo
// Rollouts' wavefront provider does: one point per series, at the time of
// the measurement.
package wavefront

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/httpcall"
)

const (
	// Name identifies the provider in metrics and messages.
	Name = "wavefront"
	// TokensSecretName is the Secret in the controller's namespace that
	// maps each Wavefront address (the key) to its API token (the value),
	// as the reference names it.
	TokensSecretName = "wavefront-api-tokens"

	chartPath = "/api/v2/chart/api"
)

// Options configures a Provider.
type Options struct {
	// Namespace is the controller's namespace, where the tokens Secret is.
	Namespace string
	// HTTPClient sends the requests; nil means a fresh http.Client.
	HTTPClient *http.Client
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Timeout bounds each request; zero means httpcall.DefaultTimeout.
	Timeout time.Duration
}

// Provider queries Wavefront. It is safe for concurrent use.
type Provider struct {
	namespace string
	now       func() time.Time
	call      httpcall.Client
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	p := &Provider{namespace: opts.Namespace, now: opts.Now,
		call: httpcall.Client{Provider: Name, HTTP: opts.HTTPClient, Timeout: opts.Timeout}}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// Validate checks a Wavefront metric without contacting the server.
func Validate(w *v1alpha1.WavefrontMetric) error {
	if strings.TrimSpace(w.Query) == "" {
		return errors.New("query: set the Wavefront query, e.g. ts(\"requests.count\")")
	}
	if _, _, err := endpoint(w.Address); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	return nil
}

// endpoint returns the API's base URL and the Secret key of its token. The
// reference's address is a bare host (example.wavefront.com) reached over
// HTTPS; one written with a scheme or a port is used as written, and its
// token is still found under the host name.
func endpoint(address string) (base, key string, err error) {
	address = strings.TrimSpace(address)
	if address == "" {
		return "", "", errors.New("set the Wavefront address, e.g. example.wavefront.com")
	}
	withScheme := address
	if !strings.Contains(address, "://") {
		withScheme = "https://" + address
	}
	base, err = httpcall.BaseURL("", withScheme)
	if err != nil {
		return "", "", err
	}
	// Keyed by the host name alone: a Secret key cannot hold a ":port".
	u, _ := url.Parse(base)
	return base, u.Hostname(), nil
}

// Query takes one Wavefront measurement for req.Metric.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	w := req.Metric.Provider.Wavefront
	if w == nil {
		return metricproviders.Value{}, errors.New("wavefront: metric has no wavefront provider")
	}
	if err := Validate(w); err != nil {
		return metricproviders.Value{}, fmt.Errorf("wavefront: invalid metric %q: %w", req.Metric.Name, err)
	}
	base, key, _ := endpoint(w.Address)
	if req.Secrets == nil {
		return metricproviders.Value{}, errors.New("wavefront: no secret reader configured")
	}
	token, err := req.Secrets.SecretValue(ctx, p.namespace, TokensSecretName, key)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("wavefront: no API token for %s: reading key %q of Secret %s/%s: %w", key, key, p.namespace, TokensSecretName, err)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return metricproviders.Value{}, fmt.Errorf("wavefront: key %q of Secret %s/%s is empty", key, p.namespace, TokensSecretName)
	}

	// The reference asks for one point at second granularity from now on,
	// without series whose only points lie outside that window.
	q := url.Values{}
	q.Set("q", w.Query)
	q.Set("s", strconv.FormatInt(p.now().UnixMilli(), 10))
	q.Set("g", "s")
	q.Set("p", "1")
	q.Set("i", "false")
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+chartPath+"?"+q.Encode(), nil)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("wavefront: building request: %w", err)
	}
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	body, err := p.call.Do(r)
	if err != nil {
		return metricproviders.Value{}, httpcall.Redact(err, token)
	}
	v, err := parse(body)
	return v, httpcall.Redact(err, token)
}

// chartResponse is the part of the chart API's answer the provider reads.
type chartResponse struct {
	Warnings   string `json:"warnings"`
	ErrorType  string `json:"errorType"`
	ErrorMsg   string `json:"errorMessage"`
	Timeseries []struct {
		Label string `json:"label"`
		Host  string `json:"host"`
		// Data holds [timestamp, value] pairs.
		Data [][]jsonFloat `json:"data"`
	} `json:"timeseries"`
}

// jsonFloat reads a number, or the strings Wavefront uses for values JSON
// cannot carry ("NaN").
type jsonFloat float64

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		*f = jsonFloat(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("value %s is not a number", b)
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("value %q is not a number", s)
	}
	*f = jsonFloat(n)
	return nil
}

// parse reads the first point of each series: one series gives a float64,
// several a []float64. A NaN point makes the measurement Inconclusive, as
// in the reference, since no condition can judge it.
func parse(body []byte) (metricproviders.Value, error) {
	var res chartResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return metricproviders.Value{}, fmt.Errorf("wavefront: decoding chart answer: %w", err)
	}
	if res.ErrorMsg != "" {
		return metricproviders.Value{}, fmt.Errorf("wavefront: query failed: %s", httpcall.Truncate(res.ErrorMsg))
	}
	if len(res.Timeseries) == 0 {
		return metricproviders.Value{}, errors.New("wavefront: no time series found in the answer")
	}
	values := make([]float64, 0, len(res.Timeseries))
	parts := make([]string, 0, len(res.Timeseries))
	nan := false
	for i, s := range res.Timeseries {
		if len(s.Data) == 0 || len(s.Data[0]) != 2 {
			return metricproviders.Value{}, fmt.Errorf("wavefront: series %d (%s) has no [timestamp, value] point", i, s.Label)
		}
		v := float64(s.Data[0][1])
		nan = nan || math.IsNaN(v)
		values = append(values, v)
		parts = append(parts, fmt.Sprintf("%.2f", v))
	}
	out := metricproviders.Value{Result: values[0], Raw: parts[0]}
	if len(values) > 1 {
		out = metricproviders.Value{Result: values, Raw: "[" + strings.Join(parts, ",") + "]"}
	}
	if res.Warnings != "" {
		out.Metadata = map[string]string{"warnings": httpcall.Truncate(res.Warnings)}
	}
	if nan {
		out.Phase = v1alpha1.AnalysisPhaseInconclusive
		out.Message = "Wavefront returned NaN"
	}
	return out, nil
}
