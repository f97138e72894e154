package analysis

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const (
	pending      = v1alpha1.AnalysisPhasePending
	running      = v1alpha1.AnalysisPhaseRunning
	successful   = v1alpha1.AnalysisPhaseSuccessful
	failed       = v1alpha1.AnalysisPhaseFailed
	errored      = v1alpha1.AnalysisPhaseError
	inconclusive = v1alpha1.AnalysisPhaseInconclusive
)

// t0 is the fixed clock of these tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func intOr(n int32) *intstr.IntOrString {
	v := intstr.FromInt32(n)
	return &v
}

func strOr(s string) *intstr.IntOrString {
	v := intstr.FromString(s)
	return &v
}

func mtime(t time.Time) *metav1.Time {
	v := metav1.NewTime(t)
	return &v
}

// done is a finished measurement of phase at.
func done(phase v1alpha1.AnalysisPhase, at time.Time) v1alpha1.Measurement {
	return v1alpha1.Measurement{Phase: phase, StartedAt: mtime(at), FinishedAt: mtime(at)}
}

// finished returns n finished measurements of phase, one a minute from t0.
func finished(phase v1alpha1.AnalysisPhase, n int) []v1alpha1.Measurement {
	var out []v1alpha1.Measurement
	for i := 0; i < n; i++ {
		out = append(out, done(phase, t0.Add(time.Duration(i)*time.Minute)))
	}
	return out
}

// resultOf records the phases in order, the way the reconciler does, so the
// counters are the ones recordMeasurement keeps.
func resultOf(name string, phases ...v1alpha1.AnalysisPhase) v1alpha1.MetricResult {
	r := v1alpha1.MetricResult{Name: name, Phase: running}
	for i, p := range phases {
		recordMeasurement(&r, done(p, t0.Add(time.Duration(i)*time.Minute)), false)
	}
	return r
}

func repeat(p v1alpha1.AnalysisPhase, n int) []v1alpha1.AnalysisPhase {
	out := make([]v1alpha1.AnalysisPhase, n)
	for i := range out {
		out[i] = p
	}
	return out
}

