package analysis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// slowJudge is an asynchronous provider: Query starts a judgement, and
// Resume answers Running until polls reaches doneAfter.
type slowJudge struct {
	doneAfter int
	polls     int
	starts    int
	final     v1alpha1.AnalysisPhase
	fail      error
}

func (s *slowJudge) Query(context.Context, metricproviders.Request) (metricproviders.Value, error) {
	s.starts++
	return metricproviders.Value{Phase: v1alpha1.AnalysisPhaseRunning, ResumeAfter: 15 * time.Second,
		Message: "judging", Metadata: map[string]string{"canaryExecutionId": "e1"}}, nil
}

func (s *slowJudge) Resume(_ context.Context, _ metricproviders.Request, md map[string]string) (metricproviders.Value, error) {
	s.polls++
	if md["canaryExecutionId"] != "e1" {
		return metricproviders.Value{}, errors.New("lost the execution id")
	}
	if s.fail != nil {
		return metricproviders.Value{}, s.fail
	}
	if s.polls < s.doneAfter {
		return metricproviders.Value{Phase: v1alpha1.AnalysisPhaseRunning, ResumeAfter: 15 * time.Second, Metadata: md}, nil
	}
	return metricproviders.Value{Result: 93.0, Raw: "93", Phase: s.final, Metadata: md}, nil
}

func kayentaRun() *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "run"},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{
			Name:     "judge",
			Provider: v1alpha1.MetricProvider{Kayenta: &v1alpha1.KayentaMetric{Address: "http://kayenta:8090"}},
		}}},
	}
}

func TestAsynchronousMeasurementIsResumedAtItsTime(t *testing.T) {
	judge := &slowJudge{doneAfter: 2, final: v1alpha1.AnalysisPhaseSuccessful}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &Reconciler{Queriers: map[string]metricproviders.Querier{"kayenta": judge},
		Conditions: condition.NewEvaluator(), Now: func() time.Time { return now }}
	run := kayentaRun()
	var lines []string
	ctx := log.IntoContext(context.Background(), funcr.New(func(prefix, args string) {
		lines = append(lines, args)
	}, funcr.Options{}))
	step := func() *v1alpha1.Measurement {
		r.measure(ctx, run, resolvedArgs{}, retentionOf(run), now)
		return lastMeasurement(findResult(&run.Status, "judge"))
	}

	m := step()
	if m.Phase != v1alpha1.AnalysisPhaseRunning || m.ResumeAt == nil || !m.ResumeAt.Time.Equal(now.Add(15*time.Second)) || m.Metadata["canaryExecutionId"] != "e1" {
		t.Fatalf("started = %+v", m)
	}
	if next := nextDue(run, now); !next.Equal(now.Add(15 * time.Second)) {
		t.Errorf("next due = %v, want the resume time", next)
	}
	now = now.Add(10 * time.Second)
	if step(); judge.polls != 0 {
		t.Fatalf("resumed %d times before resumeAt", judge.polls)
	}
	now = now.Add(5 * time.Second)
	if m = step(); judge.polls != 1 || m.Phase != v1alpha1.AnalysisPhaseRunning || !m.ResumeAt.Time.Equal(now.Add(15*time.Second)) {
		t.Fatalf("first poll: polls %d, %+v", judge.polls, m)
	}
	now = now.Add(15 * time.Second)
	m = step()
	res := findResult(&run.Status, "judge")
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || m.Value != "93" || m.FinishedAt == nil || m.ResumeAt != nil {
		t.Fatalf("judged = %+v", m)
	}
	if len(res.Measurements) != 1 || res.Count != 1 || res.Successful != 1 || judge.starts != 1 {
		t.Errorf("result = %+v, starts %d", res, judge.starts)
	}
	// One line when the judgement starts, one per look at it; none for the
	// reconcile before its resume time.
	if len(lines) != 3 || !strings.Contains(lines[0], `"msg"="measured"`) || !strings.Contains(lines[0], `"provider"="kayenta"`) ||
		!strings.Contains(lines[1], `"phase"="Running"`) || !strings.Contains(lines[2], `"phase"="Successful"`) || !strings.Contains(lines[2], `"value"="93"`) {
		t.Errorf("log lines:\n%s", strings.Join(lines, "\n"))
	}
}

func TestAsynchronousMeasurementErrorsAndTermination(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	judge := &slowJudge{fail: errors.New("kayenta: GET /canary/e1: HTTP 500")}
	r := &Reconciler{Queriers: map[string]metricproviders.Querier{"kayenta": judge},
		Conditions: condition.NewEvaluator(), Now: func() time.Time { return now }}
	run := kayentaRun()
	r.measure(context.Background(), run, resolvedArgs{}, retentionOf(run), now)
	now = now.Add(15 * time.Second)
	r.measure(context.Background(), run, resolvedArgs{}, retentionOf(run), now)
	m := lastMeasurement(findResult(&run.Status, "judge"))
	if m.Phase != v1alpha1.AnalysisPhaseError || m.Message != "kayenta: GET /canary/e1: HTTP 500" {
		t.Fatalf("errored poll = %+v", m)
	}

	run = kayentaRun()
	judge.fail = nil
	r.measure(context.Background(), run, resolvedArgs{}, retentionOf(run), now)
	run.Spec.Terminate = true
	r.measure(context.Background(), run, resolvedArgs{}, retentionOf(run), now)
	m = lastMeasurement(findResult(&run.Status, "judge"))
	if m.Phase != v1alpha1.AnalysisPhaseInconclusive || m.FinishedAt == nil {
		t.Fatalf("terminated = %+v", m)
	}
}
