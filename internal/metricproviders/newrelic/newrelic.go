// Package newrelic measures metrics with NRQL queries sent through New
// Relic's NerdGraph (GraphQL) API, with the account settings Argo Rollouts'
// newRelic provider reads from a Secret in the controller's namespace.
//
// It speaks NerdGraph with net/http rather than through New Relic's Go
// client: that client drops the caller's context and sleeps for whatever
// Retry-After a server sends between its own retries, so a rate-limited or
// unreachable New Relic would hold an analysis worker far beyond the
// engine's per-call bound.
package newrelic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/httpcall"
	"github.com/kanaria-rollouts/kanaria/internal/version"
)

const (
	// Name identifies the provider in metrics and messages.
	Name = "newrelic"
	// DefaultProfile is the Secret read when a metric names no profile.
	DefaultProfile = "newrelic"

	// Keys of the profile Secret, as the reference names them.
	keyAPIKey    = "personal-api-key"
	keyAccountID = "account-id"
	keyRegion    = "region"
	keyNerdGraph = "base-url-nerdgraph"

	// maxTimeout is the longest NRQL timeout NerdGraph accepts, in seconds.
	maxTimeout = 120
)

// nerdGraphURLs are the NerdGraph endpoints of New Relic's regions.
var nerdGraphURLs = map[string]string{
	"us": "https://api.newrelic.com/graphql",
	"eu": "https://api.eu.newrelic.com/graphql",
}

// Options configures a Provider.
type Options struct {
	// Namespace is the controller's namespace, where profile Secrets are.
	Namespace string
	// HTTPClient sends the requests; nil means a fresh http.Client.
	HTTPClient *http.Client
	// Timeout bounds each request; zero means httpcall.DefaultTimeout.
	Timeout time.Duration
}

// Provider runs NRQL queries. It is safe for concurrent use.
type Provider struct {
	namespace string
	call      httpcall.Client
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	return &Provider{namespace: opts.Namespace, call: httpcall.Client{Provider: Name, HTTP: opts.HTTPClient, Timeout: opts.Timeout}}
}

// Validate checks a New Relic metric without contacting New Relic.
func Validate(m *v1alpha1.NewRelicMetric) error {
	if strings.TrimSpace(m.Query) == "" {
		return errors.New("query: set the NRQL query, e.g. FROM Transaction SELECT count(*)")
	}
	if m.Timeout != nil && (*m.Timeout <= 0 || *m.Timeout > maxTimeout) {
		return fmt.Errorf("timeout: %d is not between 1 and %d seconds", *m.Timeout, maxTimeout)
	}
	return nil
}

// account is what the profile Secret holds. apiKey must never reach an
// error, metadata or a log.
type account struct {
	apiKey    string
	accountID int64
	url       string
}

func (p *Provider) account(ctx context.Context, req metricproviders.Request, profile string) (account, error) {
	if req.Secrets == nil {
		return account{}, errors.New("newrelic: no secret reader configured")
	}
	read := func(key string) (string, error) {
		v, err := req.Secrets.SecretValue(ctx, p.namespace, profile, key)
		if err != nil {
			return "", fmt.Errorf("newrelic: reading key %q of Secret %s/%s: %w", key, p.namespace, profile, err)
		}
		return strings.TrimSpace(v), nil
	}
	var a account
	var err error
	if a.apiKey, err = read(keyAPIKey); err != nil {
		return account{}, err
	}
	id, err := read(keyAccountID)
	if err != nil {
		return account{}, err
	}
	if a.apiKey == "" || id == "" {
		return account{}, fmt.Errorf("newrelic: Secret %s/%s needs both %s and %s", p.namespace, profile, keyAPIKey, keyAccountID)
	}
	if a.accountID, err = strconv.ParseInt(id, 10, 64); err != nil {
		return account{}, fmt.Errorf("newrelic: %s of Secret %s/%s is not a number", keyAccountID, p.namespace, profile)
	}
	// region and the proxy URL are optional: the reader cannot tell a
	// missing key from other failures, but it just read this Secret.
	region := "us"
	if r, err := read(keyRegion); err == nil && r != "" {
		region = strings.ToLower(r)
	}
	a.url = nerdGraphURLs[region]
	if u, err := read(keyNerdGraph); err == nil && u != "" {
		if a.url, err = httpcall.BaseURL(Name, u); err != nil {
			return account{}, fmt.Errorf("%s of Secret %s/%s: %w", keyNerdGraph, p.namespace, profile, err)
		}
	} else if a.url == "" {
		return account{}, fmt.Errorf("newrelic: region %q of Secret %s/%s is not us or eu; set %s for other endpoints", region, p.namespace, profile, keyNerdGraph)
	}
	return a, nil
}

