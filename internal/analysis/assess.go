// Package analysis is the AnalysisRun controller: it takes each metric's
// measurements when they are due, judges them with the metric's conditions
// and limits, and decides the run's verdict. Runs are scheduled through the
// controller's delaying work queue (one timer heap for all runs), never with
// a goroutine or a poll loop per run.
package analysis

import (
	"fmt"
	"regexp"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Defaults of the published API.
const (
	defaultConsecutiveErrorLimit = 4
	defaultMeasurementRetention  = 10
	// errorRetryInterval spaces retries of a metric without an interval
	// whose measurement errored.
	errorRetryInterval = 10 * time.Second
)

// intValue reads an int-or-string limit ("3" or 3); def when unset or junk.
func intValue(v *intstr.IntOrString, def int32) int32 {
	if v == nil {
		return def
	}
	if v.Type == intstr.Int {
		return v.IntVal
	}
	var n int32
	if _, err := fmt.Sscanf(v.StrVal, "%d", &n); err != nil {
		return def
	}
	return n
}

// effectiveCount is how many measurements the metric takes; 0 means
// unbounded (an interval without a count).
func effectiveCount(m *v1alpha1.Metric) int32 {
	c := m.EffectiveCount()
	if c == nil {
		return 0
	}
	return intValue(c, 1)
}

func findResult(st *v1alpha1.AnalysisRunStatus, name string) *v1alpha1.MetricResult {
	for i := range st.MetricResults {
		if st.MetricResults[i].Name == name {
			return &st.MetricResults[i]
		}
	}
	return nil
}

func lastMeasurement(r *v1alpha1.MetricResult) *v1alpha1.Measurement {
	if r == nil || len(r.Measurements) == 0 {
		return nil
	}
	return &r.Measurements[len(r.Measurements)-1]
}

// assessMetric judges a metric from its counters, the way users of the
// reference expect: limits first, then the count, then termination.
func assessMetric(m *v1alpha1.Metric, r *v1alpha1.MetricResult, terminating bool) (v1alpha1.AnalysisPhase, string) {
	if r.Phase.Completed() {
		return r.Phase, r.Message
	}
	last := lastMeasurement(r)
	if last == nil {
		if terminating {
			return v1alpha1.AnalysisPhaseSuccessful, "run terminated before a measurement"
		}
		return v1alpha1.AnalysisPhasePending, ""
	}
	if !last.Phase.Completed() {
		return v1alpha1.AnalysisPhaseRunning, ""
	}
	if limit := intValue(m.FailureLimit, 0); limit >= 0 && r.Failed > limit {
		return v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("metric %q assessed Failed due to failed (%d) > failureLimit (%d)%s", m.Name, r.Failed, limit, lastValue(last))
	}
	if limit := intValue(m.InconclusiveLimit, 0); r.Inconclusive > limit {
		return v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("metric %q assessed Inconclusive due to inconclusive (%d) > inconclusiveLimit (%d)%s", m.Name, r.Inconclusive, limit, lastValue(last))
	}
	if limit := intValue(m.ConsecutiveErrorLimit, defaultConsecutiveErrorLimit); r.ConsecutiveError > limit {
		return v1alpha1.AnalysisPhaseError, fmt.Sprintf("metric %q assessed Error due to consecutiveErrors (%d) > consecutiveErrorLimit (%d): %s", m.Name, r.ConsecutiveError, limit, last.Message)
	}
	if limit := intValue(m.ConsecutiveSuccessLimit, 0); limit > 0 && r.ConsecutiveSuccess >= limit {
		return v1alpha1.AnalysisPhaseSuccessful, fmt.Sprintf("metric %q assessed Successful: %d consecutive successes", m.Name, r.ConsecutiveSuccess)
	}
	if c := effectiveCount(m); c > 0 && r.Count >= c {
		return v1alpha1.AnalysisPhaseSuccessful, ""
	}
	if terminating {
		return v1alpha1.AnalysisPhaseSuccessful, "metric terminated"
	}
	return v1alpha1.AnalysisPhaseRunning, ""
}

func lastValue(m *v1alpha1.Measurement) string {
	if m.Value == "" {
		return ""
	}
	return fmt.Sprintf("; last measurement %s", m.Value)
}

// phaseRank orders phases from best to worst for the run's verdict.
var phaseRank = map[v1alpha1.AnalysisPhase]int{
	v1alpha1.AnalysisPhaseSuccessful:   0,
	v1alpha1.AnalysisPhaseInconclusive: 1,
	v1alpha1.AnalysisPhaseError:        2,
	v1alpha1.AnalysisPhaseFailed:       3,
}

// isDryRun reports whether the metric is measured in dry-run mode; names in
// dryRun may be regular expressions such as ".*".
func isDryRun(run *v1alpha1.AnalysisRun, metric string) bool {
	for _, d := range run.Spec.DryRun {
		if d.MetricName == metric {
			return true
		}
		if re, err := regexp.Compile("^(?:" + d.MetricName + ")$"); err == nil && re.MatchString(metric) {
			return true
		}
	}
	return false
}

// retentionRules is a run's measurementRetention, looked up by metric name
// many times in one reconcile (trimming each measured metric, and batch
// planning twice per metric). Each pattern is compiled at most once, the
// first time a name does not match it exactly, and only for as long as the
// reconcile holds the rules, so a changed spec is always read afresh.
type retentionRules []retentionRule

type retentionRule struct {
	name  string
	limit int
	// re is the compiled pattern once tried; nil with tried set means the
	// name is not a valid pattern and matches only itself.
	re    *regexp.Regexp
	tried bool
}

// retentionOf reads the run's measurementRetention rules.
func retentionOf(run *v1alpha1.AnalysisRun) retentionRules {
	rules := make(retentionRules, len(run.Spec.MeasurementRetention))
	for i, r := range run.Spec.MeasurementRetention {
		rules[i] = retentionRule{name: r.MetricName, limit: int(r.Limit)}
	}
	return rules
}

// limit is how many measurements of a metric are kept in status: the limit
// of the first rule whose name equals the metric's or, as a regular
// expression, matches all of it; a limit that is not positive means the
// default.
func (rules retentionRules) limit(metric string) int {
	for i := range rules {
		r := &rules[i]
		if r.matches(metric) && r.limit > 0 {
			return r.limit
		}
	}
	return defaultMeasurementRetention
}

func (r *retentionRule) matches(metric string) bool {
	if r.name == metric {
		return true
	}
	if !r.tried {
		r.tried = true
		if re, err := regexp.Compile("^(?:" + r.name + ")$"); err == nil {
			r.re = re
		}
	}
	return r.re != nil && r.re.MatchString(metric)
}

// terminating reports whether the run stops taking new measurements: a
// client asked for it, or a deciding metric already concluded badly.
func terminating(run *v1alpha1.AnalysisRun) bool {
	if run.Spec.Terminate {
		return true
	}
	for _, r := range run.Status.MetricResults {
		if r.DryRun {
			continue
		}
		switch r.Phase {
		case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
			return true
		}
	}
	return false
}

// assessRun sets every metric's phase and the run's phase, message and
// summaries. It returns the metrics whose phase changed, for events.
func assessRun(run *v1alpha1.AnalysisRun, now time.Time) []string {
	st := &run.Status
	term := terminating(run)
	var changed []string
	summary, dry := v1alpha1.RunSummary{}, v1alpha1.RunSummary{}
	worst := v1alpha1.AnalysisPhase("")
	worstMsg := ""
	allDone := true
	for i := range run.Spec.Metrics {
		m := &run.Spec.Metrics[i]
		r := findResult(st, m.Name)
		if r == nil {
			st.MetricResults = append(st.MetricResults, v1alpha1.MetricResult{Name: m.Name, Phase: v1alpha1.AnalysisPhasePending, DryRun: isDryRun(run, m.Name)})
			r = &st.MetricResults[len(st.MetricResults)-1]
		}
		phase, msg := assessMetric(m, r, term)
		if phase != r.Phase {
			changed = append(changed, m.Name)
			r.Phase = phase
			if msg != "" {
				r.Message = msg
			}
		}
		sum := &summary
		if r.DryRun {
			sum = &dry
		}
		sum.Count++
		switch phase {
		case v1alpha1.AnalysisPhaseSuccessful:
			sum.Successful++
		case v1alpha1.AnalysisPhaseFailed:
			sum.Failed++
		case v1alpha1.AnalysisPhaseInconclusive:
			sum.Inconclusive++
		case v1alpha1.AnalysisPhaseError:
			sum.Error++
		}
		if !phase.Completed() {
			// Dry-run metrics never decide, but the run lasts until they end.
			allDone = false
			continue
		}
		if r.DryRun {
			continue
		}
		if worst == "" || phaseRank[phase] > phaseRank[worst] {
			worst, worstMsg = phase, r.Message
		}
	}
	st.RunSummary = summary
	st.DryRunSummary = nil
	if dry.Count > 0 {
		st.DryRunSummary = &dry
	}
	switch {
	case worst != "" && worst != v1alpha1.AnalysisPhaseSuccessful && allDone:
		st.Phase, st.Message = worst, worstMsg
	case allDone:
		st.Phase, st.Message = v1alpha1.AnalysisPhaseSuccessful, ""
		if run.Spec.Terminate && worst == "" {
			st.Message = "run terminated"
		}
	default:
		st.Phase, st.Message = v1alpha1.AnalysisPhaseRunning, ""
	}
	if st.Phase.Completed() && st.CompletedAt == nil {
		st.CompletedAt = &metav1.Time{Time: now}
	}
	return changed
}

// due reports whether a metric should take a new measurement now, and if
// not, when it next should (zero: never again).
func due(run *v1alpha1.AnalysisRun, m *v1alpha1.Metric, now time.Time) (bool, time.Time) {
	r := findResult(&run.Status, m.Name)
	if r != nil && r.Phase.Completed() {
		return false, time.Time{}
	}
	last := lastMeasurement(r)
	if last == nil {
		start := now
		if run.Status.StartedAt != nil {
			start = run.Status.StartedAt.Time
		}
		if m.InitialDelay != "" {
			if d, err := m.InitialDelay.Duration(); err == nil && now.Before(start.Add(d)) {
				return false, start.Add(d)
			}
		}
		return true, time.Time{}
	}
	if !last.Phase.Completed() {
		// In flight (a Job): checked again at resumeAt.
		if last.ResumeAt != nil {
			return false, last.ResumeAt.Time
		}
		return false, now.Add(errorRetryInterval)
	}
	if c := effectiveCount(m); c > 0 && r.Count >= c {
		return false, time.Time{}
	}
	var interval time.Duration
	switch {
	case m.Interval != "":
		d, err := m.Interval.Duration()
		if err != nil {
			return false, time.Time{}
		}
		interval = d
	case last.Phase == v1alpha1.AnalysisPhaseError:
		interval = errorRetryInterval
	default:
		return false, time.Time{}
	}
	next := last.FinishedAt.Add(interval)
	if !now.Before(next) {
		return true, time.Time{}
	}
	return false, next
}

// recordMeasurement adds a finished (or replaces an in-flight) measurement and updates
// the counters.
func recordMeasurement(r *v1alpha1.MetricResult, m v1alpha1.Measurement, replaceLast bool) {
	if replaceLast && len(r.Measurements) > 0 {
		r.Measurements[len(r.Measurements)-1] = m
	} else {
		r.Measurements = append(r.Measurements, m)
	}
	if !m.Phase.Completed() {
		return
	}
	switch m.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		r.Successful++
		r.Count++
		r.ConsecutiveError = 0
		r.ConsecutiveSuccess++
	case v1alpha1.AnalysisPhaseFailed:
		r.Failed++
		r.Count++
		r.ConsecutiveError, r.ConsecutiveSuccess = 0, 0
	case v1alpha1.AnalysisPhaseInconclusive:
		r.Inconclusive++
		r.Count++
		r.ConsecutiveError, r.ConsecutiveSuccess = 0, 0
	case v1alpha1.AnalysisPhaseError:
		r.Error++
		r.ConsecutiveError++
		r.ConsecutiveSuccess = 0
	}
}

// trim keeps the newest limit measurements.
func trim(r *v1alpha1.MetricResult, limit int) {
	if limit > 0 && len(r.Measurements) > limit {
		r.Measurements = append([]v1alpha1.Measurement(nil), r.Measurements[len(r.Measurements)-limit:]...)
	}
}