func TestAssessMetric(t *testing.T) {
	inflight := v1alpha1.MetricResult{Name: "m", Phase: running, Measurements: []v1alpha1.Measurement{{Phase: running, StartedAt: mtime(t0)}}}
	withValue := resultOf("m", failed)
	withValue.Measurements[0].Value = "0.42"

	tests := []struct {
		name   string
		metric v1alpha1.Metric
		result v1alpha1.MetricResult
		term   bool
		want   v1alpha1.AnalysisPhase
		// wantMsg are substrings of the message; wantNoMsg means an empty one.
		wantMsg   []string
		wantNoMsg bool
	}{
		{name: "no measurement yet is Pending", metric: v1alpha1.Metric{Name: "m"}, result: v1alpha1.MetricResult{Name: "m", Phase: pending}, want: pending, wantNoMsg: true},
		{name: "no measurement and terminating is Successful", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: v1alpha1.MetricResult{Name: "m", Phase: pending}, term: true, want: successful, wantMsg: []string{"terminated"}},
		{name: "in-flight measurement is Running", metric: v1alpha1.Metric{Name: "m"}, result: inflight, want: running},
		{name: "in-flight measurement is Running even when terminating", metric: v1alpha1.Metric{Name: "m"}, result: inflight, term: true, want: running},
		{name: "completed phase is kept", metric: v1alpha1.Metric{Name: "m"}, result: v1alpha1.MetricResult{Name: "m", Phase: inconclusive, Message: "kept", Measurements: finished(successful, 1), Count: 1, Successful: 1}, want: inconclusive, wantMsg: []string{"kept"}},

		// failureLimit
		{name: "default failureLimit 0: one failure fails", metric: v1alpha1.Metric{Name: "latency", Interval: "1m"}, result: resultOf("latency", failed), want: failed, wantMsg: []string{`"latency"`, "failed (1) > failureLimit (0)"}},
		{name: "failureLimit 2: two failures tolerated", metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: intOr(2)}, result: resultOf("m", failed, successful, failed), want: running},
		{name: "failureLimit 2: third failure fails", metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: intOr(2)}, result: resultOf("m", failed, failed, failed), want: failed, wantMsg: []string{"failed (3) > failureLimit (2)"}},
		{name: `failureLimit "2" as a string: two tolerated`, metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: strOr("2")}, result: resultOf("m", failed, failed), want: running},
		{name: `failureLimit "2" as a string: third fails`, metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: strOr("2")}, result: resultOf("m", failed, failed, failed), want: failed, wantMsg: []string{"failureLimit (2)"}},
		{name: "failureLimit -1 is unlimited", metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: intOr(-1)}, result: resultOf("m", repeat(failed, 20)...), want: running},
		{name: `failureLimit "-1" as a string is unlimited`, metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: strOr("-1")}, result: resultOf("m", repeat(failed, 20)...), want: running},
		{name: "failureLimit -1 with count reached is Successful", metric: v1alpha1.Metric{Name: "m", Interval: "1m", Count: intOr(3), FailureLimit: intOr(-1)}, result: resultOf("m", failed, failed, failed), want: successful},
		{name: "failures within the limit and count reached is Successful", metric: v1alpha1.Metric{Name: "m", Interval: "1m", Count: intOr(3), FailureLimit: intOr(1)}, result: resultOf("m", successful, failed, successful), want: successful},
		{name: "failure limit wins over termination", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: resultOf("m", failed), term: true, want: failed},
		{name: "failure message carries the last value", metric: v1alpha1.Metric{Name: "m"}, result: withValue, want: failed, wantMsg: []string{"0.42"}},

		// inconclusiveLimit
		{name: "default inconclusiveLimit 0: one inconclusive", metric: v1alpha1.Metric{Name: "errs", Interval: "1m"}, result: resultOf("errs", inconclusive), want: inconclusive, wantMsg: []string{`"errs"`, "inconclusive (1) > inconclusiveLimit (0)"}},
		{name: "inconclusiveLimit 1 tolerates one", metric: v1alpha1.Metric{Name: "m", Interval: "1m", InconclusiveLimit: intOr(1)}, result: resultOf("m", inconclusive, successful), want: running},
		{name: `inconclusiveLimit "1" as a string: second is Inconclusive`, metric: v1alpha1.Metric{Name: "m", Interval: "1m", InconclusiveLimit: strOr("1")}, result: resultOf("m", inconclusive, inconclusive), want: inconclusive, wantMsg: []string{"inconclusive (2) > inconclusiveLimit (1)"}},
		{name: "failure checked before inconclusive", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: resultOf("m", inconclusive, failed), want: failed},

		// consecutiveErrorLimit
		{name: "default consecutiveErrorLimit: 4 errors still Running", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: resultOf("m", repeat(errored, 4)...), want: running},
		{name: "default consecutiveErrorLimit: 5th error is Error", metric: v1alpha1.Metric{Name: "web", Interval: "1m"}, result: resultOf("web", repeat(errored, 5)...), want: errored, wantMsg: []string{`"web"`, "consecutiveErrors (5) > consecutiveErrorLimit (4)"}},
		{name: "errors without interval are retried, not Successful", metric: v1alpha1.Metric{Name: "m"}, result: resultOf("m", errored, errored), want: running},
		{name: "5 errors without interval is Error", metric: v1alpha1.Metric{Name: "m"}, result: resultOf("m", repeat(errored, 5)...), want: errored},
		{name: "a success resets the error streak", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: resultOf("m", errored, errored, errored, errored, successful, errored, errored), want: running},
		{name: "consecutiveErrorLimit 0: first error is Error", metric: v1alpha1.Metric{Name: "m", Interval: "1m", ConsecutiveErrorLimit: intOr(0)}, result: resultOf("m", errored), want: errored, wantMsg: []string{"consecutiveErrorLimit (0)"}},
		{name: `consecutiveErrorLimit "2" as a string`, metric: v1alpha1.Metric{Name: "m", Interval: "1m", ConsecutiveErrorLimit: strOr("2")}, result: resultOf("m", errored, errored, errored), want: errored, wantMsg: []string{"consecutiveErrors (3) > consecutiveErrorLimit (2)"}},

		// consecutiveSuccessLimit
		{name: "consecutiveSuccessLimit 3 not yet reached", metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: intOr(-1), ConsecutiveSuccessLimit: intOr(3)}, result: resultOf("m", successful, successful, failed, successful, successful), want: running},
		{name: "consecutiveSuccessLimit 3 reached", metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: intOr(-1), ConsecutiveSuccessLimit: intOr(3)}, result: resultOf("m", failed, successful, successful, successful), want: successful},
		{name: `consecutiveSuccessLimit "2" as a string reached`, metric: v1alpha1.Metric{Name: "m", Interval: "1m", ConsecutiveSuccessLimit: strOr("2")}, result: resultOf("m", successful, successful), want: successful},
		{name: "consecutiveSuccessLimit 0 is off", metric: v1alpha1.Metric{Name: "m", Interval: "1m", ConsecutiveSuccessLimit: intOr(0)}, result: resultOf("m", repeat(successful, 30)...), want: running},
		{name: "failureLimit exceeded before consecutive successes", metric: v1alpha1.Metric{Name: "m", Interval: "1m", FailureLimit: intOr(1), ConsecutiveSuccessLimit: intOr(5)}, result: resultOf("m", failed, successful, failed), want: failed},

		// count
		{name: "count 3 reached is Successful", metric: v1alpha1.Metric{Name: "m", Interval: "1m", Count: intOr(3)}, result: resultOf("m", successful, successful, successful), want: successful},
		{name: "count 3 not reached is Running", metric: v1alpha1.Metric{Name: "m", Interval: "1m", Count: intOr(3)}, result: resultOf("m", successful, successful), want: running},
		{name: `count "3" as a string reached`, metric: v1alpha1.Metric{Name: "m", Interval: "1m", Count: strOr("3")}, result: resultOf("m", successful, successful, successful), want: successful},
		{name: "errors do not count toward count", metric: v1alpha1.Metric{Name: "m", Interval: "1m", Count: intOr(3)}, result: resultOf("m", successful, errored, successful, errored), want: running},
		{name: "no count, no interval: one measurement completes", metric: v1alpha1.Metric{Name: "m"}, result: resultOf("m", successful), want: successful},
		{name: "interval without count runs on", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: resultOf("m", repeat(successful, 50)...), want: running},
		{name: "interval without count ends on termination", metric: v1alpha1.Metric{Name: "m", Interval: "1m"}, result: resultOf("m", successful, successful), term: true, want: successful, wantMsg: []string{"metric terminated"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.result
			got, msg := assessMetric(&tc.metric, &r, tc.term)
			if got != tc.want {
				t.Fatalf("phase = %s (%q), want %s", got, msg, tc.want)
			}
			for _, s := range tc.wantMsg {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not contain %q", msg, s)
				}
			}
			if tc.wantNoMsg && msg != "" {
				t.Errorf("message = %q, want none", msg)
			}
		})
	}
}

