package compare

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/stats"
)

// Class is what a metric's comparison found.
type Class string

const (
	// Pass: no change in the direction that matters beyond the allowance.
	Pass Class = "Pass"
	// High: the canary is higher than the baseline, significantly and by
	// more than allowedIncrease.
	High Class = "High"
	// Low: the canary is lower than the baseline, significantly and by
	// more than allowedDecrease.
	Low Class = "Low"
	// NoData: one side had no samples.
	NoData Class = "NoData"
)

// Samples are one metric's values on each side.
type Samples struct {
	// Canary and Baseline are every sample each side's query returned.
	Canary, Baseline []float64
}

// MetricResult is every number the judge used for one metric.
type MetricResult struct {
	// Name of the metric, and the Class it was given.
	Name  string `json:"name"`
	Class Class  `json:"class"`
	// Failing says the metric counts against the score: High or Low, or
	// NoData when the metric must have data.
	Failing bool `json:"failing,omitempty"`
	// Critical repeats the metric's setting, for whoever reads the result.
	Critical bool `json:"critical,omitempty"`
	// Canary and Baseline are the sample counts compared, after outliers
	// were removed; Removed counts those removed from both.
	Canary   int `json:"canary"`
	Baseline int `json:"baseline"`
	Removed  int `json:"removed,omitempty"`
	// U is the canary's Mann-Whitney statistic and P the two-sided
	// p-value; Method is how P and the interval were computed.
	U      float64 `json:"u"`
	P      float64 `json:"p"`
	Method string  `json:"method,omitempty"`
	// Estimate is the Hodges-Lehmann shift of canary over baseline, in
	// the metric's unit, and Low/High its interval at the confidence.
	Estimate   float64 `json:"estimate"`
	Low        float64 `json:"low"`
	High       float64 `json:"high"`
	Confidence float64 `json:"confidence"`
	// Effect is the canary's location as a ratio of the baseline's
	// (baseline median + shift) / baseline median; NaN when the
	// baseline's median is zero.
	Effect float64 `json:"effect"`
	// Reason says in words why the class was given.
	Reason string `json:"reason"`
}

// Judgement is the verdict over all metrics.
type Judgement struct {
	// Score is the weighted share of passing metrics, 0 to 100.
	Score float64
	// Phase is Successful, Inconclusive or Failed.
	Phase v1alpha1.AnalysisPhase
	// Message says why, naming the metrics that decided.
	Message string
	// Metrics are the per-metric results in configuration order.
	Metrics []MetricResult
}

// Judge classifies each metric and scores the whole. It is a pure
// function of the configuration and the samples, keyed by metric name.
func Judge(c *Config, samples map[string]Samples) Judgement {
	var j Judgement
	var passW, countedW float64
	var criticalFails, failing []string
	noData := 0
	for _, m := range c.Metrics {
		r := Classify(m, samples[m.Name])
		j.Metrics = append(j.Metrics, r)
		if r.Class == NoData && !m.MustHaveData {
			noData++
			continue
		}
		countedW += m.weight()
		if r.Failing {
			failing = append(failing, r.Name+" "+string(r.Class))
			if m.Critical {
				criticalFails = append(criticalFails, r.Name)
			}
			continue
		}
		passW += m.weight()
	}
	if countedW > 0 {
		j.Score = 100 * passW / countedW
	}
	pass, marginal := c.thresholds()
	switch {
	case len(criticalFails) > 0:
		j.Score = 0
		j.Phase = v1alpha1.AnalysisPhaseFailed
		j.Message = fmt.Sprintf("critical metric %s failed", strings.Join(criticalFails, ", "))
		return j
	case countedW == 0 || 2*noData >= len(c.Metrics):
		// Too little data says nothing about the canary either way: as
		// Kayenta, half the metrics without data is too little.
		j.Phase = v1alpha1.AnalysisPhaseInconclusive
		j.Message = fmt.Sprintf("%d of %d metrics had no data on one side", noData, len(c.Metrics))
		return j
	case j.Score >= pass:
		j.Phase = v1alpha1.AnalysisPhaseSuccessful
	case j.Score >= marginal:
		j.Phase = v1alpha1.AnalysisPhaseInconclusive
	default:
		j.Phase = v1alpha1.AnalysisPhaseFailed
	}
	j.Message = fmt.Sprintf("score %s (pass %s, marginal %s)", formatScore(j.Score), formatScore(pass), formatScore(marginal))
	if len(failing) > 0 {
		j.Message += ": " + strings.Join(failing, ", ")
	}
	return j
}

