package analysis

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/job"
)

// A background run terminated while its Job still runs (the release it
// measured is over) deletes the Job and ends Inconclusive, metric and run,
// as the reference documents for a Job cut short; a metric that already
// finished keeps its verdict.
func TestTerminateWithJobInFlight(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	jobMetric := v1alpha1.Metric{Name: "smoke", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}
	webMetric := v1alpha1.Metric{Name: "web", Count: intOr(1)}
	run := newRun([]v1alpha1.Metric{jobMetric, webMetric}, nil, map[string][]v1alpha1.AnalysisPhase{"web": {successful}})
	run.Spec.Terminate = true
	inFlight := v1alpha1.MetricResult{Name: "smoke", Phase: running}
	recordMeasurement(&inFlight, v1alpha1.Measurement{Phase: running, StartedAt: mtime(t0),
		ResumeAt: mtime(t0.Add(time.Minute)), Metadata: map[string]string{job.MetadataJobName: "uid-1.smoke.0"}}, false)
	run.Status.MetricResults = append(run.Status.MetricResults, inFlight)

	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "uid-1.smoke.0"}}).Build()
	r := &Reconciler{Jobs: &job.Provider{Client: c}}
	now := t0.Add(30 * time.Second)
	r.measure(context.Background(), run, resolvedArgs{}, retentionOf(run), now)
	assessRun(run, now)

	var j batchv1.Job
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "uid-1.smoke.0"}, &j); !apierrors.IsNotFound(err) {
		t.Errorf("the Job of the cut-short measurement still exists: %v", err)
	}
	smoke := findResult(&run.Status, "smoke")
	if smoke.Phase != inconclusive || smoke.Inconclusive != 1 || smoke.Successful != 0 {
		t.Errorf("metric smoke = %s (inconclusive %d, successful %d), want Inconclusive from one cut-short measurement",
			smoke.Phase, smoke.Inconclusive, smoke.Successful)
	}
	if m := smoke.Measurements[len(smoke.Measurements)-1]; m.Phase != inconclusive || m.FinishedAt == nil || !strings.Contains(m.Message, "before it finished") {
		t.Errorf("last measurement %+v, want Inconclusive, finished, saying the Job did not finish", m)
	}
	if got := findResult(&run.Status, "web").Phase; got != successful {
		t.Errorf("metric web = %s, want it to keep Successful", got)
	}
	if run.Status.Phase != inconclusive || run.Status.CompletedAt == nil {
		t.Errorf("run = %s (completed %v), want Inconclusive and completed", run.Status.Phase, run.Status.CompletedAt)
	}
}