// newRun builds a run with the metrics and, for every metric given
// measurement phases, its result as the reconciler would have recorded them.
func newRun(metrics []v1alpha1.Metric, dryRun []string, results map[string][]v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRun {
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "ns", UID: "uid-1"},
		Spec:       v1alpha1.AnalysisRunSpec{Metrics: metrics},
		Status:     v1alpha1.AnalysisRunStatus{Phase: running, StartedAt: mtime(t0)},
	}
	for _, d := range dryRun {
		run.Spec.DryRun = append(run.Spec.DryRun, v1alpha1.DryRun{MetricName: d})
	}
	for _, m := range metrics {
		phases, ok := results[m.Name]
		if !ok {
			continue
		}
		r := resultOf(m.Name, phases...)
		r.DryRun = isDryRun(run, m.Name)
		run.Status.MetricResults = append(run.Status.MetricResults, r)
	}
	return run
}

func TestAssessRun(t *testing.T) {
	once := func(name string) v1alpha1.Metric { return v1alpha1.Metric{Name: name} }
	every := func(name string) v1alpha1.Metric { return v1alpha1.Metric{Name: name, Interval: "1m"} }
	five := func(name string) v1alpha1.Metric { return v1alpha1.Metric{Name: name, Interval: "1m", Count: intOr(5)} }
	S, F, E, I := successful, failed, errored, inconclusive

	tests := []struct {
		name      string
		metrics   []v1alpha1.Metric
		dryRun    []string
		terminate bool
		results   map[string][]v1alpha1.AnalysisPhase
		want      v1alpha1.AnalysisPhase
		wantMsg   []string
		summary   v1alpha1.RunSummary
		// dry is the dry-run summary; nil means none.
		dry *v1alpha1.RunSummary
	}{
		{name: "one metric, one success", metrics: []v1alpha1.Metric{once("a")}, results: map[string][]v1alpha1.AnalysisPhase{"a": {S}}, want: S, summary: v1alpha1.RunSummary{Count: 1, Successful: 1}},
		{name: "one metric still measuring", metrics: []v1alpha1.Metric{five("a")}, results: map[string][]v1alpha1.AnalysisPhase{"a": {S, S}}, want: running, summary: v1alpha1.RunSummary{Count: 1}},
		{name: "metric not started yet", metrics: []v1alpha1.Metric{once("a"), once("b")}, results: map[string][]v1alpha1.AnalysisPhase{"a": {S}}, want: running, summary: v1alpha1.RunSummary{Count: 2, Successful: 1}},
		{name: "Failed and Successful is Failed", metrics: []v1alpha1.Metric{once("a"), once("b")}, results: map[string][]v1alpha1.AnalysisPhase{"a": {S}, "b": {F}}, want: F, wantMsg: []string{`"b"`, "failureLimit (0)"}, summary: v1alpha1.RunSummary{Count: 2, Successful: 1, Failed: 1}},
		{name: "Failed is worse than Error", metrics: []v1alpha1.Metric{once("err"), once("fail")}, results: map[string][]v1alpha1.AnalysisPhase{"err": repeat(E, 5), "fail": {F}}, want: F, wantMsg: []string{`"fail"`}, summary: v1alpha1.RunSummary{Count: 2, Failed: 1, Error: 1}},
		{name: "Failed is worse than Error, either order", metrics: []v1alpha1.Metric{once("fail"), once("err")}, results: map[string][]v1alpha1.AnalysisPhase{"err": repeat(E, 5), "fail": {F}}, want: F, wantMsg: []string{`"fail"`}, summary: v1alpha1.RunSummary{Count: 2, Failed: 1, Error: 1}},
		{name: "Error is worse than Inconclusive", metrics: []v1alpha1.Metric{once("inc"), once("err")}, results: map[string][]v1alpha1.AnalysisPhase{"inc": {I}, "err": repeat(E, 5)}, want: E, wantMsg: []string{`"err"`, "consecutiveErrorLimit (4)"}, summary: v1alpha1.RunSummary{Count: 2, Inconclusive: 1, Error: 1}},
		{name: "Inconclusive is worse than Successful", metrics: []v1alpha1.Metric{once("ok"), once("inc")}, results: map[string][]v1alpha1.AnalysisPhase{"ok": {S}, "inc": {I}}, want: I, wantMsg: []string{`"inc"`, "inconclusiveLimit (0)"}, summary: v1alpha1.RunSummary{Count: 2, Successful: 1, Inconclusive: 1}},
		{name: "terminate ends an endless metric Successful", metrics: []v1alpha1.Metric{every("a")}, terminate: true, results: map[string][]v1alpha1.AnalysisPhase{"a": {S, S}}, want: S, summary: v1alpha1.RunSummary{Count: 1, Successful: 1}},
		{name: "terminate before any measurement is Successful", metrics: []v1alpha1.Metric{every("a"), once("b")}, terminate: true, want: S, summary: v1alpha1.RunSummary{Count: 2, Successful: 2}},
		{name: "terminate keeps an earlier failure", metrics: []v1alpha1.Metric{every("a"), every("b")}, terminate: true, results: map[string][]v1alpha1.AnalysisPhase{"a": {S}, "b": {S, F}}, want: F, wantMsg: []string{`"b"`}, summary: v1alpha1.RunSummary{Count: 2, Successful: 1, Failed: 1}},
		{name: "dry-run failure does not decide", metrics: []v1alpha1.Metric{once("a"), once("dry")}, dryRun: []string{"dry"}, results: map[string][]v1alpha1.AnalysisPhase{"a": {S}, "dry": {F}}, want: S, summary: v1alpha1.RunSummary{Count: 1, Successful: 1}, dry: &v1alpha1.RunSummary{Count: 1, Failed: 1}},
		{name: "dry-run error does not decide", metrics: []v1alpha1.Metric{once("a"), once("dry")}, dryRun: []string{"dry"}, results: map[string][]v1alpha1.AnalysisPhase{"a": {S}, "dry": repeat(E, 5)}, want: S, summary: v1alpha1.RunSummary{Count: 1, Successful: 1}, dry: &v1alpha1.RunSummary{Count: 1, Error: 1}},
		{name: "dry-run regex .* covers every metric", metrics: []v1alpha1.Metric{once("a"), once("b")}, dryRun: []string{".*"}, results: map[string][]v1alpha1.AnalysisPhase{"a": {F}, "b": {I}}, want: S, summary: v1alpha1.RunSummary{}, dry: &v1alpha1.RunSummary{Count: 2, Failed: 1, Inconclusive: 1}},
		{name: "dry-run regex picks some metrics", metrics: []v1alpha1.Metric{once("lat-p99"), once("lat-p50"), once("errors")}, dryRun: []string{"lat-.*"}, results: map[string][]v1alpha1.AnalysisPhase{"lat-p99": {F}, "lat-p50": {S}, "errors": {S}}, want: S, summary: v1alpha1.RunSummary{Count: 1, Successful: 1}, dry: &v1alpha1.RunSummary{Count: 2, Successful: 1, Failed: 1}},
		{name: "dry-run failure does not stop other metrics", metrics: []v1alpha1.Metric{every("a"), once("dry")}, dryRun: []string{"dry"}, results: map[string][]v1alpha1.AnalysisPhase{"a": {S}, "dry": {F}}, want: running, summary: v1alpha1.RunSummary{Count: 1}, dry: &v1alpha1.RunSummary{Count: 1, Failed: 1}},
		{name: "deciding failure with dry-run success is Failed", metrics: []v1alpha1.Metric{once("a"), once("dry")}, dryRun: []string{"dry"}, results: map[string][]v1alpha1.AnalysisPhase{"a": {F}, "dry": {S}}, want: F, summary: v1alpha1.RunSummary{Count: 1, Failed: 1}, dry: &v1alpha1.RunSummary{Count: 1, Successful: 1}},
		// Argo Rollouts keeps the run Running while any metric, dry-run
		// included, has not completed (analysis.go assessRunStatus sets
		// everythingCompleted = false before it looks at dryRun): dry-run
		// metrics are measured to the end, only their verdict is ignored.
		{name: "dry-run metric still measuring keeps the run Running", metrics: []v1alpha1.Metric{once("a"), five("dry")}, dryRun: []string{"dry"}, results: map[string][]v1alpha1.AnalysisPhase{"a": {S}, "dry": {S}}, want: running, summary: v1alpha1.RunSummary{Count: 1, Successful: 1}, dry: &v1alpha1.RunSummary{Count: 1}},
		{name: "only dry-run metrics, none measured yet, is Running", metrics: []v1alpha1.Metric{every("dry")}, dryRun: []string{".*"}, want: running, summary: v1alpha1.RunSummary{}, dry: &v1alpha1.RunSummary{Count: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := newRun(tc.metrics, tc.dryRun, tc.results)
			run.Spec.Terminate = tc.terminate
			now := t0.Add(time.Hour)
			assessRun(run, now)
			st := run.Status
			if st.Phase != tc.want {
				t.Fatalf("phase = %s (%q), want %s", st.Phase, st.Message, tc.want)
			}
			for _, s := range tc.wantMsg {
				if !strings.Contains(st.Message, s) {
					t.Errorf("message %q does not contain %q", st.Message, s)
				}
			}
			if st.RunSummary != tc.summary {
				t.Errorf("runSummary = %+v, want %+v", st.RunSummary, tc.summary)
			}
			switch {
			case tc.dry == nil && st.DryRunSummary != nil:
				t.Errorf("dryRunSummary = %+v, want none", *st.DryRunSummary)
			case tc.dry != nil && st.DryRunSummary == nil:
				t.Errorf("dryRunSummary missing, want %+v", *tc.dry)
			case tc.dry != nil && *st.DryRunSummary != *tc.dry:
				t.Errorf("dryRunSummary = %+v, want %+v", *st.DryRunSummary, *tc.dry)
			}
			if len(st.MetricResults) != len(tc.metrics) {
				t.Errorf("%d metric results, want one per metric (%d)", len(st.MetricResults), len(tc.metrics))
			}
			if st.Phase.Completed() {
				if st.CompletedAt == nil || !st.CompletedAt.Time.Equal(now) {
					t.Errorf("completedAt = %v, want %v", st.CompletedAt, now)
				}
			} else if st.CompletedAt != nil {
				t.Errorf("completedAt = %v on a %s run", st.CompletedAt, st.Phase)
			}
		})
	}
}