func formatScore(s float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", s), "0"), ".")
}

// Classify compares one metric's canary with its baseline.
//
// Outliers are removed first when the metric asks (see RemoveOutliers).
// Then, with b the baseline's median and [lo, hi] the Hodges-Lehmann
// interval of the shift at the metric's confidence, the metric is High
// when lo > (allowedIncrease - 1)·|b| and Low when hi < -(1 -
// allowedDecrease)·|b|: the whole interval lies beyond what is allowed,
// so the change is both significant and larger than tolerated. Only the
// direction that the metric calls bad is looked for; a change the other
// way passes, as in Kayenta.
func Classify(m Metric, s Samples) MetricResult {
	r := MetricResult{Name: m.Name, Critical: m.Critical, Confidence: m.confidence(), Effect: math.NaN()}
	canary, baseline := finite(s.Canary), finite(s.Baseline)
	if m.Outliers == OutliersRemove {
		var rc, rb int
		canary, rc = RemoveOutliers(canary, m.outlierFactor())
		baseline, rb = RemoveOutliers(baseline, m.outlierFactor())
		r.Removed = rc + rb
	}
	r.Canary, r.Baseline = len(canary), len(baseline)
	if len(canary) == 0 || len(baseline) == 0 {
		r.Class, r.Failing = NoData, m.MustHaveData
		r.P, r.Estimate, r.Low, r.High = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		r.Reason = fmt.Sprintf("no samples: canary %d, baseline %d", len(canary), len(baseline))
		return r
	}
	u, err := stats.MannWhitneyU(canary, baseline, stats.TwoSided, stats.Auto)
	if err != nil {
		// finite() leaves nothing MannWhitneyU refuses.
		r.Class, r.Failing, r.Reason = NoData, m.MustHaveData, err.Error()
		return r
	}
	shift, err := stats.HodgesLehmann(canary, baseline, m.confidence(), stats.Auto)
	if err != nil {
		r.Class, r.Failing, r.Reason = NoData, m.MustHaveData, err.Error()
		return r
	}
	r.U, r.P, r.Method = u.U, u.P, u.Method.String()
	r.Estimate, r.Low, r.High = shift.Estimate, shift.Low, shift.High
	b := stats.Median(baseline)
	if b != 0 {
		r.Effect = (b + shift.Estimate) / b
	}
	if shift.Unreachable {
		// A one-point "interval" would call any difference significant.
		r.Class = Pass
		r.Reason = fmt.Sprintf("too few samples (%d and %d) for an interval at %v: nothing shown", len(canary), len(baseline), m.confidence())
		return r
	}
	up := (m.allowedIncrease() - 1) * math.Abs(b)
	down := (1 - m.allowedDecrease()) * math.Abs(b)
	dir := m.direction()
	switch {
	case (dir == Increase || dir == Either) && shift.Low > up:
		r.Class, r.Failing = High, true
		r.Reason = fmt.Sprintf("the canary is higher: the whole interval [%.4g, %.4g] is above the allowed %.4g", shift.Low, shift.High, up)
	case (dir == Decrease || dir == Either) && shift.High < -down:
		r.Class, r.Failing = Low, true
		r.Reason = fmt.Sprintf("the canary is lower: the whole interval [%.4g, %.4g] is below the allowed %.4g", shift.Low, shift.High, -down)
	default:
		r.Class = Pass
		r.Reason = fmt.Sprintf("no %s beyond the allowance: interval [%.4g, %.4g]", dir.bad(), shift.Low, shift.High)
	}
	return r
}

// finite drops NaN and infinite samples: Prometheus writes NaN for 0/0,
// e.g. an error ratio over a window without requests, which is no sample.
func finite(values []float64) []float64 {
	out := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// RemoveOutliers drops values outside Tukey's fences [Q1 - k·IQR, Q3 +
// k·IQR], quartiles by linear interpolation, and returns how many it
// dropped. Kayenta's default k is 3 ("far out" values), which keeps the
// ordinary tail of a latency distribution and drops only spikes.
func RemoveOutliers(values []float64, k float64) ([]float64, int) {
	if len(values) < 4 {
		// Quartiles of fewer values are the values themselves.
		return values, 0
	}
	q1, q3 := stats.Quantile(values, 0.25), stats.Quantile(values, 0.75)
	lo, hi := q1-k*(q3-q1), q3+k*(q3-q1)
	out := slices.DeleteFunc(slices.Clone(values), func(v float64) bool { return v < lo || v > hi })
	return out, len(values) - len(out)
}
