package prometheus

import (
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// resolveRange evaluates rangeQuery's start and end, which upstream
// documents as expr-lang expressions such as `now() - duration("5m")`,
// and parses its step.
func (p *Provider) resolveRange(r *v1alpha1.PrometheusRangeQueryArgs) (promv1.Range, error) {
	if strings.TrimSpace(r.Start) == "" {
		return promv1.Range{}, fmt.Errorf("rangeQuery.start is required")
	}
	start, err := p.evalTime(r.Start)
	if err != nil {
		return promv1.Range{}, fmt.Errorf("failed to parse rangeQuery.start as time: %w", err)
	}
	end := p.now()
	if strings.TrimSpace(r.End) != "" {
		if end, err = p.evalTime(r.End); err != nil {
			return promv1.Range{}, fmt.Errorf("failed to parse rangeQuery.end as time: %w", err)
		}
	}
	if end.Before(start) {
		return promv1.Range{}, fmt.Errorf("rangeQuery.end (%s) is before rangeQuery.start (%s)", end.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339))
	}
	step, err := parseStep(r.Step)
	if err != nil {
		return promv1.Range{}, fmt.Errorf("failed to parse rangeQuery.step as duration: %w", err)
	}
	return promv1.Range{Start: start, End: end, Step: step}, nil
}

// evalTime runs one time expression. now() is the provider's clock rather
// than expr's built-in, so that tests control it.
func (p *Provider) evalTime(expression string) (time.Time, error) {
	program, err := expr.Compile(expression,
		expr.DisableBuiltin("now"),
		expr.Function("now", func(...any) (any, error) { return p.now(), nil }, new(func() time.Time)),
	)
	if err != nil {
		return time.Time{}, err
	}
	out, err := expr.Run(program, nil)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := out.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("expression yields %T, not a time", out)
	}
	return t, nil
}

// parseStep accepts Go durations ("1m30s") and Prometheus ones ("1d"),
// since users copy steps from either world.
func parseStep(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("rangeQuery.step is required")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		md, merr := model.ParseDuration(s)
		if merr != nil {
			return 0, err
		}
		d = time.Duration(md)
	}
	if d <= 0 {
		return 0, fmt.Errorf("step must be positive, got %q", s)
	}
	return d, nil
}
