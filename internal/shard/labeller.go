package shard

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Labelled resources, all in argoproj.io/v1alpha1.
var (
	rolloutsGVR     = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}
	analysisRunsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysisruns"}
	experimentsGVR  = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "experiments"}
	replicaSetsGVR  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	podsGVR         = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	jobsGVR         = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

// podTemplateHashLabel marks the ReplicaSets and Pods of Rollouts and
// Experiments (the reference's rollouts-pod-template-hash); the controller
// caches only those, so only those need a bucket.
const podTemplateHashLabel = "rollouts-pod-template-hash"

// analysisJobLabel marks the Jobs of Job metrics (the reference's
// analysisrun.argoproj.io/uid, which the Job provider sets); the controller
// caches only those Jobs, so only those need a bucket.
const analysisJobLabel = "analysisrun.argoproj.io/uid"

// Labeller gives the bucket label to the Rollouts, AnalysisRuns and
// Experiments that lack it (those created by users, and those created before
// sharding was turned on), and to the ReplicaSets and Pods of Rollouts and
// Experiments and the Jobs of Job metrics made before it, so that each
// replica caches only its shards'. It watches metadata only and only objects
// without the label, so its cache stays near empty; each replica labels the
// objects of the shards it holds, so no two replicas write the same object.
type Labeller struct {
	// Client reads and patches object metadata.
	Client metadata.Interface
	// Namespace limits the watch; empty watches all.
	Namespace string
	// Selector is the controller's own selector (its instance id), so a
	// replica labels only objects its controller handles.
	Selector labels.Selector
	// Shards is the shard count.
	Shards int
	// Log receives one line per labelled object.
	Log logr.Logger

	mu    sync.Mutex
	held  map[int]bool
	queue workqueue.TypedRateLimitingInterface[item]
	store map[schema.GroupVersionResource]cache.Store
}

type item struct {
	gvr             schema.GroupVersionResource
	namespace, name string
}

// SetHeld tells the labeller which shards this replica holds, and looks
// again at the objects it skipped for belonging to other shards.
func (l *Labeller) SetHeld(held []int) {
	l.mu.Lock()
	l.held = map[int]bool{}
	for _, k := range held {
		l.held[k] = true
	}
	q, stores := l.queue, l.store
	l.mu.Unlock()
	if q == nil {
		return
	}
	for gvr, s := range stores {
		for _, o := range s.List() {
			if m, ok := o.(*metav1.PartialObjectMetadata); ok {
				q.Add(item{gvr: gvr, namespace: m.Namespace, name: m.Name})
			}
		}
	}
}

func (l *Labeller) holds(bucket int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[ShardOf(bucket, l.Shards)]
}

// Run labels objects until ctx ends.
func (l *Labeller) Run(ctx context.Context) error {
	req, err := labels.NewRequirement(LabelBucket, "!", nil)
	if err != nil {
		return fmt.Errorf("building the labeller's selector: %w", err)
	}
	sel := labels.NewSelector().Add(*req)
	if l.Selector != nil {
		reqs, _ := l.Selector.Requirements()
		sel = sel.Add(reqs...)
	}
	hashed, err := labels.NewRequirement(podTemplateHashLabel, selection.Exists, nil)
	if err != nil {
		return fmt.Errorf("building the labeller's selector: %w", err)
	}
	// ReplicaSets and Pods carry no instance id: the hash label is what
	// makes them the controller's; for Jobs it is their run's uid.
	podSel := labels.NewSelector().Add(*req, *hashed)
	ofRun, err := labels.NewRequirement(analysisJobLabel, selection.Exists, nil)
	if err != nil {
		return fmt.Errorf("building the labeller's selector: %w", err)
	}
	jobSel := labels.NewSelector().Add(*req, *ofRun)
	factories := map[string]metadatainformer.SharedInformerFactory{}
	for name, s := range map[string]labels.Selector{"own": sel, "pods": podSel, "jobs": jobSel} {
		factories[name] = metadatainformer.NewFilteredSharedInformerFactory(l.Client, 0, l.Namespace, func(o *metav1.ListOptions) {
			o.LabelSelector = s.String()
		})
	}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[item]())
	stores := map[schema.GroupVersionResource]cache.Store{}
	for _, gvr := range []schema.GroupVersionResource{rolloutsGVR, analysisRunsGVR, experimentsGVR, replicaSetsGVR, podsGVR, jobsGVR} {
		f := factories["own"]
		switch gvr {
		case replicaSetsGVR, podsGVR:
			f = factories["pods"]
		case jobsGVR:
			f = factories["jobs"]
		}
		inf := f.ForResource(gvr).Informer()
		add := func(o any) {
			if m, ok := o.(*metav1.PartialObjectMetadata); ok {
				q.Add(item{gvr: gvr, namespace: m.Namespace, name: m.Name})
			}
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, o any) { add(o) }}); err != nil {
			return fmt.Errorf("watching %s for the bucket label: %w", gvr.Resource, err)
		}
		stores[gvr] = inf.GetStore()
	}
	l.mu.Lock()
	l.queue, l.store = q, stores
	l.mu.Unlock()
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	for {
		it, shutdown := q.Get()
		if shutdown {
			for _, f := range factories {
				f.Shutdown()
			}
			return nil
		}
		if err := l.label(ctx, it); err != nil {
			l.Log.Info("labelling with the shard bucket failed, retrying", "resource", it.gvr.Resource,
				"namespace", it.namespace, "name", it.name, "error", err.Error())
			q.AddRateLimited(it)
		} else {
			q.Forget(it)
		}
		q.Done(it)
	}
}

