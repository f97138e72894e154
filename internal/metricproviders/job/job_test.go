package job

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const (
	running    = v1alpha1.AnalysisPhaseRunning
	successful = v1alpha1.AnalysisPhaseSuccessful
	failed     = v1alpha1.AnalysisPhaseFailed
	errored    = v1alpha1.AnalysisPhaseError
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newScheme is what controller.NewScheme returns; that package imports
// this one, so a test here cannot import it.
func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func newRun() *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Name: "guestbook-6f7d-2", Namespace: "shop", UID: "0b8a5a1e-6f3a-4a41-9f6c-1b2c3d4e5f60"},
	}
}

func jobMetric(name string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: name, Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{
		Metadata: metav1.ObjectMeta{
			Labels:      map[string]string{"team": "qa"},
			Annotations: map[string]string{"note": "smoke"},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr(int32(0)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "test", Image: "busybox", Command: []string{"true"}}},
			}},
		},
	}}}
}

func ptr[T any](v T) *T { return &v }

func getJob(t *testing.T, c client.Client, name string) *batchv1.Job {
	t.Helper()
	var j batchv1.Job
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: name}, &j); err != nil {
		t.Fatalf("getting Job %s: %v", name, err)
	}
	return &j
}

func TestStart(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
	p := &Provider{Client: c}
	run := newRun()
	m := jobMetric("smoke")
	meas := p.Start(context.Background(), run, m, 3, t0)

	if meas.Phase != running || meas.StartedAt == nil || !meas.StartedAt.Time.Equal(t0) || meas.FinishedAt != nil {
		t.Fatalf("measurement = %+v, want Running started at t0", meas)
	}
	if meas.ResumeAt == nil || !meas.ResumeAt.Time.After(t0) {
		t.Errorf("resumeAt = %v, want after t0", meas.ResumeAt)
	}
	name := meas.Metadata[MetadataJobName]
	if name != jobName(run, "smoke", 3) {
		t.Fatalf("metadata job-name = %q, want %q", name, jobName(run, "smoke", 3))
	}
	j := getJob(t, c, name)

	t.Run("owned by the run", func(t *testing.T) {
		if len(j.OwnerReferences) != 1 {
			t.Fatalf("owners %v", j.OwnerReferences)
		}
		o := j.OwnerReferences[0]
		if o.Kind != "AnalysisRun" || o.APIVersion != "argoproj.io/v1alpha1" || o.Name != run.Name || o.UID != run.UID || o.Controller == nil || !*o.Controller {
			t.Errorf("owner = %+v", o)
		}
	})
	t.Run("labels", func(t *testing.T) {
		want := map[string]string{LabelRunUID: string(run.UID), LabelRun: run.Name, LabelMetric: "smoke", "team": "qa"}
		for k, v := range want {
			if j.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, j.Labels[k], v)
			}
		}
	})
	t.Run("annotations from the metric", func(t *testing.T) {
		if j.Annotations["note"] != "smoke" {
			t.Errorf("annotations = %v", j.Annotations)
		}
	})
	t.Run("spec from the metric", func(t *testing.T) {
		if len(j.Spec.Template.Spec.Containers) != 1 || j.Spec.Template.Spec.Containers[0].Image != "busybox" || j.Spec.BackoffLimit == nil || *j.Spec.BackoffLimit != 0 {
			t.Errorf("spec = %+v", j.Spec)
		}
	})
	t.Run("default activeDeadlineSeconds", func(t *testing.T) {
		if j.Spec.ActiveDeadlineSeconds == nil || *j.Spec.ActiveDeadlineSeconds != int64(DefaultDeadline/time.Second) {
			t.Errorf("activeDeadlineSeconds = %v, want %d", j.Spec.ActiveDeadlineSeconds, int64(DefaultDeadline/time.Second))
		}
	})
	t.Run("metric left untouched", func(t *testing.T) {
		if m.Provider.Job.Spec.ActiveDeadlineSeconds != nil || m.Provider.Job.Metadata.Labels[LabelRunUID] != "" {
			t.Error("Start wrote into the metric's spec")
		}
	})
}

func TestStartKeepsActiveDeadline(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
	m := jobMetric("smoke")
	m.Provider.Job.Spec.ActiveDeadlineSeconds = ptr(int64(120))
	meas := (&Provider{Client: c}).Start(context.Background(), newRun(), m, 0, t0)
	j := getJob(t, c, meas.Metadata[MetadataJobName])
	if *j.Spec.ActiveDeadlineSeconds != 120 {
		t.Errorf("activeDeadlineSeconds = %d, want 120", *j.Spec.ActiveDeadlineSeconds)
	}
}