func TestAssessRunCompletedAtSetOnce(t *testing.T) {
	run := newRun([]v1alpha1.Metric{{Name: "a"}}, nil, map[string][]v1alpha1.AnalysisPhase{"a": {successful}})
	first := t0.Add(time.Minute)
	assessRun(run, first)
	if run.Status.CompletedAt == nil || !run.Status.CompletedAt.Time.Equal(first) {
		t.Fatalf("completedAt = %v, want %v", run.Status.CompletedAt, first)
	}
	assessRun(run, first.Add(time.Hour))
	if !run.Status.CompletedAt.Time.Equal(first) {
		t.Errorf("completedAt moved to %v on a second assessment, want %v", run.Status.CompletedAt.Time, first)
	}
}

func TestAssessRunChangedMetrics(t *testing.T) {
	run := newRun([]v1alpha1.Metric{{Name: "a"}, {Name: "b", Interval: "1m"}}, nil, map[string][]v1alpha1.AnalysisPhase{"a": {successful}, "b": {successful}})
	changed := assessRun(run, t0)
	if strings.Join(changed, ",") != "a" {
		t.Errorf("changed = %v, want [a] (b stays Running)", changed)
	}
	if changed := assessRun(run, t0); len(changed) != 0 {
		t.Errorf("second assessment changed %v, want nothing", changed)
	}
}

