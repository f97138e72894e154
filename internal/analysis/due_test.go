package analysis

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
)

func TestDue(t *testing.T) {
	last := t0.Add(5 * time.Minute) // finishedAt of the last measurement
	inflight := func(resume *time.Time) v1alpha1.MetricResult {
		m := v1alpha1.Measurement{Phase: running, StartedAt: mtime(last)}
		if resume != nil {
			m.ResumeAt = mtime(*resume)
		}
		return v1alpha1.MetricResult{Name: "m", Phase: running, Measurements: []v1alpha1.Measurement{m}}
	}
	lastAt := func(phases ...v1alpha1.AnalysisPhase) *v1alpha1.MetricResult {
		r := resultOf("m", phases...)
		r.Measurements[len(r.Measurements)-1].FinishedAt = mtime(last)
		return &r
	}
	resume := last.Add(10 * time.Second)

	tests := []struct {
		name      string
		metric    v1alpha1.Metric
		result    *v1alpha1.MetricResult
		noStarted bool
		now       time.Time
		wantDue   bool
		// wantNext is the next time; zero means never.
		wantNext time.Time
	}{
		{name: "first measurement without delay is due", metric: v1alpha1.Metric{Name: "m"}, now: t0, wantDue: true},
		{name: "first measurement, pending result, is due", metric: v1alpha1.Metric{Name: "m"}, result: &v1alpha1.MetricResult{Name: "m", Phase: pending}, now: t0, wantDue: true},
		{name: "initialDelay not over", metric: v1alpha1.Metric{Name: "m", InitialDelay: "30s"}, now: t0.Add(10 * time.Second), wantNext: t0.Add(30 * time.Second)},
		{name: "initialDelay counts from startedAt, not now", metric: v1alpha1.Metric{Name: "m", InitialDelay: "2m"}, now: t0.Add(90 * time.Second), wantNext: t0.Add(2 * time.Minute)},
		{name: "initialDelay over exactly", metric: v1alpha1.Metric{Name: "m", InitialDelay: "30s"}, now: t0.Add(30 * time.Second), wantDue: true},
		{name: "initialDelay long over", metric: v1alpha1.Metric{Name: "m", InitialDelay: "30s"}, now: t0.Add(time.Hour), wantDue: true},
		{name: "initialDelay without startedAt starts now", metric: v1alpha1.Metric{Name: "m", InitialDelay: "30s"}, noStarted: true, now: t0, wantNext: t0.Add(30 * time.Second)},
		{name: "interval not over", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: lastAt(successful), now: last.Add(30 * time.Second), wantNext: last.Add(time.Minute)},
		{name: "interval counts from the last finishedAt", metric: v1alpha1.Metric{Name: "m", Interval: "1m", InitialDelay: "10m"}, result: lastAt(successful), now: last.Add(59 * time.Second), wantNext: last.Add(time.Minute)},
		{name: "interval over", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: lastAt(successful), now: last.Add(time.Minute), wantDue: true},
		{name: "interval after a failure within the limit", metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: intOr(3)}, result: lastAt(failed), now: last.Add(2 * time.Minute), wantDue: true},
		{name: "no interval, no count: exactly one measurement", metric: v1alpha1.Metric{Name: "m"}, result: lastAt(successful), now: last.Add(time.Hour)},
		{name: "no interval, no count: not again after a failure", metric: v1alpha1.Metric{Name: "m", FailureLimit: intOr(1)}, result: lastAt(failed), now: last.Add(time.Hour)},
		{name: "error without interval retried after 10s", metric: v1alpha1.Metric{Name: "m"}, result: lastAt(errored), now: last.Add(5 * time.Second), wantNext: last.Add(10 * time.Second)},
		{name: "error without interval due at 10s", metric: v1alpha1.Metric{Name: "m"}, result: lastAt(errored), now: last.Add(10 * time.Second), wantDue: true},
		{name: "error with an interval waits the interval", metric: v1alpha1.Metric{Name: "m", Interval: "5m"}, result: lastAt(errored), now: last.Add(10 * time.Second), wantNext: last.Add(5 * time.Minute)},
		{name: "in flight: checked at resumeAt", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: ptr(inflight(&resume)), now: last, wantNext: resume},
		{name: "in flight without resumeAt: 10s from now", metric: v1alpha1.Metric{Name: "m"}, result: ptr(inflight(nil)), now: last.Add(time.Second), wantNext: last.Add(11 * time.Second)},
		{name: "count reached: never again", metric: v1alpha1.Metric{Name: "m", Interval: "1m", Count: intOr(2)}, result: lastAt(successful, successful), now: last.Add(time.Hour)},
		{name: "count not reached: next at interval", metric: v1alpha1.Metric{Name: "m", Interval: "1m", Count: intOr(3)}, result: lastAt(successful, successful), now: last, wantNext: last.Add(time.Minute)},
		{name: "completed metric: never due", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: &v1alpha1.MetricResult{Name: "m", Phase: failed, Measurements: finished(failed, 1)}, now: t0.Add(time.Hour)},
		{name: "completed metric without measurements: never due", metric: v1alpha1.Metric{Name: "m"}, result: &v1alpha1.MetricResult{Name: "m", Phase: successful}, now: t0},
		{name: "unparsable interval: never due", metric: v1alpha1.Metric{Name: "m", Interval: "5"}, result: lastAt(successful), now: last.Add(time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := newRun([]v1alpha1.Metric{tc.metric}, nil, nil)
			if tc.noStarted {
				run.Status.StartedAt = nil
			}
			if tc.result != nil {
				run.Status.MetricResults = []v1alpha1.MetricResult{*tc.result}
			}
			gotDue, gotNext := due(run, &run.Spec.Metrics[0], tc.now)
			if gotDue != tc.wantDue || !gotNext.Equal(tc.wantNext) {
				t.Errorf("due = %v, %v; want %v, %v", gotDue, gotNext, tc.wantDue, tc.wantNext)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A metric without an interval is measured once, or retried after errors:
// more than one measurement needs an interval, else the metric would stay
// Running forever. Argo Rollouts refuses such metrics ("interval must be
// specified when count > 1"); so does check.
func TestCheckCountNeedsInterval(t *testing.T) {
	tests := []struct {
		name    string
		metric  v1alpha1.Metric
		wantErr bool
	}{
		{name: "count 3 without interval", metric: v1alpha1.Metric{Name: "m", Count: intOr(3)}, wantErr: true},
		{name: `count "3" without interval`, metric: v1alpha1.Metric{Name: "m", Count: strOr("3")}, wantErr: true},
		{name: "count 3 with interval", metric: v1alpha1.Metric{Name: "m", Count: intOr(3), Interval: "1m"}},
		{name: "count 1 without interval", metric: v1alpha1.Metric{Name: "m", Count: intOr(1)}},
		{name: "no count, no interval", metric: v1alpha1.Metric{Name: "m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := newRun([]v1alpha1.Metric{tc.metric}, nil, nil)
			err := (&Reconciler{Conditions: condition.NewEvaluator()}).check(run)
			if tc.wantErr != (err != nil) {
				t.Fatalf("check = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), `"m"`) {
				t.Errorf("error %q does not name the metric", err)
			}
		})
	}
}

func TestNextDue(t *testing.T) {
	metrics := []v1alpha1.Metric{
		{Name: "slow", Interval: "5m"},
		{Name: "fast", Interval: "1m"},
		{Name: "done"},
	}
	run := newRun(metrics, nil, map[string][]v1alpha1.AnalysisPhase{"slow": {successful}, "fast": {successful}, "done": {successful}})
	for i := range run.Status.MetricResults {
		run.Status.MetricResults[i].Measurements[0].FinishedAt = mtime(t0)
	}
	findResult(&run.Status, "done").Phase = successful
	if got := nextDue(run, t0); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("nextDue = %v, want the earliest metric, %v", got, t0.Add(time.Minute))
	}
	// A metric never measured is due now.
	run.Spec.Metrics = append(run.Spec.Metrics, v1alpha1.Metric{Name: "new"})
	if got := nextDue(run, t0.Add(time.Second)); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("nextDue with an unmeasured metric = %v, want now", got)
	}
	// All completed: nothing to wait for.
	all := newRun([]v1alpha1.Metric{{Name: "a"}}, nil, map[string][]v1alpha1.AnalysisPhase{"a": {successful}})
	assessRun(all, t0)
	if got := nextDue(all, t0); !got.IsZero() {
		t.Errorf("nextDue of a completed run = %v, want zero", got)
	}
}

func TestRecordMeasurement(t *testing.T) {
	tests := []struct {
		name   string
		phases []v1alpha1.AnalysisPhase
		want   v1alpha1.MetricResult
	}{
		{name: "successes", phases: []v1alpha1.AnalysisPhase{successful, successful, successful}, want: v1alpha1.MetricResult{Count: 3, Successful: 3, ConsecutiveSuccess: 3}},
		{name: "failure resets consecutive successes", phases: []v1alpha1.AnalysisPhase{successful, successful, failed}, want: v1alpha1.MetricResult{Count: 3, Successful: 2, Failed: 1}},
		{name: "inconclusive counts and resets", phases: []v1alpha1.AnalysisPhase{successful, inconclusive, successful}, want: v1alpha1.MetricResult{Count: 3, Successful: 2, Inconclusive: 1, ConsecutiveSuccess: 1}},
		{name: "errors are not counted in count", phases: []v1alpha1.AnalysisPhase{errored, errored, errored}, want: v1alpha1.MetricResult{Error: 3, ConsecutiveError: 3}},
		{name: "a success resets consecutive errors", phases: []v1alpha1.AnalysisPhase{errored, errored, successful}, want: v1alpha1.MetricResult{Count: 1, Successful: 1, Error: 2, ConsecutiveSuccess: 1}},
		{name: "a failure resets consecutive errors", phases: []v1alpha1.AnalysisPhase{errored, failed, errored}, want: v1alpha1.MetricResult{Count: 1, Failed: 1, Error: 2, ConsecutiveError: 1}},
		{name: "an inconclusive resets consecutive errors", phases: []v1alpha1.AnalysisPhase{errored, errored, inconclusive}, want: v1alpha1.MetricResult{Count: 1, Inconclusive: 1, Error: 2}},
		{name: "an error resets consecutive successes", phases: []v1alpha1.AnalysisPhase{successful, successful, errored, successful}, want: v1alpha1.MetricResult{Count: 3, Successful: 3, Error: 1, ConsecutiveSuccess: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := resultOf("m", tc.phases...)
			got := v1alpha1.MetricResult{Count: r.Count, Successful: r.Successful, Failed: r.Failed, Inconclusive: r.Inconclusive, Error: r.Error, ConsecutiveError: r.ConsecutiveError, ConsecutiveSuccess: r.ConsecutiveSuccess}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("counters = %+v\nwant       %+v", got, tc.want)
			}
			if len(r.Measurements) != len(tc.phases) {
				t.Errorf("%d measurements, want %d", len(r.Measurements), len(tc.phases))
			}
		})
	}
}

func TestRecordMeasurementInFlight(t *testing.T) {
	r := v1alpha1.MetricResult{Name: "m"}
	recordMeasurement(&r, v1alpha1.Measurement{Phase: running, StartedAt: mtime(t0)}, false)
	if r.Count != 0 || len(r.Measurements) != 1 {
		t.Fatalf("in-flight measurement: count %d, %d measurements; want 0, 1", r.Count, len(r.Measurements))
	}
	recordMeasurement(&r, v1alpha1.Measurement{Phase: running, StartedAt: mtime(t0), ResumeAt: mtime(t0.Add(time.Minute))}, true)
	if r.Count != 0 || len(r.Measurements) != 1 || r.Measurements[0].ResumeAt == nil {
		t.Fatalf("still in flight: count %d, %d measurements; want 0, 1 with resumeAt", r.Count, len(r.Measurements))
	}
	recordMeasurement(&r, done(successful, t0.Add(time.Minute)), true)
	if r.Count != 1 || r.Successful != 1 || len(r.Measurements) != 1 || r.Measurements[0].Phase != successful {
		t.Errorf("completed in place: %+v", r)
	}
	// Replacing with nothing to replace appends.
	empty := v1alpha1.MetricResult{Name: "m"}
	recordMeasurement(&empty, done(failed, t0), true)
	if len(empty.Measurements) != 1 || empty.Failed != 1 {
		t.Errorf("replace on an empty result: %+v", empty)
	}
}

func TestRetention(t *testing.T) {
	tests := []struct {
		name   string
		rules  []v1alpha1.MeasurementRetention
		metric string
		want   int
	}{
		{name: "default is 10", metric: "m", want: 10},
		{name: "per metric", rules: []v1alpha1.MeasurementRetention{{MetricName: "m", Limit: 3}}, metric: "m", want: 3},
		{name: "rule for another metric", rules: []v1alpha1.MeasurementRetention{{MetricName: "other", Limit: 3}}, metric: "m", want: 10},
		{name: "regex .*", rules: []v1alpha1.MeasurementRetention{{MetricName: ".*", Limit: 20}}, metric: "m", want: 20},
		{name: "regex prefix", rules: []v1alpha1.MeasurementRetention{{MetricName: "lat.*", Limit: 2}}, metric: "latency", want: 2},
		{name: "regex prefix, other metric", rules: []v1alpha1.MeasurementRetention{{MetricName: "lat.*", Limit: 2}}, metric: "errors", want: 10},
		{name: "first matching rule wins", rules: []v1alpha1.MeasurementRetention{{MetricName: "m", Limit: 4}, {MetricName: ".*", Limit: 7}}, metric: "m", want: 4},
		// Argo Rollouts applies a rule only when its limit is above 0
		// (garbageCollectMeasurements: `Limit > 0`), else the default 10.
		{name: "limit 0 falls back to the default", rules: []v1alpha1.MeasurementRetention{{MetricName: "m", Limit: 0}}, metric: "m", want: 10},
		// A name that is not a valid pattern still matches itself exactly,
		// and never stops later rules from applying.
		{name: "invalid pattern, exact name", rules: []v1alpha1.MeasurementRetention{{MetricName: "m(", Limit: 5}}, metric: "m(", want: 5},
		{name: "invalid pattern, other metric", rules: []v1alpha1.MeasurementRetention{{MetricName: "m(", Limit: 5}, {MetricName: "m.*", Limit: 6}}, metric: "m", want: 6},
		{name: "pattern anchored at both ends", rules: []v1alpha1.MeasurementRetention{{MetricName: "lat", Limit: 2}}, metric: "latency", want: 10},
		{name: "alternation anchored as a whole", rules: []v1alpha1.MeasurementRetention{{MetricName: "a|lat", Limit: 2}}, metric: "latency", want: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{MeasurementRetention: tc.rules}}
			rules := retentionOf(run)
			// Asked twice, as batch planning does: the answer must not
			// depend on whether the pattern was compiled already.
			for i := 0; i < 2; i++ {
				if got := rules.limit(tc.metric); got != tc.want {
					t.Errorf("limit(%q) = %d on call %d, want %d", tc.metric, got, i+1, tc.want)
				}
			}
		})
	}
}