// nrqlQuery asks for the results of one NRQL query; nrqlQueryTimeout also
// passes the metric's timeout.
const (
	nrqlQuery = `query ($accountId: Int!, $query: Nrql!) {
  actor { account(id: $accountId) { nrql(query: $query) { results } } }
}`
	nrqlQueryTimeout = `query ($accountId: Int!, $query: Nrql!, $timeout: Seconds) {
  actor { account(id: $accountId) { nrql(query: $query, timeout: $timeout) { results } } }
}`
)

type graphQLRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

type graphQLResponse struct {
	Data *struct {
		Actor *struct {
			Account *struct {
				NRQL *struct {
					Results []map[string]any `json:"results"`
				} `json:"nrql"`
			} `json:"account"`
		} `json:"actor"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// Query runs the metric's NRQL query.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	nr := req.Metric.Provider.NewRelic
	if nr == nil {
		return metricproviders.Value{}, errors.New("newrelic: metric has no newRelic provider")
	}
	if err := Validate(nr); err != nil {
		return metricproviders.Value{}, fmt.Errorf("newrelic: invalid metric %q: %w", req.Metric.Name, err)
	}
	profile := nr.Profile
	if profile == "" {
		profile = DefaultProfile
	}
	acct, err := p.account(ctx, req, profile)
	if err != nil {
		return metricproviders.Value{}, err
	}
	body := graphQLRequest{Query: nrqlQuery, Variables: map[string]any{"accountId": acct.accountID, "query": nr.Query}}
	if nr.Timeout != nil {
		body.Query = nrqlQueryTimeout
		body.Variables["timeout"] = *nr.Timeout
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("newrelic: encoding request: %w", err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, acct.url, bytes.NewReader(raw))
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("newrelic: building request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Api-Key", acct.apiKey)
	r.Header.Set("User-Agent", "kanaria/"+version.Version)
	answer, err := p.call.Do(r)
	if err != nil {
		return metricproviders.Value{}, httpcall.Redact(err, acct.apiKey)
	}
	v, err := parse(answer)
	return v, httpcall.Redact(err, acct.apiKey)
}

// parse reads the NRQL results as the reference does: one result row is a
// map (result.successRate), several are a list of maps (one per facet),
// and none is an error.
func parse(body []byte) (metricproviders.Value, error) {
	var res graphQLResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return metricproviders.Value{}, fmt.Errorf("newrelic: decoding NerdGraph answer: %w", err)
	}
	if len(res.Errors) > 0 {
		msgs := make([]string, 0, len(res.Errors))
		for _, e := range res.Errors {
			msgs = append(msgs, e.Message)
		}
		return metricproviders.Value{}, fmt.Errorf("newrelic: NRQL query failed: %s", httpcall.Truncate(strings.Join(msgs, "; ")))
	}
	if res.Data == nil || res.Data.Actor == nil || res.Data.Actor.Account == nil || res.Data.Actor.Account.NRQL == nil {
		return metricproviders.Value{}, errors.New("newrelic: NerdGraph answered without NRQL results")
	}
	results := res.Data.Actor.Account.NRQL.Results
	switch {
	case len(results) == 0 || (len(results) == 1 && len(results[0]) == 0):
		return metricproviders.Value{}, errors.New("newrelic: no results returned from NRQL query")
	case len(results) == 1:
		raw, err := json.Marshal(results[0])
		if err != nil {
			return metricproviders.Value{}, fmt.Errorf("newrelic: encoding result: %w", err)
		}
		return metricproviders.Value{Result: results[0], Raw: string(raw)}, nil
	}
	list := make([]any, len(results))
	for i := range results {
		list[i] = results[i]
	}
	raw, err := json.Marshal(results)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("newrelic: encoding results: %w", err)
	}
	return metricproviders.Value{Result: list, Raw: string(raw)}, nil
}
