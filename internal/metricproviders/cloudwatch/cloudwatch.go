// Package cloudwatch measures metrics with AWS CloudWatch GetMetricData,
// through the official AWS SDK for Go v2 and its standard credential chain,
// as Argo Rollouts' cloudWatch provider does.
package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// Name identifies the provider in metrics and messages.
const Name = "cloudwatch"

const (
	// DefaultInterval is the window queried, ending now, when a metric sets
	// no interval.
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout bounds one GetMetricData call, SDK retries included,
	// when Options sets none.
	DefaultTimeout = 30 * time.Second
)

// Options configures a Provider.
type Options struct {
	// LoadConfig loads the AWS configuration; nil means
	// config.LoadDefaultConfig, i.e. the standard chain: environment,
	// shared files, web identity (IRSA), EKS Pod Identity, ECS and EC2 roles.
	LoadConfig func(ctx context.Context) (aws.Config, error)
	// Endpoint, when set, replaces CloudWatch's regional endpoint, e.g. a
	// VPC endpoint or a test server.
	Endpoint string
	// ClientOptions adjust the CloudWatch client after Endpoint is applied.
	ClientOptions []func(*cloudwatch.Options)
	// Now returns the current time; nil means time.Now. Tests fix it to make
	// the query window predictable.
	Now func() time.Time
	// Timeout bounds each GetMetricData call; zero means DefaultTimeout.
	Timeout time.Duration
}

// Provider queries CloudWatch. It is safe for concurrent use.
type Provider struct {
	opts Options

	// mu guards client, which is built on first use and then kept so the
	// SDK's credential cache survives between measurements. A failed load is
	// not kept, so a fixed environment is picked up on the next measurement.
	mu     sync.Mutex
	client *cloudwatch.Client
}

var _ metricproviders.Querier = (*Provider)(nil)

// New returns a Provider configured by opts. No AWS configuration is loaded
// until the first measurement, so a controller without CloudWatch metrics
// never needs AWS credentials.
func New(opts Options) *Provider {
	if opts.LoadConfig == nil {
		opts.LoadConfig = func(ctx context.Context) (aws.Config, error) {
			return config.LoadDefaultConfig(ctx)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	return &Provider{opts: opts}
}

// Query runs the metric's GetMetricData queries over [now-interval, now].
//
// The result is a list with one map per MetricDataResult, keyed by the
// field names of the SDK's types.MetricDataResult (Id, Label, StatusCode,
// Timestamps, Values, Messages), because upstream hands those structs to
// the condition and users write e.g. `all(result[0].Values, {# <= 0.01})`.
// Values and Timestamps keep CloudWatch's order, newest first.
func (p *Provider) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	cw := req.Metric.Provider.CloudWatch
	if cw == nil {
		return metricproviders.Value{}, errors.New("cloudwatch: metric has no cloudWatch provider")
	}
	interval := DefaultInterval
	if cw.Interval != "" {
		var err error
		interval, err = cw.Interval.Duration()
		if err != nil {
			return metricproviders.Value{}, fmt.Errorf("cloudwatch: invalid interval %q: %w", cw.Interval, err)
		}
		if interval <= 0 {
			return metricproviders.Value{}, fmt.Errorf("cloudwatch: interval %q must be positive", cw.Interval)
		}
	}
	queries, err := convertQueries(cw.MetricDataQueries)
	if err != nil {
		return metricproviders.Value{}, fmt.Errorf("cloudwatch: invalid metric %q: %w", req.Metric.Name, err)
	}
	client, err := p.getClient(ctx)
	if err != nil {
		return metricproviders.Value{}, err
	}

	end := p.opts.Now()
	start := end.Add(-interval)
	in := &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
		MetricDataQueries: queries,
	}

	callCtx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	began := time.Now()
	out, err := client.GetMetricData(callCtx, in)
	err = p.describe(callCtx, err)
	metricproviders.Observe(Name, began, err)
	if err != nil {
		return metricproviders.Value{}, err
	}
	return toValue(out, start, end), nil
}

// getClient returns the cached client, building it on first use.
func (p *Provider) getClient(ctx context.Context) (*cloudwatch.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	cfg, err := p.opts.LoadConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch: loading AWS configuration: %w", err)
	}
	// Without a region the SDK fails later with a less obvious endpoint
	// error; say what to set instead.
	if cfg.Region == "" {
		return nil, errors.New("cloudwatch: no AWS region configured; set AWS_REGION on the controller")
	}
	optFns := make([]func(*cloudwatch.Options), 0, len(p.opts.ClientOptions)+1)
	if p.opts.Endpoint != "" {
		endpoint := p.opts.Endpoint
		optFns = append(optFns, func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(endpoint) })
	}
	optFns = append(optFns, p.opts.ClientOptions...)
	p.client = cloudwatch.NewFromConfig(cfg, optFns...)
	return p.client, nil
}

