package job

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// TestStartLabelsTheJobWithItsRunsBucket checks that with shards a Job and
// its Pod template carry the run's bucket, whatever the metric's own labels
// say, and that without shards the Job carries no bucket even when the run
// still has one (from an earlier sharded controller).
func TestStartLabelsTheJobWithItsRunsBucket(t *testing.T) {
	for _, sharded := range []bool{true, false} {
		c := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
		run := newRun()
		run.Labels = map[string]string{shard.LabelBucket: "21"}
		m := jobMetric("smoke")
		m.Provider.Job.Metadata.Labels[shard.LabelBucket] = "3"
		meas := (&Provider{Client: c, Sharded: sharded}).Start(context.Background(), run, m, 0, t0)
		if meas.Phase != running {
			t.Fatalf("sharded %v: measurement %+v, want Running", sharded, meas)
		}
		j := getJob(t, c, meas.Metadata[MetadataJobName])
		got, gotTmpl := j.Labels[shard.LabelBucket], j.Spec.Template.Labels[shard.LabelBucket]
		switch {
		case sharded && (got != "21" || gotTmpl != "21"):
			t.Errorf("sharded: Job bucket %q, Pod template bucket %q, want the run's 21 on both", got, gotTmpl)
		case !sharded && (got != "3" || gotTmpl != ""):
			t.Errorf("unsharded: Job bucket %q, Pod template bucket %q, want only the metric's own label", got, gotTmpl)
		}
	}
}

// TestCheckReadsAJobTheCacheDoesNotHold checks that a Job missing from the
// cache (made before shards were turned on and not labelled yet) is read
// from the API server rather than declared deleted, and that a Job missing
// from both is still an Error.
func TestCheckReadsAJobTheCacheDoesNotHold(t *testing.T) {
	run := newRun()
	name := jobName(run, "smoke", 0)
	done := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}},
	}
	emptyCache := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
	api := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(done).Build()
	in := v1alpha1.Measurement{Phase: running, StartedAt: &metav1.Time{Time: t0}, Metadata: map[string]string{MetadataJobName: name}}
	now := t0.Add(time.Minute)

	got := (&Provider{Client: emptyCache, APIReader: api}).Check(context.Background(), run, in, now)
	if got.Phase != successful {
		t.Errorf("Job only on the API server: phase %s (%q), want Successful", got.Phase, got.Message)
	}
	gone := fake.NewClientBuilder().WithScheme(newScheme(t)).Build()
	got = (&Provider{Client: emptyCache, APIReader: gone}).Check(context.Background(), run, in, now)
	if got.Phase != errored {
		t.Errorf("Job on neither: phase %s (%q), want Error", got.Phase, got.Message)
	}
}
