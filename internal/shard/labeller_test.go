package shard

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	metafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/util/workqueue"
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
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(name), Controller: ptr(true)}
}

func ptr[T any](v T) *T { return &v }

// otherInstance labels an object as another controller instance's.
var otherInstance = map[string]string{"argo-rollouts.argoproj.io/controller-instance-id": "other"}

// defaultInstance is the selector of a controller started without an
// instance id, as internal/controller builds it.
func defaultInstance(t *testing.T) labels.Selector {
	t.Helper()
	sel, err := labels.Parse("!argo-rollouts.argoproj.io/controller-instance-id")
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func metaClient(t *testing.T, objects ...runtime.Object) *metafake.FakeMetadataClient {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return metafake.NewSimpleMetadataClient(scheme, objects...)
}

// bucketCase is one object and what bucketOf must say of it; ours false
// means it must be left unlabelled.
type bucketCase struct {
	name string
	gvr  schema.GroupVersionResource
	obj  *metav1.PartialObjectMetadata
	ours bool
	want int
}

func checkBuckets(t *testing.T, l *Labeller, cases []bucketCase) {
	t.Helper()
	for _, c := range cases {
		got, ours, err := l.bucketOf(context.Background(), c.gvr, c.obj)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ours != c.ours {
			t.Errorf("%s: ours %v, want %v", c.name, ours, c.ours)
			continue
		}
		if ours && got != c.want {
			t.Errorf("%s: bucket %d, want %d", c.name, got, c.want)
		}
	}
}

// TestBucketOfReplicaSetsAndPods checks that a ReplicaSet and a Pod land in
// the bucket of the Rollout or Experiment they belong to, however they are
// reached, so the replica holding that Rollout caches them, and that those
// of a Deployment, of another controller instance's Rollout or Experiment,
// or of an owner that is gone are left alone.
func TestBucketOfReplicaSetsAndPods(t *testing.T) {
	hash := map[string]string{podTemplateHashLabel: "abc12"}
	rollout := func(name string, labels map[string]string) *metav1.PartialObjectMetadata {
		m := meta("argoproj.io/v1alpha1", "Rollout", name, labels, nil)
		m.UID = types.UID(name)
		return m
	}
	owned := func(m *metav1.PartialObjectMetadata) *metav1.PartialObjectMetadata {
		m.UID = types.UID(m.Name)
		return m
	}
	objects := []runtime.Object{
		rollout("web", nil), rollout("api", nil), rollout("shop-ui", nil), rollout("cart", nil),
		rollout("theirs", otherInstance), rollout("their-orphans", otherInstance),
		// An unlabelled ReplicaSet of Rollout "web".
		owned(meta("apps/v1", "ReplicaSet", "web-abc12", hash, controller("argoproj.io/v1alpha1", "Rollout", "web"))),
		// A labelled ReplicaSet whose label wins over its owner chain.
		owned(meta("apps/v1", "ReplicaSet", "api-abc12", map[string]string{podTemplateHashLabel: "abc12", LabelBucket: "5"},
			controller("argoproj.io/v1alpha1", "Rollout", "api"))),
		// An Experiment's ReplicaSet, the Experiment made by Rollout "shop-ui".
		owned(meta("apps/v1", "ReplicaSet", "exp-baseline", hash, controller("argoproj.io/v1alpha1", "Experiment", "exp"))),
		owned(meta("argoproj.io/v1alpha1", "Experiment", "exp", nil, controller("argoproj.io/v1alpha1", "Rollout", "shop-ui"))),
		// A Deployment's ReplicaSet that carries the Rollout hash label all the same.
		owned(meta("apps/v1", "ReplicaSet", "plain-abc12", hash, controller("apps/v1", "Deployment", "plain"))),
		// Another instance's Rollout's ReplicaSet, and another instance's
		// Experiment (under this instance's Rollout) with its ReplicaSet.
		owned(meta("apps/v1", "ReplicaSet", "theirs-abc12", hash, controller("argoproj.io/v1alpha1", "Rollout", "theirs"))),
		owned(meta("argoproj.io/v1alpha1", "Experiment", "their-exp", otherInstance, controller("argoproj.io/v1alpha1", "Rollout", "web"))),
		owned(meta("apps/v1", "ReplicaSet", "their-exp-canary", hash, controller("argoproj.io/v1alpha1", "Experiment", "their-exp"))),
		// This instance's Experiment under another instance's Rollout.
		owned(meta("argoproj.io/v1alpha1", "Experiment", "mixed", nil, controller("argoproj.io/v1alpha1", "Rollout", "theirs"))),
		owned(meta("apps/v1", "ReplicaSet", "mixed-canary", hash, controller("argoproj.io/v1alpha1", "Experiment", "mixed"))),
		// A ReplicaSet whose Rollout was deleted and recreated: its
		// controller reference names the old uid.
		owned(meta("apps/v1", "ReplicaSet", "cart-old12", hash, &metav1.OwnerReference{APIVersion: "argoproj.io/v1alpha1",
			Kind: "Rollout", Name: "cart", UID: "cart-before", Controller: ptr(true)})),
		// Orphans named after this instance's Rollout.
		owned(meta("apps/v1", "ReplicaSet", "cart-abc12", hash, nil)),
	}
	l := &Labeller{Client: metaClient(t, objects...), Shards: 4, Selector: defaultInstance(t)}
	pod := func(name, rs string) *metav1.PartialObjectMetadata {
		return meta("v1", "Pod", name, hash, controller("apps/v1", "ReplicaSet", rs))
	}
	rs := func(i int) *metav1.PartialObjectMetadata { return objects[i].(*metav1.PartialObjectMetadata) }
	checkBuckets(t, l, []bucketCase{
		{"ReplicaSet of a Rollout", replicaSetsGVR, rs(6), true, Bucket("shop", "web")},
		{"Pod of an unlabelled ReplicaSet", podsGVR, pod("web-abc12-x", "web-abc12"), true, Bucket("shop", "web")},
		{"Pod of a labelled ReplicaSet", podsGVR, pod("api-abc12-x", "api-abc12"), true, 5},
		{"ReplicaSet of an Experiment", replicaSetsGVR, rs(8), true, Bucket("shop", "shop-ui")},
		{"Pod of an Experiment's ReplicaSet", podsGVR, pod("exp-baseline-x", "exp-baseline"), true, Bucket("shop", "shop-ui")},
		{"orphan named after this instance's Rollout", replicaSetsGVR, meta("apps/v1", "ReplicaSet", "cart-abc12", hash, nil), true, Bucket("shop", "cart")},
		{"Pod of an orphan named after this instance's Rollout", podsGVR, pod("cart-abc12-x", "cart-abc12"), true, Bucket("shop", "cart")},

		{"Deployment's ReplicaSet", replicaSetsGVR, rs(10), false, 0},
		{"Pod of a Deployment's ReplicaSet", podsGVR, pod("plain-abc12-x", "plain-abc12"), false, 0},
		{"another instance's Rollout's ReplicaSet", replicaSetsGVR, rs(11), false, 0},
		{"Pod of another instance's Rollout", podsGVR, pod("theirs-abc12-x", "theirs-abc12"), false, 0},
		{"another instance's Experiment's ReplicaSet", replicaSetsGVR, rs(13), false, 0},
		{"Pod of another instance's Experiment", podsGVR, pod("their-exp-canary-x", "their-exp-canary"), false, 0},
		{"Experiment under another instance's Rollout", replicaSetsGVR, rs(15), false, 0},
		{"ReplicaSet whose Rollout was replaced", replicaSetsGVR, rs(16), false, 0},
		{"ReplicaSet whose Rollout is gone", replicaSetsGVR, meta("apps/v1", "ReplicaSet", "gone-abc12", hash, controller("argoproj.io/v1alpha1", "Rollout", "gone")), false, 0},
		{"Pod whose ReplicaSet is gone", podsGVR, pod("gone-abc12-x", "gone-abc12"), false, 0},
		{"Pod nothing controls", podsGVR, meta("v1", "Pod", "loose", hash, nil), false, 0},
		{"Pod of a StatefulSet", podsGVR, meta("v1", "Pod", "db-0", hash, controller("apps/v1", "StatefulSet", "db")), false, 0},
		{"orphan named after another instance's Rollout", replicaSetsGVR, meta("apps/v1", "ReplicaSet", "their-orphans-abc12", hash, nil), false, 0},
		{"orphan named after no Rollout", replicaSetsGVR, meta("apps/v1", "ReplicaSet", "nobody-abc12", hash, nil), false, 0},
		{"orphan whose name lacks its hash", replicaSetsGVR, meta("apps/v1", "ReplicaSet", "cart", hash, nil), false, 0},
	})
}

// TestBucketOfRolloutsRunsAndExperiments checks the objects the labeller
// watches by the instance selector: a Rollout and a standalone run or
// Experiment go by their own name, one a Rollout made by the Rollout's.
func TestBucketOfRolloutsRunsAndExperiments(t *testing.T) {
	ro := meta("argoproj.io/v1alpha1", "Rollout", "web", nil, nil)
	ro.UID = "web"
	l := &Labeller{Client: metaClient(t, ro), Shards: 4, Selector: defaultInstance(t)}
	argo := "argoproj.io/v1alpha1"
	checkBuckets(t, l, []bucketCase{
		{"Rollout", rolloutsGVR, meta(argo, "Rollout", "web", nil, nil), true, Bucket("shop", "web")},
		{"another instance's Rollout", rolloutsGVR, meta(argo, "Rollout", "web", otherInstance, nil), false, 0},
		{"standalone run", analysisRunsGVR, meta(argo, "AnalysisRun", "check", nil, nil), true, Bucket("shop", "check")},
		{"run of a Rollout", analysisRunsGVR, meta(argo, "AnalysisRun", "web-1", nil, controller(argo, "Rollout", "web")), true, Bucket("shop", "web")},
		{"run of a Rollout that is gone", analysisRunsGVR, meta(argo, "AnalysisRun", "gone-1", nil, controller(argo, "Rollout", "gone")), false, 0},
		{"standalone Experiment", experimentsGVR, meta(argo, "Experiment", "try", nil, nil), true, Bucket("shop", "try")},
		{"Experiment another kind controls", experimentsGVR, meta(argo, "Experiment", "held", nil, controller("v1", "ConfigMap", "x")), true, Bucket("shop", "held")},
	})
}

// TestOrphanWaitsForItsRollout checks that an orphan ReplicaSet whose
// Rollout does not exist yet is left alone, and is queued again when that
// Rollout comes to the labeller, so that the Rollout can adopt it.
func TestOrphanWaitsForItsRollout(t *testing.T) {
	hash := map[string]string{podTemplateHashLabel: "abc12"}
	client := metaClient(t)
	l := &Labeller{Client: client, Shards: 1, Selector: defaultInstance(t)}
	l.queue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[item]())
	defer l.queue.ShutDown()
	orphan := meta("apps/v1", "ReplicaSet", "cart-abc12", hash, nil)
	if _, ours, err := l.bucketOf(context.Background(), replicaSetsGVR, orphan); err != nil || ours {
		t.Fatalf("orphan before its Rollout: ours %v, err %v; want left alone", ours, err)
	}
	l.wake("shop", "other")
	if n := l.queue.Len(); n != 0 {
		t.Fatalf("another Rollout queued %d orphans, want none", n)
	}
	l.wake("shop", "cart")
	if n := l.queue.Len(); n != 1 {
		t.Fatalf("its Rollout queued %d items, want the orphan", n)
	}
	if it, _ := l.queue.Get(); it != (item{gvr: replicaSetsGVR, namespace: "shop", name: "cart-abc12"}) {
		t.Fatalf("queued %+v, want the orphan", it)
	}
	l.wake("shop", "cart")
	if n := l.queue.Len(); n != 0 {
		t.Fatalf("a second look at the Rollout queued %d items, want none", n)
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
// Experiment's the run belongs to, else a standalone run's own name; and
// that the Jobs of another instance's runs, or of no run, are left alone.
func TestBucketOfJobs(t *testing.T) {
	ofRun := func(run string) map[string]string { return map[string]string{analysisJobLabel: run + "-uid"} }
	argo := "argoproj.io/v1alpha1"
	withUID := func(m *metav1.PartialObjectMetadata) *metav1.PartialObjectMetadata {
		m.UID = types.UID(m.Name)
		return m
	}
	objects := []runtime.Object{
		withUID(meta(argo, "Rollout", "web", nil, nil)),
		withUID(meta(argo, "Rollout", "shop-ui", nil, nil)),
		withUID(meta(argo, "AnalysisRun", "labelled", map[string]string{LabelBucket: "9"}, controller(argo, "Rollout", "web"))),
		withUID(meta(argo, "AnalysisRun", "of-rollout", nil, controller(argo, "Rollout", "web"))),
		withUID(meta(argo, "AnalysisRun", "of-experiment", nil, controller(argo, "Experiment", "exp"))),
		withUID(meta(argo, "Experiment", "exp", nil, controller(argo, "Rollout", "shop-ui"))),
		withUID(meta(argo, "AnalysisRun", "standalone", nil, nil)),
		withUID(meta(argo, "AnalysisRun", "theirs", otherInstance, nil)),
	}
	l := &Labeller{Client: metaClient(t, objects...), Shards: 4, Selector: defaultInstance(t)}
	job := func(run string) *metav1.PartialObjectMetadata {
		return meta("batch/v1", "Job", run+"-uid.check.0", ofRun(run), controller(argo, "AnalysisRun", run))
	}
	checkBuckets(t, l, []bucketCase{
		{"Job of a labelled run", jobsGVR, job("labelled"), true, 9},
		{"Job of a Rollout's run", jobsGVR, job("of-rollout"), true, Bucket("shop", "web")},
		{"Job of an Experiment's run", jobsGVR, job("of-experiment"), true, Bucket("shop", "shop-ui")},
		{"Job of a standalone run", jobsGVR, job("standalone"), true, Bucket("shop", "standalone")},
		{"Job of another instance's run", jobsGVR, job("theirs"), false, 0},
		{"Job of a run that is gone", jobsGVR, job("gone"), false, 0},
		{"Job of a CronJob", jobsGVR, meta("batch/v1", "Job", "nightly", ofRun("x"), controller("batch/v1", "CronJob", "nightly")), false, 0},
		{"Job nothing controls", jobsGVR, meta("batch/v1", "Job", "loose", ofRun("x"), nil), false, 0},
	})
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

// heldPatches is a metadata client whose patches call hold first, outside
// the fake client's lock, which would otherwise let one through at a time.
type heldPatches struct {
	metadata.Interface
	hold func()
}

func (c heldPatches) Resource(gvr schema.GroupVersionResource) metadata.Getter {
	return heldGetter{Getter: c.Interface.Resource(gvr), hold: c.hold}
}

type heldGetter struct {
	metadata.Getter
	hold func()
}

func (g heldGetter) Namespace(ns string) metadata.ResourceInterface {
	return heldResource{ResourceInterface: g.Getter.Namespace(ns), hold: g.hold}
}

type heldResource struct {
	metadata.ResourceInterface
	hold func()
}

func (r heldResource) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) (*metav1.PartialObjectMetadata, error) {
	r.hold()
	return r.ResourceInterface.Patch(ctx, name, pt, data, opts, sub...)
}

// TestLabellerPatchesAtOnce checks that a burst of unlabelled Rollouts is
// labelled by several workers at a time: each patch here is held until
// Workers of them are in flight (or 5 s pass), which one worker alone
// never reaches.
func TestLabellerPatchesAtOnce(t *testing.T) {
	const workers = 4
	var objs []runtime.Object
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		objs = append(objs, meta("argoproj.io/v1alpha1", "Rollout", name, nil, nil))
	}
	var mu sync.Mutex
	inFlight, most := 0, 0
	all := make(chan struct{})
	hold := func() {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if most == workers {
			select {
			case <-all:
			default:
				close(all)
			}
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	client := metaClient(t, objs...)
	l := &Labeller{Client: heldPatches{Interface: client, hold: hold}, Shards: 1, Selector: defaultInstance(t), Workers: workers}
	l.SetHeld([]int{0})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	labelled := func() int {
		n := 0
		for _, o := range objs {
			m := o.(*metav1.PartialObjectMetadata)
			got, err := client.Resource(rolloutsGVR).Namespace("shop").Get(context.Background(), m.Name, metav1.GetOptions{})
			if err == nil && got.Labels[LabelBucket] != "" {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for labelled() < len(objs) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := labelled(); n < len(objs) {
		t.Fatalf("labelled %d of %d Rollouts", n, len(objs))
	}
	mu.Lock()
	defer mu.Unlock()
	if most != workers {
		t.Fatalf("at most %d patches in flight, want %d", most, workers)
	}
}

// TestOrphanWithItsRolloutDoesNotWait checks that an orphan whose Rollout
// exists is labelled and not left registered as waiting.
func TestOrphanWithItsRolloutDoesNotWait(t *testing.T) {
	hash := map[string]string{podTemplateHashLabel: "abc12"}
	client := metaClient(t, meta("argoproj.io/v1alpha1", "Rollout", "cart", nil, nil))
	l := &Labeller{Client: client, Shards: 1, Selector: defaultInstance(t)}
	orphan := meta("apps/v1", "ReplicaSet", "cart-abc12", hash, nil)
	b, ours, err := l.bucketOf(context.Background(), replicaSetsGVR, orphan)
	if err != nil || !ours || b != Bucket("shop", "cart") {
		t.Fatalf("orphan of an existing Rollout: bucket %d, ours %v, err %v; want its Rollout's bucket", b, ours, err)
	}
	if len(l.orphans) != 0 {
		t.Fatalf("orphans still waiting: %v", l.orphans)
	}
}
