// Package kayenta judges a canary with a Kayenta server's standalone canary
// analysis, in the three REST calls Argo Rollouts' kayenta provider makes:
// find the canary configuration by name, start a judgement of the scopes,
// then read its score until it is complete. The score decides the phase
// against the metric's pass and marginal thresholds.
package kayenta

import (
	"bytes"
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
	Name = "kayenta"
	// ResumeDelay is how long a judgement runs before its score is read
	// (again), as in the reference.
	ResumeDelay = 15 * time.Second
	// MetadataExecutionID is the measurement metadata key of the
	// judgement's id, as the reference names it.
	MetadataExecutionID = "canaryExecutionId"
	// MetadataConfigID records which canary configuration was used.
	MetadataConfigID = "canaryConfigId"
)

// Options configures a Provider.
type Options = httpcall.Options

// Provider talks to Kayenta. It is safe for concurrent use.
type Provider struct {
	now  func() time.Time
	call httpcall.Client
}

var _ metricproviders.Resumer = (*Provider)(nil)

// New returns a Provider configured by opts.
func New(opts Options) *Provider {
	return &Provider{now: opts.Clock(), call: opts.Client(Name)}
}

// Validate checks a Kayenta metric without contacting the server. interval
// is the metric's interval, which fills a scope's missing start.
func Validate(k *v1alpha1.KayentaMetric, interval v1alpha1.DurationString) error {
	var errs []error
	if _, err := httpcall.BaseURL("", k.Address); err != nil {
		errs = append(errs, fmt.Errorf("address: %w", err))
	}
	if k.Application == "" {
		errs = append(errs, errors.New("application: required"))
	}
	if k.CanaryConfigName == "" {
		errs = append(errs, errors.New("canaryConfigName: required"))
	}
	if k.Threshold.Pass < k.Threshold.Marginal || k.Threshold.Marginal < 0 || k.Threshold.Pass > 100 {
		errs = append(errs, fmt.Errorf("threshold: need 0 <= marginal (%d) <= pass (%d) <= 100", k.Threshold.Marginal, k.Threshold.Pass))
	}
	if len(k.Scopes) == 0 {
		errs = append(errs, errors.New("scopes: name at least one pair of controlScope and experimentScope"))
	}
	seen := map[string]bool{}
	for i, s := range k.Scopes {
		if s.Name == "" || seen[s.Name] {
			errs = append(errs, fmt.Errorf("scopes[%d].name: needs a name of its own", i))
		}
		seen[s.Name] = true
		for _, sd := range []struct {
			what string
			d    v1alpha1.ScopeDetail
		}{{"controlScope", s.ControlScope}, {"experimentScope", s.ExperimentScope}} {
			if sd.d.Scope == "" {
				errs = append(errs, fmt.Errorf("scopes[%d].%s.scope: required", i, sd.what))
			}
			if (sd.d.Start == "" || sd.d.End == "") && interval == "" {
				errs = append(errs, fmt.Errorf("scopes[%d].%s: set start and end, or give the metric an interval to judge the last one of", i, sd.what))
			}
		}
	}
	return errors.Join(errs...)
}