// TestRetentionCompilesEachPatternOnce checks that the rules of one
// reconcile compile a pattern the first time a name does not equal it and
// reuse it for every other metric, and that an exact name compiles nothing.
func TestRetentionCompilesEachPatternOnce(t *testing.T) {
	run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{MeasurementRetention: []v1alpha1.MeasurementRetention{
		{MetricName: "errors", Limit: 3}, {MetricName: "lat.*", Limit: 2}, {MetricName: "bad(", Limit: 4},
	}}}
	rules := retentionOf(run)
	if got := rules.limit("errors"); got != 3 || rules[0].tried {
		t.Fatalf("exact name: limit %d, compiled %v; want 3 without compiling", got, rules[0].tried)
	}
	if got := rules.limit("latency"); got != 2 || rules[1].re == nil {
		t.Fatalf("pattern: limit %d, compiled %v; want 2 from a compiled pattern", got, rules[1].re)
	}
	compiled := rules[1].re
	if got := rules.limit("latency_p99"); got != 2 || rules[1].re != compiled {
		t.Fatalf("second metric: limit %d; want 2 from the same compiled pattern", got)
	}
	if got := rules.limit("other"); got != 10 || !rules[2].tried || rules[2].re != nil {
		t.Fatalf("invalid pattern: limit %d, tried %v, re %v; want the default, tried once, no pattern", got, rules[2].tried, rules[2].re)
	}
}