// describe wraps an SDK error with what failed. The SDK's messages carry
// the operation, status, request ID and AWS's error code, never
// credentials.
func (p *Provider) describe(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("cloudwatch: GetMetricData timed out after %s: %w", p.opts.Timeout, err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException":
			return fmt.Errorf("cloudwatch: GetMetricData throttled by AWS (%s): %w", apiErr.ErrorCode(), err)
		}
		return fmt.Errorf("cloudwatch: GetMetricData failed with %s: %w", apiErr.ErrorCode(), err)
	}
	return fmt.Errorf("cloudwatch: GetMetricData: %w", err)
}

// convertQueries maps the metric's queries field by field onto the SDK's,
// checking what CloudWatch would otherwise reject with a terser message.
func convertQueries(in []v1alpha1.CloudWatchMetricDataQuery) ([]types.MetricDataQuery, error) {
	if len(in) == 0 {
		return nil, errors.New("metricDataQueries is empty")
	}
	out := make([]types.MetricDataQuery, 0, len(in))
	for i, q := range in {
		if q.Id == "" {
			return nil, fmt.Errorf("metricDataQueries[%d]: id is required", i)
		}
		if (q.Expression == nil) == (q.MetricStat == nil) {
			return nil, fmt.Errorf("metricDataQueries[%d] (%s): set exactly one of expression and metricStat", i, q.Id)
		}
		mq := types.MetricDataQuery{
			Id:         aws.String(q.Id),
			Expression: q.Expression,
			Label:      q.Label,
			ReturnData: q.ReturnData,
		}
		if q.Period != nil {
			period, err := seconds(*q.Period)
			if err != nil {
				return nil, fmt.Errorf("metricDataQueries[%d] (%s): period: %w", i, q.Id, err)
			}
			mq.Period = period
		}
		if ms := q.MetricStat; ms != nil {
			period, err := seconds(ms.Period)
			if err != nil {
				return nil, fmt.Errorf("metricDataQueries[%d] (%s): metricStat.period: %w", i, q.Id, err)
			}
			stat := &types.MetricStat{
				Metric: &types.Metric{
					Namespace:  ms.Metric.Namespace,
					MetricName: optional(ms.Metric.MetricName),
				},
				Period: period,
				Stat:   optional(ms.Stat),
				Unit:   types.StandardUnit(ms.Unit),
			}
			for _, d := range ms.Metric.Dimensions {
				stat.Metric.Dimensions = append(stat.Metric.Dimensions, types.Dimension{
					Name:  aws.String(d.Name),
					Value: aws.String(d.Value),
				})
			}
			mq.MetricStat = stat
		}
		out = append(out, mq)
	}
	return out, nil
}

// seconds reads a period given as a number or a numeric string; zero means
// unset. Unlike intstr's IntValue, a non-numeric string is an error rather
// than a silent 0.
func seconds(v intstr.IntOrString) (*int32, error) {
	n := int64(v.IntVal)
	if v.Type == intstr.String {
		if v.StrVal == "" {
			return nil, nil
		}
		var err error
		if n, err = strconv.ParseInt(v.StrVal, 10, 32); err != nil {
			return nil, fmt.Errorf("%q is not a number of seconds", v.StrVal)
		}
	}
	switch {
	case n == 0:
		return nil, nil
	case n < 0:
		return nil, fmt.Errorf("%d must be positive", n)
	}
	return aws.Int32(int32(n)), nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// toValue renders GetMetricData's answer as the condition's result, the
// status's raw value ("[[v1 v2] [v3]]", upstream's format) and metadata.
func toValue(out *cloudwatch.GetMetricDataOutput, start, end time.Time) metricproviders.Value {
	results := make([]any, 0, len(out.MetricDataResults))
	raw := make([][]float64, 0, len(out.MetricDataResults))
	for _, r := range out.MetricDataResults {
		values := make([]any, len(r.Values))
		for i, v := range r.Values {
			values[i] = v
		}
		stamps := make([]any, len(r.Timestamps))
		for i, t := range r.Timestamps {
			stamps[i] = t.UTC()
		}
		results = append(results, map[string]any{
			"Id":         aws.ToString(r.Id),
			"Label":      aws.ToString(r.Label),
			"StatusCode": string(r.StatusCode),
			"Timestamps": stamps,
			"Values":     values,
			"Messages":   messages(r.Messages),
		})
		vs := r.Values
		if vs == nil {
			vs = []float64{}
		}
		raw = append(raw, vs)
	}

	meta := map[string]string{
		"from": start.UTC().Format(time.RFC3339),
		"to":   end.UTC().Format(time.RFC3339),
	}
	if len(out.Messages) > 0 {
		meta["messages"] = formatMessages(out.Messages)
	}
	// Upstream reads one page only; say so when CloudWatch had more rather
	// than judge silently on part of the data.
	if aws.ToString(out.NextToken) != "" {
		meta["truncated"] = "true"
	}
	return metricproviders.Value{
		Result:   results,
		Raw:      fmt.Sprintf("%v", raw),
		Metadata: meta,
	}
}

func messages(ms []types.MessageData) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = map[string]any{"Code": aws.ToString(m.Code), "Value": aws.ToString(m.Value)}
	}
	return out
}

func formatMessages(ms []types.MessageData) string {
	s := "["
	for i, m := range ms {
		if i > 0 {
			s += " "
		}
		s += aws.ToString(m.Code) + ": " + aws.ToString(m.Value)
	}
	return s + "]"
}