// Query finds the canary configuration and starts a judgement; the
// measurement stays Running until Resume reads a score.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	k := req.Metric.Provider.Kayenta
	if k == nil {
		return metricproviders.Value{}, errors.New("kayenta: metric has no kayenta provider")
	}
	if err := Validate(k, req.Metric.Interval); err != nil {
		return metricproviders.Value{}, fmt.Errorf("kayenta: invalid metric %q: %w", req.Metric.Name, err)
	}
	base, _ := httpcall.BaseURL(Name, k.Address)
	configID, err := p.configID(ctx, base, k)
	if err != nil {
		return metricproviders.Value{}, err
	}
	body, err := p.judgementBody(req.Metric)
	if err != nil {
		return metricproviders.Value{}, err
	}
	q := url.Values{}
	q.Set("application", k.Application)
	setIf(q, "metricsAccountName", k.MetricsAccountName)
	setIf(q, "configurationAccountName", k.ConfigurationAccountName)
	setIf(q, "storageAccountName", k.StorageAccountName)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/canary/"+url.PathEscape(configID)+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("kayenta: building request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	answer, err := p.call.Do(r)
	if err != nil {
		return metricproviders.Value{}, err
	}
	var started struct {
		ID string `json:"canaryExecutionId"`
	}
	if err := json.Unmarshal(answer, &started); err != nil {
		return metricproviders.Value{}, fmt.Errorf("kayenta: decoding the started judgement: %w", err)
	}
	if started.ID == "" {
		return metricproviders.Value{}, errors.New("kayenta: the server started no judgement (no canaryExecutionId)")
	}
	return metricproviders.Value{
		Phase: v1alpha1.AnalysisPhaseRunning, ResumeAfter: ResumeDelay,
		Message:  "Kayenta is judging the canary",
		Metadata: map[string]string{MetadataExecutionID: started.ID, MetadataConfigID: configID},
	}, nil
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// configID looks the canary configuration up by name among the
// application's configurations.
func (p *Provider) configID(ctx context.Context, base string, k *v1alpha1.KayentaMetric) (string, error) {
	q := url.Values{}
	q.Set("application", k.Application)
	setIf(q, "configurationAccountName", k.ConfigurationAccountName)
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/canaryConfig?"+q.Encode(), nil)
	if err != nil {
		return "", fmt.Errorf("kayenta: building request: %w", err)
	}
	r.Header.Set("Accept", "application/json")
	body, err := p.call.Do(r)
	if err != nil {
		return "", err
	}
	var configs []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(body, &configs); err != nil {
		return "", fmt.Errorf("kayenta: decoding the canary configurations: %w", err)
	}
	for _, c := range configs {
		if c.Name == k.CanaryConfigName && c.ID != "" {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("kayenta: application %q has no canary configuration named %q (%d found)", k.Application, k.CanaryConfigName, len(configs))
}

// judgementBody is the body of the standalone judgement: the scopes by
// name and the thresholds. A scope without start and end covers the
// metric's last interval, up to now.
func (p *Provider) judgementBody(m v1alpha1.Metric) ([]byte, error) {
	k := m.Provider.Kayenta
	now := p.now().UTC()
	var window time.Duration
	if m.Interval != "" {
		d, err := m.Interval.Duration()
		if err != nil {
			return nil, fmt.Errorf("kayenta: interval %q: %w", m.Interval, err)
		}
		window = d
	}
	fill := func(s v1alpha1.ScopeDetail) v1alpha1.ScopeDetail {
		if s.End == "" {
			s.End = now.Format(time.RFC3339)
		}
		if s.Start == "" {
			s.Start = now.Add(-window).Format(time.RFC3339)
		}
		return s
	}
	type pair struct {
		Control    v1alpha1.ScopeDetail `json:"controlScope"`
		Experiment v1alpha1.ScopeDetail `json:"experimentScope"`
	}
	scopes := map[string]pair{}
	for _, s := range k.Scopes {
		scopes[s.Name] = pair{Control: fill(s.ControlScope), Experiment: fill(s.ExperimentScope)}
	}
	body := map[string]any{
		"scopes":     scopes,
		"thresholds": map[string]int64{"pass": k.Threshold.Pass, "marginal": k.Threshold.Marginal},
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("kayenta: encoding judgement: %w", err)
	}
	return raw, nil
}

// execution is the part of GET /canary/{id}'s answer the provider reads.
type execution struct {
	Complete *bool  `json:"complete"`
	Status   string `json:"status"`
	Result   *struct {
		JudgeResult *struct {
			Score *struct {
				Score          *float64 `json:"score"`
				Classification string   `json:"classification"`
			} `json:"score"`
		} `json:"judgeResult"`
	} `json:"result"`
	Exception *struct {
		Details struct {
			Error  string   `json:"error"`
			Errors []string `json:"errors"`
		} `json:"details"`
	} `json:"exception"`
}

// Resume reads the judgement's score, or leaves it Running.
func (p *Provider) Resume(ctx context.Context, req metricproviders.Request, metadata map[string]string) (metricproviders.Value, error) {
	k := req.Metric.Provider.Kayenta
	if k == nil {
		return metricproviders.Value{}, errors.New("kayenta: metric has no kayenta provider")
	}
	id := metadata[MetadataExecutionID]
	if id == "" {
		return metricproviders.Value{}, errors.New("kayenta: the measurement lost its canaryExecutionId")
	}
	base, err := httpcall.BaseURL(Name, k.Address)
	if err != nil {
		return metricproviders.Value{}, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/canary/"+url.PathEscape(id), nil)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("kayenta: building request: %w", err)
	}
	r.Header.Set("Accept", "application/json")
	body, err := p.call.Do(r)
	if err != nil {
		return metricproviders.Value{}, err
	}
	var ex execution
	if err := json.Unmarshal(body, &ex); err != nil {
		return metricproviders.Value{}, fmt.Errorf("kayenta: decoding judgement %s: %w", id, err)
	}
	if ex.Complete == nil {
		return metricproviders.Value{}, fmt.Errorf("kayenta: judgement %s has no complete field", id)
	}
	meta := map[string]string{}
	for k, v := range metadata {
		meta[k] = v
	}
	if !*ex.Complete {
		return metricproviders.Value{Phase: v1alpha1.AnalysisPhaseRunning, ResumeAfter: ResumeDelay,
			Message: "Kayenta is judging the canary", Metadata: meta}, nil
	}
	if ex.Result == nil || ex.Result.JudgeResult == nil || ex.Result.JudgeResult.Score == nil || ex.Result.JudgeResult.Score.Score == nil {
		why := ex.Status
		if ex.Exception != nil {
			why = strings.TrimSpace(why + " " + ex.Exception.Details.Error + " " + strings.Join(ex.Exception.Details.Errors, "; "))
		}
		if why != "" {
			why = ": " + httpcall.Truncate(why)
		}
		return metricproviders.Value{}, fmt.Errorf("kayenta: judgement %s finished without a score%s", id, why)
	}
	score := *ex.Result.JudgeResult.Score.Score
	if math.IsNaN(score) {
		return metricproviders.Value{}, fmt.Errorf("kayenta: judgement %s scored NaN", id)
	}
	if c := ex.Result.JudgeResult.Score.Classification; c != "" {
		meta["classification"] = c
	}
	// The reference compares the score truncated to an integer.
	s := int64(score)
	return metricproviders.Value{
		Result: float64(s), Raw: strconv.FormatInt(s, 10), Metadata: meta,
		Phase: Judge(s, k.Threshold),
	}, nil
}

// Judge maps a score to a phase: at or above pass is Successful, at or
// above marginal Inconclusive, below it Failed.
func Judge(score int64, t v1alpha1.KayentaThreshold) v1alpha1.AnalysisPhase {
	switch {
	case score >= t.Pass:
		return v1alpha1.AnalysisPhaseSuccessful
	case score >= t.Marginal:
		return v1alpha1.AnalysisPhaseInconclusive
	}
	return v1alpha1.AnalysisPhaseFailed
}