func TestStartAlreadyExists(t *testing.T) {
	run := newRun()
	// The Job a crashed earlier reconcile created for this very measurement.
	existing := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: jobName(run, "smoke", 0),
		Labels: map[string]string{LabelRunUID: string(run.UID), LabelMetric: "smoke"}}}
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(existing).Build()
	meas := (&Provider{Client: c}).Start(context.Background(), run, jobMetric("smoke"), 0, t0)
	if meas.Phase != running || meas.Metadata[MetadataJobName] != existing.Name {
		t.Errorf("measurement = %+v, want Running on the existing Job", meas)
	}
}

func TestStartRefusesAForeignJobOfTheSameName(t *testing.T) {
	run := newRun()
	foreign := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: jobName(run, "smoke", 0),
		Labels: map[string]string{LabelRunUID: "another-run", LabelMetric: "smoke"}}}
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(foreign).Build()
	meas := (&Provider{Client: c}).Start(context.Background(), run, jobMetric("smoke"), 0, t0)
	if meas.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(meas.Message, "belongs to another measurement") {
		t.Errorf("measurement = %+v, want an Error naming the clash", meas)
	}
}

func TestStartErrors(t *testing.T) {
	boom := interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		return apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, obj.GetName(), errors.New("quota exceeded"))
	}}
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithInterceptorFuncs(boom).Build()
	meas := (&Provider{Client: c}).Start(context.Background(), newRun(), jobMetric("smoke"), 0, t0)
	if meas.Phase != errored || !strings.Contains(meas.Message, "quota exceeded") || meas.FinishedAt == nil || meas.ResumeAt != nil {
		t.Errorf("measurement = %+v, want Error naming the cause", meas)
	}

	noJob := (&Provider{Client: c}).Start(context.Background(), newRun(), v1alpha1.Metric{Name: "x"}, 0, t0)
	if noJob.Phase != errored {
		t.Errorf("metric without job provider: %+v", noJob)
	}
}

func TestCheck(t *testing.T) {
	run := newRun()
	name := jobName(run, "smoke", 0)
	cond := func(typ batchv1.JobConditionType, status corev1.ConditionStatus, reason, msg string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: typ, Status: status, Reason: reason, Message: msg}
	}
	tests := []struct {
		name       string
		conditions []batchv1.JobCondition
		noJob      bool
		want       v1alpha1.AnalysisPhase
		wantMsg    []string
	}{
		{name: "complete", conditions: []batchv1.JobCondition{cond(batchv1.JobComplete, corev1.ConditionTrue, "", "")}, want: successful, wantMsg: []string{name, "completed"}},
		{name: "failed", conditions: []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionTrue, "BackoffLimitExceeded", "Job has reached the specified backoff limit")}, want: failed, wantMsg: []string{name, "BackoffLimitExceeded", "backoff limit"}},
		{name: "failed on deadline", conditions: []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionTrue, "DeadlineExceeded", "")}, want: failed, wantMsg: []string{"DeadlineExceeded"}},
		{name: "no condition yet", want: running},
		{name: "condition not true", conditions: []batchv1.JobCondition{cond(batchv1.JobComplete, corev1.ConditionFalse, "", "")}, want: running},
		{name: "suspended", conditions: []batchv1.JobCondition{cond(batchv1.JobSuspended, corev1.ConditionTrue, "", "")}, want: running},
		{name: "deleted", noJob: true, want: errored, wantMsg: []string{name, "deleted"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(newScheme(t))
			if !tc.noJob {
				b = b.WithObjects(&batchv1.Job{
					ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
					Status:     batchv1.JobStatus{Conditions: tc.conditions},
				})
			}
			p := &Provider{Client: b.Build()}
			in := v1alpha1.Measurement{Phase: running, StartedAt: &metav1.Time{Time: t0}, Metadata: map[string]string{MetadataJobName: name}, ResumeAt: &metav1.Time{Time: t0.Add(10 * time.Second)}}
			now := t0.Add(time.Minute)
			got := p.Check(context.Background(), run, in, now)
			if got.Phase != tc.want {
				t.Fatalf("phase = %s (%q), want %s", got.Phase, got.Message, tc.want)
			}
			for _, s := range tc.wantMsg {
				if !strings.Contains(got.Message, s) {
					t.Errorf("message %q does not contain %q", got.Message, s)
				}
			}
			if got.Metadata[MetadataJobName] != name || got.StartedAt == nil || !got.StartedAt.Time.Equal(t0) {
				t.Errorf("measurement lost its job name or start: %+v", got)
			}
			if tc.want == running {
				if got.FinishedAt != nil || got.ResumeAt == nil || !got.ResumeAt.Time.After(now) {
					t.Errorf("in flight: finishedAt %v, resumeAt %v; want none and after now", got.FinishedAt, got.ResumeAt)
				}
			} else if got.FinishedAt == nil || !got.FinishedAt.Time.Equal(now) || got.ResumeAt != nil {
				t.Errorf("finished: finishedAt %v, resumeAt %v; want now and none", got.FinishedAt, got.ResumeAt)
			}
		})
	}
}