// A metric that fails ends the run on the next assessment, once the other
// metrics see that the run is terminating.
func TestAssessRunFailureTerminatesOthers(t *testing.T) {
	run := newRun([]v1alpha1.Metric{{Name: "a", Interval: "1m"}, {Name: "b", Interval: "1m"}}, nil, map[string][]v1alpha1.AnalysisPhase{"a": {successful}, "b": {failed}})
	assessRun(run, t0)
	if got := findResult(&run.Status, "b").Phase; got != failed {
		t.Fatalf("metric b = %s, want Failed", got)
	}
	if !terminating(run) {
		t.Fatal("run with a Failed metric is not terminating")
	}
	assessRun(run, t0.Add(time.Second))
	if run.Status.Phase != failed {
		t.Errorf("run = %s, want Failed", run.Status.Phase)
	}
	if got := findResult(&run.Status, "a").Phase; got != successful {
		t.Errorf("metric a = %s, want Successful (terminated)", got)
	}
}

func TestTerminating(t *testing.T) {
	tests := []struct {
		name      string
		terminate bool
		results   []v1alpha1.MetricResult
		want      bool
	}{
		{name: "nothing", want: false},
		{name: "spec.terminate", terminate: true, want: true},
		{name: "a Running metric", results: []v1alpha1.MetricResult{{Name: "a", Phase: running}}, want: false},
		{name: "a Successful metric", results: []v1alpha1.MetricResult{{Name: "a", Phase: successful}}, want: false},
		{name: "a Failed metric", results: []v1alpha1.MetricResult{{Name: "a", Phase: failed}}, want: true},
		{name: "an Error metric", results: []v1alpha1.MetricResult{{Name: "a", Phase: errored}}, want: true},
		{name: "an Inconclusive metric", results: []v1alpha1.MetricResult{{Name: "a", Phase: inconclusive}}, want: true},
		{name: "a Failed dry-run metric", results: []v1alpha1.MetricResult{{Name: "a", Phase: failed, DryRun: true}}, want: false},
		{name: "a Failed dry-run metric before a Failed one", results: []v1alpha1.MetricResult{{Name: "a", Phase: failed, DryRun: true}, {Name: "b", Phase: failed}}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Terminate: tc.terminate}, Status: v1alpha1.AnalysisRunStatus{MetricResults: tc.results}}
			if got := terminating(run); got != tc.want {
				t.Errorf("terminating = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsDryRun(t *testing.T) {
	tests := []struct {
		name   string
		dryRun []string
		metric string
		want   bool
	}{
		{name: "none", metric: "a", want: false},
		{name: "exact name", dryRun: []string{"latency"}, metric: "latency", want: true},
		{name: "other name", dryRun: []string{"latency"}, metric: "errors", want: false},
		{name: ".* matches all", dryRun: []string{".*"}, metric: "anything-at-all", want: true},
		{name: "prefix regex", dryRun: []string{"lat.*"}, metric: "latency-p99", want: true},
		{name: "prefix regex, other metric", dryRun: []string{"lat.*"}, metric: "errors", want: false},
		{name: "alternation", dryRun: []string{"a|b"}, metric: "b", want: true},
		{name: "invalid regex matches only itself", dryRun: []string{"("}, metric: "(", want: true},
		{name: "second entry matches", dryRun: []string{"x", "y"}, metric: "y", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := &v1alpha1.AnalysisRun{}
			for _, d := range tc.dryRun {
				run.Spec.DryRun = append(run.Spec.DryRun, v1alpha1.DryRun{MetricName: d})
			}
			if got := isDryRun(run, tc.metric); got != tc.want {
				t.Errorf("isDryRun(%q) = %v, want %v", tc.metric, got, tc.want)
			}
		})
	}
}

func TestIntValue(t *testing.T) {
	tests := []struct {
		name string
		v    *intstr.IntOrString
		def  int32
		want int32
	}{
		{name: "nil is the default", v: nil, def: 4, want: 4},
		{name: "int", v: intOr(3), def: 4, want: 3},
		{name: "zero int", v: intOr(0), def: 4, want: 0},
		{name: "string", v: strOr("2"), def: 4, want: 2},
		{name: "negative string", v: strOr("-1"), def: 0, want: -1},
		{name: "junk string is the default", v: strOr("many"), def: 7, want: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := intValue(tc.v, tc.def); got != tc.want {
				t.Errorf("intValue = %d, want %d", got, tc.want)
			}
		})
	}
}