func TestTrim(t *testing.T) {
	tests := []struct {
		name  string
		have  int
		limit int
		want  int
	}{
		{name: "under the limit", have: 5, limit: 10, want: 5},
		{name: "at the limit", have: 10, limit: 10, want: 10},
		{name: "over the default", have: 25, limit: 10, want: 10},
		{name: "limit 1", have: 3, limit: 1, want: 1},
		{name: "empty", have: 0, limit: 3, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := v1alpha1.MetricResult{Name: "m", Measurements: finished(successful, tc.have)}
			trim(&r, tc.limit)
			if len(r.Measurements) != tc.want {
				t.Fatalf("%d measurements kept, want %d", len(r.Measurements), tc.want)
			}
			if tc.want > 0 {
				newest := t0.Add(time.Duration(tc.have-1) * time.Minute)
				if got := r.Measurements[len(r.Measurements)-1].FinishedAt.Time; !got.Equal(newest) {
					t.Errorf("newest kept = %v, want %v", got, newest)
				}
				oldest := t0.Add(time.Duration(tc.have-tc.want) * time.Minute)
				if got := r.Measurements[0].FinishedAt.Time; !got.Equal(oldest) {
					t.Errorf("oldest kept = %v, want %v", got, oldest)
				}
			}
		})
	}
}

// trim keeps the counters: they cover every measurement ever taken.
func TestTrimKeepsCounters(t *testing.T) {
	r := resultOf("m", repeat(successful, 12)...)
	trim(&r, 3)
	if r.Count != 12 || r.Successful != 12 || len(r.Measurements) != 3 {
		t.Errorf("after trim: count %d, successful %d, %d measurements; want 12, 12, 3", r.Count, r.Successful, len(r.Measurements))
	}
}
