// Package metricproviders defines what the AnalysisRun engine asks of a
// metric provider. Each provider lives in a package of its own below this
// one and knows only its backend's API: the engine owns scheduling,
// argument substitution, conditions, limits and status.
package metricproviders

import (
	"context"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Request is one measurement to take.
type Request struct {
	// Namespace and RunName identify the AnalysisRun the measurement is for.
	Namespace string
	RunName   string
	// Metric is the metric with every {{args.name}} already substituted.
	Metric v1alpha1.Metric
	// Secrets reads keys of Secrets, e.g. credentials named by the provider.
	Secrets SecretReader
}

// SecretReader reads one key of a Secret. Values it returns must never be
// written to status, Events or logs.
type SecretReader interface {
	// SecretValue returns the value of key in Secret name of namespace.
	SecretValue(ctx context.Context, namespace, name, key string) (string, error)
}

// Value is what a provider measured.
type Value struct {
	// Result is what successCondition and failureCondition see as `result`:
	// a float64, a []float64 (one per series of a vector), a string, a bool,
	// a map[string]any or []any (decoded JSON), or nil for "no data".
	Result any
	// Raw is the measurement's value as status shows it, e.g. "[0.991]".
	Raw string
	// Metadata is recorded on the measurement (e.g. the query actually sent).
	// For a measurement still in flight it is also what Resume gets back.
	Metadata map[string]string
	// Phase, when set, is the phase the provider judged by itself (Kayenta
	// scores a canary against thresholds of its own), so successCondition
	// and failureCondition are not evaluated. AnalysisPhaseRunning means the
	// backend is still working: the engine keeps the measurement in flight
	// and calls the provider's Resume after ResumeAfter.
	Phase v1alpha1.AnalysisPhase
	// ResumeAfter is how long an in-flight measurement waits before Resume.
	ResumeAfter time.Duration
	// Message is recorded on a measurement whose Phase the provider set.
	Message string
}

// Querier takes one measurement synchronously. An error becomes a
// measurement in phase Error; its message must say what failed without
// echoing secret values.
type Querier interface {
	// Query takes the measurement.
	Query(ctx context.Context, req Request) (Value, error)
}

// Resumer is a Querier whose backend judges asynchronously: Query starts the
// work and returns Phase Running, and Resume looks again until it is done.
// Each call is short, so a slow judgement never holds an analysis worker.
type Resumer interface {
	Querier
	// Resume checks an in-flight measurement; metadata is what the previous
	// call returned.
	Resume(ctx context.Context, req Request, metadata map[string]string) (Value, error)
}