func TestTerminate(t *testing.T) {
	run := newRun()
	name := jobName(run, "smoke", 0)
	tests := []struct {
		name  string
		exist bool
	}{
		{name: "deletes the Job", exist: true},
		{name: "Job already gone", exist: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(newScheme(t))
			if tc.exist {
				b = b.WithObjects(&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}})
			}
			c := b.Build()
			in := v1alpha1.Measurement{Phase: running, Metadata: map[string]string{MetadataJobName: name}, ResumeAt: &metav1.Time{Time: t0}}
			got := (&Provider{Client: c}).Terminate(context.Background(), run, in, t0.Add(time.Minute))
			if got.Phase != v1alpha1.AnalysisPhaseInconclusive || !strings.Contains(got.Message, name) || !strings.Contains(got.Message, "before it finished") ||
				got.FinishedAt == nil || !got.FinishedAt.Time.Equal(t0.Add(time.Minute)) || got.ResumeAt != nil {
				t.Errorf("measurement = %+v, want Inconclusive naming Job %s, finished at the given time", got, name)
			}
			var j batchv1.Job
			err := c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: name}, &j)
			if !apierrors.IsNotFound(err) {
				t.Errorf("Job still there after Terminate: %v", err)
			}
		})
	}
}

func TestJobName(t *testing.T) {
	run := newRun()
	long := strings.Repeat("very-long-metric-name-", 5)
	tests := []struct {
		name   string
		metric string
		index  int
		want   string
	}{
		{name: "short", metric: "smoke", index: 0, want: string(run.UID) + ".smoke.0"},
		// Rewritten names carry a hash of the original, so Smoke and smoke differ.
		{name: "lower-cased", metric: "Smoke", index: 2},
		{name: "long metric name", metric: long, index: 7},
		{name: "long metric name, big index", metric: long, index: 123456},
		{name: "cut at a dash", metric: strings.Repeat("a", 23) + "-" + strings.Repeat("b", 30), index: 0},
		// Metric names are free text; a Job name must be a DNS subdomain.
		{name: "underscore in the metric name", metric: "success_rate", index: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := jobName(run, tc.metric, tc.index)
			if len(got) > 63 {
				t.Errorf("%q is %d characters, want at most 63", got, len(got))
			}
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Errorf("%q cannot be the job-name label of its Pods: %v", got, errs)
			}
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("%q is not a valid Job name: %v", got, errs)
			}
			if !strings.HasPrefix(got, string(run.UID)+".") {
				t.Errorf("%q does not start with the run's UID", got)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("jobName = %q, want %q", got, tc.want)
			}
		})
	}
}

// Job names identify a measurement: different measurements of a run never
// share a Job. Start treats AlreadyExists as "this is my Job", so a shared
// name makes one metric report another metric's Job.
func TestJobNameUnique(t *testing.T) {
	run := newRun()
	names := []string{
		"checkout-latency-p99-canary-vs-stable",
		"checkout-latency-p99-canary-vs-baseline",
		"checkout-latency-p99-canary",
	}
	seen := map[string]string{}
	for _, m := range names {
		for i := 0; i < 3; i++ {
			n := jobName(run, m, i)
			if prev, dup := seen[n]; dup {
				t.Errorf("metric %q measurement %d and %s share Job name %q", m, i, prev, n)
			}
			seen[n] = m
		}
	}
}

// End to end with the fake client: two metrics whose names share a long
// prefix must get Jobs of their own.
func TestStartTwoLongMetricsGetTheirOwnJobs(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
	p := &Provider{Client: c}
	run := newRun()
	a := p.Start(context.Background(), run, jobMetric("checkout-latency-p99-canary-vs-stable"), 0, t0)
	b := p.Start(context.Background(), run, jobMetric("checkout-latency-p99-canary-vs-baseline"), 0, t0)
	if a.Metadata[MetadataJobName] == b.Metadata[MetadataJobName] {
		j := getJob(t, c, b.Metadata[MetadataJobName])
		t.Errorf("both metrics use Job %q (labelled for metric %q)", b.Metadata[MetadataJobName], j.Labels[LabelMetric])
	}
}

func TestTruncateLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", 63), strings.Repeat("a", 63)},
		{strings.Repeat("a", 64), strings.Repeat("a", 63)},
		{strings.Repeat("a", 62) + "-b", strings.Repeat("a", 62)},
	}
	for _, tc := range tests {
		got := truncateLabel(tc.in)
		if got != tc.want {
			t.Errorf("truncateLabel(%d chars) = %q, want %q", len(tc.in), got, tc.want)
		}
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("%q: %v", got, errs)
		}
	}
}