// label patches one object's bucket label when its shard is held here.
func (l *Labeller) label(ctx context.Context, it item) error {
	obj, exists, err := l.store[it.gvr].GetByKey(it.namespace + "/" + it.name)
	if err != nil || !exists {
		return err
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || m.Labels[LabelBucket] != "" {
		return nil
	}
	bucket, err := l.bucketOf(ctx, it.gvr, m)
	if err != nil {
		return err
	}
	if !l.holds(bucket) {
		return nil
	}
	patch, err := json.Marshal(bucketPatch(it.gvr, m.ResourceVersion, bucket))
	if err != nil {
		return fmt.Errorf("encoding the bucket label: %w", err)
	}
	_, err = l.Client.Resource(it.gvr).Namespace(it.namespace).Patch(ctx, it.name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone, or changed since: the watch brings the newer version.
		return nil
	}
	if err != nil {
		return fmt.Errorf("labelling %s %s/%s: %w", it.gvr.Resource, it.namespace, it.name, err)
	}
	l.Log.V(1).Info("labelled with shard bucket", "resource", it.gvr.Resource, "namespace", it.namespace,
		"name", it.name, "bucket", bucket)
	return nil
}

// bucketPatch is the merge patch that gives an object its bucket. A
// ReplicaSet's Pod template gets the label as well, so the Pods it makes
// from now on are born with it. The ReplicaSet controller never replaces
// running Pods for a template change, and the pod-template hash label,
// which names the revision, stays as it is, so this restarts nothing. A
// Job's Pod template cannot change once the Job has started, so a Job gets
// the label on its metadata only; the controller never caches Job Pods.
func bucketPatch(gvr schema.GroupVersionResource, resourceVersion string, bucket int) map[string]any {
	lbl := map[string]string{LabelBucket: strconv.Itoa(bucket)}
	patch := map[string]any{"metadata": map[string]any{"resourceVersion": resourceVersion, "labels": lbl}}
	if gvr == replicaSetsGVR {
		patch["spec"] = map[string]any{"template": map[string]any{"metadata": map[string]any{"labels": lbl}}}
	}
	return patch
}

// bucketOf follows an object's controller owners up to its Rollout, or to
// the first owner that already has a bucket, or to itself when it has none.
// A Job goes by its AnalysisRun, and so lands with the run's Rollout or
// Experiment, or with a standalone run's own name.
// A ReplicaSet without a Rollout or Experiment controller (an orphan a
// Rollout may adopt) goes by its name: the controller names a Rollout's
// ReplicaSets <rollout>-<hash>, so it lands with the Rollout that made it.
func (l *Labeller) bucketOf(ctx context.Context, gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata) (int, error) {
	cur, curGVR := m, gvr
	for depth := 0; depth < 4; depth++ {
		if v := cur.Labels[LabelBucket]; v != "" && cur != m {
			b, err := strconv.Atoi(v)
			if err == nil && b >= 0 && b < Buckets {
				return b, nil
			}
		}
		ref := metav1.GetControllerOfNoCopy(cur)
		var next schema.GroupVersionResource
		switch {
		case ref != nil && isArgo(ref.APIVersion) && ref.Kind == "Rollout":
			return Bucket(cur.Namespace, ref.Name), nil
		case ref != nil && isArgo(ref.APIVersion) && ref.Kind == "Experiment":
			next = experimentsGVR
		case ref != nil && isArgo(ref.APIVersion) && ref.Kind == "AnalysisRun":
			next = analysisRunsGVR
		case ref != nil && curGVR == podsGVR && ref.APIVersion == "apps/v1" && ref.Kind == "ReplicaSet":
			next = replicaSetsGVR
		default:
			return ownBucket(curGVR, cur), nil
		}
		owner, err := l.Client.Resource(next).Namespace(cur.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return ownBucket(curGVR, cur), nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading owner %s %s/%s: %w", ref.Kind, cur.Namespace, ref.Name, err)
		}
		cur, curGVR = owner, next
	}
	return ownBucket(curGVR, cur), nil
}

// ownBucket is the bucket of an object with no owner to follow: its own
// name's, or for a ReplicaSet named <name>-<hash> that of <name>.
func ownBucket(gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata) int {
	name := m.Name
	if gvr == replicaSetsGVR {
		if h := m.Labels[podTemplateHashLabel]; h != "" {
			name = strings.TrimSuffix(name, "-"+h)
		}
	}
	return Bucket(m.Namespace, name)
}

func isArgo(apiVersion string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && gv.Group == "argoproj.io"
}
