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
// replica caches only its shards'. It labels only what belongs to its own
// controller instance, never another controller's or instance's objects. It watches metadata only and only objects
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
	// Workers is how many objects are labelled at once (DefaultLabelWorkers
	// when 0). A burst of created Rollouts waits here before any replica
	// caches them, so one patch at a time would pace the whole burst.
	Workers int

	mu   sync.Mutex
	held map[int]bool
	// orphans lists, by namespace/name of a Rollout that does not exist
	// yet, the orphan ReplicaSets named after it.
	orphans map[string]map[string]bool
	queue   workqueue.TypedRateLimitingInterface[item]
	store   map[schema.GroupVersionResource]cache.Store
}

// DefaultLabelWorkers is the labeller's concurrency when Workers is 0.
const DefaultLabelWorkers = 16

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
	// ReplicaSets, Pods and Jobs carry no instance id: the hash label (for
	// Jobs their run's uid) narrows the watch to candidates, and bucketOf
	// decides from their owners whether they are this instance's.
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
	workers := l.Workers
	if workers <= 0 {
		workers = DefaultLabelWorkers
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.work(ctx, q)
		}()
	}
	wg.Wait()
	for _, f := range factories {
		f.Shutdown()
	}
	return nil
}

// work labels queued objects until the queue shuts down. The queue hands an
// object to one worker at a time.
func (l *Labeller) work(ctx context.Context, q workqueue.TypedRateLimitingInterface[item]) {
	for {
		it, shutdown := q.Get()
		if shutdown {
			return
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
	if it.gvr == rolloutsGVR {
		l.wake(it.namespace, it.name)
	}
	bucket, ours, err := l.bucketOf(ctx, it.gvr, m)
	if err != nil {
		return err
	}
	if !ours {
		l.Log.V(1).Info("not labelling an object of another controller or instance", "resource", it.gvr.Resource,
			"namespace", it.namespace, "name", it.name)
		return nil
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

// maxOwnerHops bounds the walk up controller owners; the longest chain the
// controller makes is Pod, ReplicaSet, Experiment, Rollout.
const maxOwnerHops = 5

// bucketOf follows an object's controller owners up to the Rollout,
// Experiment or AnalysisRun it belongs to, and says whether that chain
// reaches only objects of this controller's instance. Only then does the
// object get a bucket: a ReplicaSet or Pod of a Deployment or of any other
// controller, and anything under a Rollout, Experiment or AnalysisRun of
// another controller instance (the instance-id label), is someone else's to
// leave alone, and so is an object whose owner is gone (the garbage
// collector removes it). Every Rollout, Experiment and AnalysisRun on the
// way must match the instance selector, since each of them is read anyway.
//
// The bucket is the nearest owner's bucket label when one has it, else that
// of the Rollout the chain ends at, or of a standalone run or Experiment.
// A Job goes by its AnalysisRun, and so lands with the run's Rollout or
// Experiment, or with a standalone run's own name.
//
// A ReplicaSet without a controller (an orphan, which the Rollout of its
// name may adopt) gets a bucket only when a Rollout named as the name
// before its -<hash> suffix exists in its namespace and is this instance's:
// the controller names a Rollout's ReplicaSets <rollout>-<hash>, and the
// Rollout's replica must cache the orphan to adopt it. An orphan whose
// Rollout does not exist yet is looked at again when that Rollout first
// comes to the labeller.
func (l *Labeller) bucketOf(ctx context.Context, gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata) (int, bool, error) {
	nearest := -1
	cur, curGVR := m, gvr
	for hop := 0; hop < maxOwnerHops; hop++ {
		if isArgoResource(curGVR) && !l.ofInstance(cur) {
			return 0, false, nil
		}
		if cur != m && nearest < 0 {
			if b, ok := parseBucket(cur.Labels[LabelBucket]); ok {
				nearest = b
			}
		}
		if curGVR == rolloutsGVR {
			return pick(nearest, Bucket(cur.Namespace, cur.Name)), true, nil
		}
		ref := metav1.GetControllerOfNoCopy(cur)
		var next schema.GroupVersionResource
		switch {
		case ref != nil && isArgo(ref.APIVersion) && ref.Kind == "Rollout":
			next = rolloutsGVR
		case ref != nil && isArgo(ref.APIVersion) && ref.Kind == "Experiment":
			next = experimentsGVR
		case ref != nil && isArgo(ref.APIVersion) && ref.Kind == "AnalysisRun":
			next = analysisRunsGVR
		case ref != nil && curGVR == podsGVR && ref.APIVersion == "apps/v1" && ref.Kind == "ReplicaSet":
			next = replicaSetsGVR
		case isArgoResource(curGVR):
			// A standalone run or Experiment (or one some other kind
			// controls) is its own root.
			return pick(nearest, Bucket(cur.Namespace, cur.Name)), true, nil
		case ref == nil && curGVR == replicaSetsGVR:
			return l.orphanBucket(ctx, cur, nearest)
		default:
			// Another controller's object (a Deployment's ReplicaSet, a
			// Pod or Job of something else), or a Pod or Job nothing
			// controls.
			return 0, false, nil
		}
		owner, err := l.Client.Resource(next).Namespace(cur.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("reading owner %s %s/%s: %w", ref.Kind, cur.Namespace, ref.Name, err)
		}
		if owner.UID != ref.UID {
			// The owner was deleted and another took its name.
			return 0, false, nil
		}
		cur, curGVR = owner, next
	}
	return 0, false, nil
}

// orphanBucket is the bucket of a ReplicaSet without a controller, when the
// Rollout it is named after exists and is this instance's. When that
// Rollout is missing, the orphan waits for it (see wake).
func (l *Labeller) orphanBucket(ctx context.Context, rs *metav1.PartialObjectMetadata, nearest int) (int, bool, error) {
	h := rs.Labels[podTemplateHashLabel]
	name := strings.TrimSuffix(rs.Name, "-"+h)
	if h == "" || name == rs.Name || name == "" {
		return 0, false, nil
	}
	// The orphan is registered before the read: a Rollout created after
	// the read reaches another worker, whose wake must find it.
	l.await(rs.Namespace, name, rs.Name)
	ro, err := l.Client.Resource(rolloutsGVR).Namespace(rs.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, false, nil
	}
	l.unawait(rs.Namespace, name, rs.Name)
	if err != nil {
		return 0, false, fmt.Errorf("reading Rollout %s/%s for orphan ReplicaSet %s: %w", rs.Namespace, name, rs.Name, err)
	}
	if !l.ofInstance(ro) {
		return 0, false, nil
	}
	return pick(nearest, Bucket(rs.Namespace, name)), true, nil
}

// await remembers an orphan ReplicaSet whose Rollout does not exist yet.
func (l *Labeller) await(namespace, rollout, replicaSet string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := namespace + "/" + rollout
	if l.orphans == nil {
		l.orphans = map[string]map[string]bool{}
	}
	if l.orphans[key] == nil {
		l.orphans[key] = map[string]bool{}
	}
	l.orphans[key][replicaSet] = true
}

// unawait forgets an orphan ReplicaSet that no longer waits for its
// Rollout.
func (l *Labeller) unawait(namespace, rollout, replicaSet string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := namespace + "/" + rollout
	delete(l.orphans[key], replicaSet)
	if len(l.orphans[key]) == 0 {
		delete(l.orphans, key)
	}
}

// wake queues again the orphan ReplicaSets that waited for a Rollout.
func (l *Labeller) wake(namespace, rollout string) {
	l.mu.Lock()
	key := namespace + "/" + rollout
	waiting, q := l.orphans[key], l.queue
	delete(l.orphans, key)
	l.mu.Unlock()
	if q == nil {
		return
	}
	for name := range waiting {
		q.Add(item{gvr: replicaSetsGVR, namespace: namespace, name: name})
	}
}

// ofInstance says whether a Rollout, AnalysisRun or Experiment is this
// controller instance's.
func (l *Labeller) ofInstance(m *metav1.PartialObjectMetadata) bool {
	return l.Selector == nil || l.Selector.Matches(labels.Set(m.Labels))
}

// parseBucket reads a bucket label value, refusing one out of range.
func parseBucket(v string) (int, bool) {
	if v == "" {
		return 0, false
	}
	b, err := strconv.Atoi(v)
	if err != nil || b < 0 || b >= Buckets {
		return 0, false
	}
	return b, true
}

// pick is the nearest owner's bucket when there was one, else fallback.
func pick(nearest, fallback int) int {
	if nearest >= 0 {
		return nearest
	}
	return fallback
}

func isArgoResource(gvr schema.GroupVersionResource) bool {
	return gvr.Group == "argoproj.io"
}

func isArgo(apiVersion string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && gv.Group == "argoproj.io"
}
