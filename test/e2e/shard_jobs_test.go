package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/job"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// shardJobRunManifest is a standalone AnalysisRun of two Job measurements
// 30 s apart: the second one is due after the test has killed the replica
// that made the first.
const shardJobRunManifest = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: %s
spec:
  metrics:
  - name: smoke
    count: 2
    interval: 30s
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
              - {name: smoke, image: registry.example/smoke:1}
`

// TestShardsCacheOnlyTheirJobs runs two replicas with --shards 2 and a
// Job-metric AnalysisRun on shard 0. Its Jobs carry the run's bucket (on
// the Job and its Pod template) and only shard 0's replica caches them; a
// Job of the run made without the label (as before sharding was turned on)
// is labelled by that replica. Killing it between the two measurements
// hands the run to the other replica, which caches the Jobs then and
// finishes the run.
func TestShardsCacheOnlyTheirJobs(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "shardjob")
	p0 := runShardedController(t, ns, 2, 0)
	p1 := runShardedController(t, ns, 2, 1)
	assertShardHolders(t, c, ns, map[int]string{0: "home-0", 1: "home-1"}, p0, p1)

	name := shardRolloutNames(ns, 2, 1)[0][0]
	bucket := shard.BucketLabel(ns, name)
	applyYAML(t, ns, fmt.Sprintf(shardJobRunManifest, name))

	var run v1alpha1.AnalysisRun
	runJobs := func() ([]batchv1.Job, error) {
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &run); err != nil {
			return nil, err
		}
		var jobs batchv1.JobList
		err := c.ctrl.List(context.Background(), &jobs, client.InNamespace(ns), client.MatchingLabels{job.LabelRunUID: string(run.UID)})
		return jobs.Items, err
	}
	eventually(t, time.Minute, "the first measurement's Job", func() (bool, error) {
		jobs, err := runJobs()
		if err != nil {
			return false, err
		}
		return len(jobs) == 1, fmt.Errorf("%d Jobs of the run", len(jobs))
	})
	jobs, err := runJobs()
	if err != nil {
		t.Fatal(err)
	}
	if got, tmpl := jobs[0].Labels[shard.LabelBucket], jobs[0].Spec.Template.Labels[shard.LabelBucket]; got != bucket || tmpl != bucket {
		t.Fatalf("Job %s: bucket %q, Pod template bucket %q, want the run's %q on both", jobs[0].Name, got, tmpl, bucket)
	}

	// A Job of the run without the label, as a controller without shards
	// made it: the replica holding the run's shard labels it.
	yes := true
	legacy := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-unlabelled",
			Labels: map[string]string{job.LabelRunUID: string(run.UID)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "AnalysisRun",
				Name: run.Name, UID: run.UID, Controller: &yes}}},
		Spec: batchv1.JobSpec{BackoffLimit: new(int32(0)), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "smoke", Image: "registry.example/smoke:1"}}}}},
	}
	if err := c.ctrl.Create(context.Background(), legacy); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the unlabelled Job labelled with its run's bucket", func() (bool, error) {
		var j batchv1.Job
		if err := c.ctrl.Get(context.Background(), client.ObjectKeyFromObject(legacy), &j); err != nil {
			return false, err
		}
		return j.Labels[shard.LabelBucket] == bucket, fmt.Errorf("bucket label %q, want %q", j.Labels[shard.LabelBucket], bucket)
	})

	// Only shard 0's replica caches the run's Jobs.
	eventually(t, time.Minute, "the run's Jobs cached by shard 0's replica only", func() (bool, error) {
		jobs, err := runJobs()
		if err != nil {
			return false, err
		}
		n0, err := cachedCount(p0, "Job")
		if err != nil {
			return false, err
		}
		n1, err := cachedCount(p1, "Job")
		if err != nil {
			return false, err
		}
		return n0 == len(jobs) && n1 == 0, fmt.Errorf("replica 0 caches %d Jobs, replica 1 %d; the run has %d", n0, n1, len(jobs))
	})
	if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &run); err != nil {
		t.Fatal(err)
	}
	if run.Status.Phase.Completed() {
		t.Fatalf("the run completed (%s) before the fail-over it is meant to span", run.Status.Phase)
	}

	// Shard 0's replica dies between the measurements; the other takes the
	// shard, caches the Jobs and runs the second measurement.
	_ = p0.cmd.Process.Kill()
	<-p0.exited
	done := waitRun(t, c, ns, name, 3*time.Minute)
	if done.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("run ended %s: %s", done.Status.Phase, done.Status.Message)
	}
	if ms := done.Status.MetricResults; len(ms) != 1 || ms[0].Count != 2 || ms[0].Successful != 2 {
		t.Fatalf("metric results %+v, want two successful measurements", ms)
	}
	assertShardHolders(t, c, ns, map[int]string{0: "home-1", 1: "home-1"}, p1)
	eventually(t, time.Minute, "the survivor caching the run's Jobs", func() (bool, error) {
		jobs, err := runJobs()
		if err != nil {
			return false, err
		}
		for _, j := range jobs {
			if j.Labels[shard.LabelBucket] != bucket {
				return false, fmt.Errorf("Job %s has bucket %q, want %q", j.Name, j.Labels[shard.LabelBucket], bucket)
			}
		}
		n1, err := cachedCount(p1, "Job")
		if err != nil {
			return false, err
		}
		return len(jobs) == 3 && n1 == 3, fmt.Errorf("replica 1 caches %d Jobs; the run has %d, want 3", n1, len(jobs))
	})
}
