package shard

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	metafake "k8s.io/client-go/metadata/fake"
)

func meta(apiVersion, kind, name string, labels map[string]string, owner *metav1.OwnerReference) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: labels},
	}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return m
}

func controller(apiVersion, kind, name string) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(name), Controller: &yes}
}

// TestBucketOfReplicaSetsAndPods checks that a ReplicaSet and a Pod land in
// the bucket of the Rollout or Experiment they belong to, however they are
// reached, so the replica holding that Rollout caches them.
func TestBucketOfReplicaSetsAndPods(t *testing.T) {
	hash := map[string]string{podTemplateHashLabel: "abc12"}
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	objects := []runtime.Object{
		// An unlabelled ReplicaSet of Rollout "web".
		meta("apps/v1", "ReplicaSet", "web-abc12", hash, controller("argoproj.io/v1alpha1", "Rollout", "web")),
		// A labelled ReplicaSet whose label wins over its owner chain.
		meta("apps/v1", "ReplicaSet", "api-abc12", map[string]string{podTemplateHashLabel: "abc12", LabelBucket: "5"},
			controller("argoproj.io/v1alpha1", "Rollout", "api")),
		// An Experiment's ReplicaSet, the Experiment made by Rollout "shop-ui".
		meta("apps/v1", "ReplicaSet", "exp-baseline", hash, controller("argoproj.io/v1alpha1", "Experiment", "exp")),
		meta("argoproj.io/v1alpha1", "Experiment", "exp", nil, controller("argoproj.io/v1alpha1", "Rollout", "shop-ui")),
	}
	client := metafake.NewSimpleMetadataClient(scheme, objects...)
	l := &Labeller{Client: client, Shards: 4}
	type tc struct {
		name string
		pod  bool
		obj  *metav1.PartialObjectMetadata
		want int
	}
	for _, c := range []tc{
		{"ReplicaSet of a Rollout", false, objects[0].(*metav1.PartialObjectMetadata), Bucket("shop", "web")},
		{"Pod of an unlabelled ReplicaSet", true, meta("v1", "Pod", "web-abc12-x", hash, controller("apps/v1", "ReplicaSet", "web-abc12")), Bucket("shop", "web")},
		{"Pod of a labelled ReplicaSet", true, meta("v1", "Pod", "api-abc12-x", hash, controller("apps/v1", "ReplicaSet", "api-abc12")), 5},
		{"Pod of an Experiment's ReplicaSet", true, meta("v1", "Pod", "exp-baseline-x", hash, controller("apps/v1", "ReplicaSet", "exp-baseline")), Bucket("shop", "shop-ui")},
		{"orphaned ReplicaSet goes by its name", false, meta("apps/v1", "ReplicaSet", "cart-abc12", hash, nil), Bucket("shop", "cart")},
		{"Pod whose ReplicaSet is gone", true, meta("v1", "Pod", "gone-abc12-x", hash, controller("apps/v1", "ReplicaSet", "gone-abc12")), Bucket("shop", "gone-abc12-x")},
	} {
		gvr := replicaSetsGVR
		if c.pod {
			gvr = podsGVR
		}
		got, err := l.bucketOf(context.Background(), gvr, c.obj)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: bucket %d, want %d", c.name, got, c.want)
		}
	}
}

// TestBucketPatchLabelsAReplicaSetsTemplate checks that a ReplicaSet's
// patch labels its Pod template too, so its later Pods are born labelled,
// and that other kinds get their metadata labelled only.
func TestBucketPatchLabelsAReplicaSetsTemplate(t *testing.T) {
	rs, err := json.Marshal(bucketPatch(replicaSetsGVR, "7", 12))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metadata":{"labels":{"rollouts.kanaria.dev/shard-bucket":"12"},"resourceVersion":"7"},"spec":{"template":{"metadata":{"labels":{"rollouts.kanaria.dev/shard-bucket":"12"}}}}}`
	if string(rs) != want {
		t.Errorf("ReplicaSet patch %s, want %s", rs, want)
	}
	pod, err := json.Marshal(bucketPatch(podsGVR, "7", 12))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"metadata":{"labels":{"rollouts.kanaria.dev/shard-bucket":"12"},"resourceVersion":"7"}}`; string(pod) != want {
		t.Errorf("Pod patch %s, want %s", pod, want)
	}
}

// TestBucketOfJobs checks that a Job-metric Job lands in its AnalysisRun's
// bucket: the run's label when it has one, else the Rollout's or the
// Experiment's the run belongs to, else a standalone run's own name.
func TestBucketOfJobs(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ofRun := func(run string) map[string]string { return map[string]string{analysisJobLabel: run + "-uid"} }
	objects := []runtime.Object{
		meta("argoproj.io/v1alpha1", "AnalysisRun", "labelled", map[string]string{LabelBucket: "9"}, controller("argoproj.io/v1alpha1", "Rollout", "web")),
		meta("argoproj.io/v1alpha1", "AnalysisRun", "of-rollout", nil, controller("argoproj.io/v1alpha1", "Rollout", "web")),
		meta("argoproj.io/v1alpha1", "AnalysisRun", "of-experiment", nil, controller("argoproj.io/v1alpha1", "Experiment", "exp")),
		meta("argoproj.io/v1alpha1", "Experiment", "exp", nil, controller("argoproj.io/v1alpha1", "Rollout", "shop-ui")),
		meta("argoproj.io/v1alpha1", "AnalysisRun", "standalone", nil, nil),
	}
	l := &Labeller{Client: metafake.NewSimpleMetadataClient(scheme, objects...), Shards: 4}
	for _, c := range []struct {
		run  string
		want int
	}{
		{"labelled", 9},
		{"of-rollout", Bucket("shop", "web")},
		{"of-experiment", Bucket("shop", "shop-ui")},
		{"standalone", Bucket("shop", "standalone")},
	} {
		j := meta("batch/v1", "Job", c.run+"-uid.check.0", ofRun(c.run), controller("argoproj.io/v1alpha1", "AnalysisRun", c.run))
		got, err := l.bucketOf(context.Background(), jobsGVR, j)
		if err != nil {
			t.Fatalf("Job of run %s: %v", c.run, err)
		}
		if got != c.want {
			t.Errorf("Job of run %s: bucket %d, want %d", c.run, got, c.want)
		}
	}
}

// TestBucketPatchLeavesAJobsTemplate checks that a Job, whose Pod template
// cannot change once it runs, is labelled on its metadata only.
func TestBucketPatchLeavesAJobsTemplate(t *testing.T) {
	b, err := json.Marshal(bucketPatch(jobsGVR, "3", 40))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"metadata":{"labels":{"rollouts.kanaria.dev/shard-bucket":"40"},"resourceVersion":"3"}}`; string(b) != want {
		t.Errorf("Job patch %s, want %s", b, want)
	}
}
