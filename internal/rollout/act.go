package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
	"github.com/kanaria-rollouts/kanaria/internal/clientlimit"
	"github.com/kanaria-rollouts/kanaria/internal/collision"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// executor applies a plan's writes, each as one patch, create or delete.
type executor struct {
	c client.Client
	// api reads from the API server what the cache does not hold.
	api client.Reader
	ro  *v1alpha1.Rollout
	log logr.Logger
	// routers are the Rollout's traffic routers, for SyncTraffic.
	routers []trafficrouting.Router
	// rsVersions are the cached resourceVersions of the Rollout's
	// ReplicaSets, by name, that its patches start from.
	rsVersions map[string]string
	// rsWrites and fresh learn of each patch so the next reconcile can tell
	// a cache that has not seen it yet.
	rsWrites *cachefresh.Owned
	// runWrites learns of each terminate patch of an AnalysisRun.
	runWrites *cachefresh.Owned
	fresh     *cachefresh.Tracker
	// rolloutVersion is the Rollout's resourceVersion as of the last write
	// of this reconcile (or as read, before any).
	rolloutVersion string
	// markUrgent gives the requests of the plan's urgent actions (traffic
	// back to stable) the urgent mark: at the client's rate limit they take
	// the next token ahead of every routine request waiting, so a burst of
	// other Rollouts' routine writes never delays them.
	markUrgent bool
	// taken learns of a ReplicaSet that holds the name of the Rollout's
	// next one; nil records nothing.
	taken *takenNames
	// held learns of AnalysisRun and Experiment names held by an object
	// that is not the one a create meant; nil records nothing.
	held *collision.Held
	// created learns of the objects the plan's creates made; nil records
	// nothing.
	created *createdNames
	// createdRun is the AnalysisRun the last write created, as the API
	// server returned it, for created.
	createdRun *v1alpha1.AnalysisRun
	// now is the time of the snapshot the writes were decided on.
	now time.Time
}

// patchReplicaSet patches a ReplicaSet of the Rollout and records the
// version the patch replaced, with the patched ReplicaSet for the passes
// that run before the cache has it.
func (e *executor) patchReplicaSet(ctx context.Context, name string, body map[string]any) error {
	patched := &appsv1.ReplicaSet{}
	if err := e.patch(ctx, patched, e.ro.Namespace, name, body); err != nil {
		return err
	}
	// A patch that changed nothing keeps the version; recording it would
	// make the cached copy look stale for ever.
	if from, ok := e.rsVersions[name]; ok && e.rsWrites != nil && patched.ResourceVersion != from {
		e.rsWrites.Wrote(client.ObjectKeyFromObject(e.ro), name, cachefresh.ReplacedBy(from, patched))
		e.rsVersions[name] = patched.ResourceVersion
	}
	return nil
}

// evict removes a Pod through the Eviction API, as the reference restarts
// Pods for spec.restartAt: a PodDisruptionBudget that forbids it (429) is
// not a failure of the plan, since the restart decides again on its next
// pass and the other writes must still be made.
func (e *executor) evict(ctx context.Context, ns string, a decide.EvictPod) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: a.Name}}
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: ns, Name: a.Name},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &a.UID}},
	}
	err := e.c.SubResource("eviction").Create(ctx, pod, ev)
	if apierrors.IsTooManyRequests(err) {
		e.log.Info("eviction refused", "pod", a.Name, "reason", err.Error())
		return nil
	}
	return ignoreNotFound(err)
}

// apply makes the writes in order and stops at the first failure: the next
// reconcile observes what did happen and decides again.
func (e *executor) apply(ctx context.Context, actions []decide.Action) error {
	return e.applyLanes(ctx, actions, 0)
}

// applyLanes is apply with the first urgent writes marked urgent.
func (e *executor) applyLanes(ctx context.Context, actions []decide.Action, urgent int) error {
	for i, a := range actions {
		if err := e.oneIn(ctx, a, i < urgent); err != nil {
			return fmt.Errorf("%s: %w", a.Describe(), err)
		}
		e.created.add(client.ObjectKeyFromObject(e.ro), a, e.createdRun, e.now)
		e.created.deleted(client.ObjectKeyFromObject(e.ro), a)
		e.createdRun = nil
		if i < urgent {
			e.log.Info("applied", "action", a.Describe(), "urgent", true)
		} else {
			e.log.Info("applied", "action", a.Describe())
		}
	}
	return nil
}

func (e *executor) one(ctx context.Context, a decide.Action) error {
	return e.oneIn(ctx, a, false)
}

// oneIn makes one write, marked urgent when urgent is true and the lane
// is on.
func (e *executor) oneIn(ctx context.Context, a decide.Action, urgent bool) error {
	ns := e.ro.Namespace
	if urgent && e.markUrgent {
		ctx = clientlimit.Urgent(ctx)
	}
	switch a := a.(type) {
	case decide.CreateReplicaSet:
		err := e.c.Create(ctx, a.ReplicaSet)
		if apierrors.IsAlreadyExists(err) {
			return e.alreadyExists(ctx, a.ReplicaSet.Name)
		}
		return err
	case decide.CreateConfigCopy:
		return e.createConfigCopy(ctx, a)
	case decide.OwnConfigCopy:
		return e.ownConfigCopy(ctx, a)
	case decide.ScaleReplicaSet:
		return e.patchReplicaSet(ctx, a.Name, map[string]any{"spec": map[string]any{"replicas": a.To}})
	case decide.PatchReplicaSet:
		body := map[string]any{}
		if len(a.Annotations) > 0 {
			body["metadata"] = map[string]any{"annotations": a.Annotations}
		}
		tm := map[string]any{}
		if len(a.TemplateLabels) > 0 {
			tm["labels"] = a.TemplateLabels
		}
		if len(a.TemplateAnnotations) > 0 {
			tm["annotations"] = a.TemplateAnnotations
		}
		if len(tm) > 0 {
			body["spec"] = map[string]any{"template": map[string]any{"metadata": tm}}
		}
		return e.patchReplicaSet(ctx, a.Name, body)
	case decide.AdoptReplicaSet:
		return e.adopt(ctx, a)
	case decide.DeleteReplicaSet:
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: a.Name}}
		return ignoreNotFound(e.c.Delete(ctx, rs, client.Preconditions{UID: &a.UID}))
	case decide.SyncTraffic:
		if len(a.Desired.Additional) > 0 {
			for _, r := range e.routers {
				if _, ok := r.(trafficrouting.AdditionalDestinations); !ok {
					return trafficrouting.Errorf(r.Type(), "cannot send traffic to an experiment's Services; only the alb, smi and istio routers can")
				}
			}
		}
		for _, r := range e.routers {
			if err := r.Sync(ctx, a.Desired); err != nil {
				return fmt.Errorf("%s router: %w", r.Type(), err)
			}
		}
		return nil
	case decide.CleanUpRouterObject:
		return e.cleanUpRouterObject(ctx, a.Leftover)
	case decide.SetServiceSelector:
		return e.patch(ctx, &corev1.Service{}, ns, a.Service, map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{v1alpha1.ManagedByRolloutsKey: e.ro.Name}},
			"spec":     map[string]any{"selector": map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: a.Hash}},
		})
	case decide.PatchPod:
		md := map[string]any{}
		if len(a.Labels) > 0 {
			md["labels"] = a.Labels
		}
		if len(a.Annotations) > 0 {
			md["annotations"] = a.Annotations
		}
		return ignoreNotFound(e.patch(ctx, &corev1.Pod{}, ns, a.Name, map[string]any{"metadata": md}))
	case decide.EvictPod:
		return e.evict(ctx, ns, a)
	case decide.ScaleDeployment:
		return e.patch(ctx, &appsv1.Deployment{}, ns, a.Name, map[string]any{"spec": map[string]any{"replicas": a.To}})
	case decide.SetRolloutRevision:
		return e.annotateRollout(ctx, v1alpha1.RevisionAnnotation, a.Revision)
	case decide.AnnotateRollout:
		return e.annotateRollout(ctx, a.Key, a.Value)
	case decide.CreateAnalysisRun:
		run := a.Run.DeepCopy()
		err := e.c.Create(ctx, run)
		if apierrors.IsAlreadyExists(err) {
			return e.runExists(ctx, a.Run)
		}
		if err == nil {
			e.createdRun = run
		}
		return err
	case decide.TerminateAnalysisRun:
		return e.terminateRun(ctx, a.Name)
	case decide.DeleteAnalysisRun:
		run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: a.Name}}
		return ignoreNotFound(e.c.Delete(ctx, run, client.Preconditions{UID: &a.UID}))
	case decide.CreateExperiment:
		err := e.c.Create(ctx, a.Experiment.DeepCopy())
		if apierrors.IsAlreadyExists(err) {
			return e.experimentExists(ctx, a.Experiment)
		}
		return err
	case decide.TerminateExperiment:
		return ignoreNotFound(e.patch(ctx, &v1alpha1.Experiment{}, ns, a.Name, map[string]any{"spec": map[string]any{"terminate": true}}))
	case decide.DeleteExperiment:
		ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: a.Name}}
		return ignoreNotFound(e.c.Delete(ctx, ex, client.Preconditions{UID: &a.UID}))
	default:
		return fmt.Errorf("unknown action %T", a)
	}
}

// terminateRun asks an AnalysisRun to stop and records the generation the
// request produced, so a reconcile whose cache predates it does not ask
// again.
func (e *executor) terminateRun(ctx context.Context, name string) error {
	patched := &v1alpha1.AnalysisRun{}
	err := e.patch(ctx, patched, e.ro.Namespace, name, map[string]any{"spec": map[string]any{"terminate": true}})
	if err != nil {
		return ignoreNotFound(err)
	}
	if e.runWrites != nil {
		e.runWrites.Wrote(client.ObjectKeyFromObject(e.ro), name, cachefresh.Produced(patched.Generation))
	}
	return nil
}

// alreadyExists tells a ReplicaSet the cache had not shown yet from our own
// earlier create (fine) from one that is not the Rollout's. The cache cannot
// show every such ReplicaSet (see takenNames), and retrying the create in
// silence would wait for ever: the holder is recorded for the next
// decision, which moves to another name as it would have had it seen the
// ReplicaSet.
func (e *executor) alreadyExists(ctx context.Context, name string) error {
	if e.api == nil {
		return nil
	}
	var rs appsv1.ReplicaSet
	if err := e.api.Get(ctx, client.ObjectKey{Namespace: e.ro.Namespace, Name: name}, &rs); err != nil {
		return fmt.Errorf("reading the existing ReplicaSet %s: %w", name, err)
	}
	ref := metav1.GetControllerOf(&rs)
	if ref != nil && ref.UID == e.ro.UID {
		return nil
	}
	if ref == nil && rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != "" {
		// An orphan the cache will show, once a sharded replica's labeller
		// has given it its bucket: the decision may adopt it then, so it
		// must not be taken for a collision now.
		return fmt.Errorf("ReplicaSet %s exists without a controller and is not in the cache yet", name)
	}
	if e.taken != nil {
		e.taken.record(client.ObjectKeyFromObject(e.ro), &rs)
	}
	return &collision.Error{Kind: collision.KindReplicaSet, Name: name, By: collision.HolderOf(&rs)}
}

// runExists tells the run a create meant from another holding its name, as
// the reference does when its create collides: our own earlier create that
// the cache has not shown yet (same controller, still running, the same
// metrics and arguments) is taken as created. Any other holder (another
// owner's run, one left by a deleted Rollout of the same name, our own run
// of this revision that already finished) is recorded for the next
// decision, which names the run base.1, base.2, ... past it.
func (e *executor) runExists(ctx context.Context, want *v1alpha1.AnalysisRun) error {
	var existing v1alpha1.AnalysisRun
	if err := e.reader().Get(ctx, client.ObjectKeyFromObject(want), &existing); err != nil {
		return fmt.Errorf("reading the existing AnalysisRun %s: %w", want.Name, err)
	}
	if collision.RunIsOurs(want, &existing) {
		return nil
	}
	return e.nameHeld(collision.KindAnalysisRun, want, &existing)
}

// experimentExists is runExists for an experiment step's Experiment, whose
// next names are base-1, base-2, ...
func (e *executor) experimentExists(ctx context.Context, want *v1alpha1.Experiment) error {
	var existing v1alpha1.Experiment
	if err := e.reader().Get(ctx, client.ObjectKeyFromObject(want), &existing); err != nil {
		return fmt.Errorf("reading the existing Experiment %s: %w", want.Name, err)
	}
	if collision.ExperimentIsOurs(want, &existing) {
		return nil
	}
	return e.nameHeld(collision.KindExperiment, want, &existing)
}

// nameHeld records that holder keeps want's name from the Rollout and
// returns the error that ends the pass.
func (e *executor) nameHeld(kind string, want, holder metav1.Object) error {
	if e.held != nil {
		e.held.Record(client.ObjectKeyFromObject(e.ro), want.GetLabels()[v1alpha1.DefaultRolloutUniqueLabelKey], kind, want.GetName())
	}
	return &collision.Error{Kind: kind, Name: want.GetName(), By: collision.HolderOf(holder)}
}

// reader reads from the API server when the executor has a reader for it.
func (e *executor) reader() client.Reader {
	if e.api != nil {
		return e.api
	}
	return e.c
}

// adopt makes the Rollout the controller of an orphan. A merge patch replaces
// the whole owner list, so the patch carries the orphan's other owners as
// observed and its uid and resourceVersion as preconditions: the API server
// refuses it (Conflict) if anything changed since, such as another
// controller adopting it, rather than overwriting that change.
func (e *executor) adopt(ctx context.Context, a decide.AdoptReplicaSet) error {
	refs := make([]metav1.OwnerReference, 0, len(a.OwnerReferences)+1)
	for _, r := range a.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return fmt.Errorf("ReplicaSet %s already has a controller (%s %s)", a.Name, r.Kind, r.Name)
		}
		refs = append(refs, r)
	}
	refs = append(refs, *metav1.NewControllerRef(e.ro, v1alpha1.GroupVersion.WithKind("Rollout")))
	md := map[string]any{"uid": a.UID, "ownerReferences": refs}
	if a.ResourceVersion != "" {
		md["resourceVersion"] = a.ResourceVersion
	}
	return e.patch(ctx, &appsv1.ReplicaSet{}, e.ro.Namespace, a.Name, map[string]any{"metadata": md})
}

// patch sends a JSON merge patch; nil map values in body remove keys.
func (e *executor) patch(ctx context.Context, obj client.Object, ns, name string, body map[string]any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding patch: %w", err)
	}
	obj.SetNamespace(ns)
	obj.SetName(name)
	return e.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, b))
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// annotateRollout patches one annotation of the Rollout, chained to the
// status write before it: a cache that has the status but not the
// annotation would patch the annotation again.
func (e *executor) annotateRollout(ctx context.Context, key, value string) error {
	patched := &v1alpha1.Rollout{}
	if err := e.patch(ctx, patched, e.ro.Namespace, e.ro.Name, map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{key: value},
	}}); err != nil {
		return err
	}
	if e.fresh != nil && patched.ResourceVersion != e.rolloutVersion {
		e.fresh.WroteCopy(client.ObjectKeyFromObject(e.ro), e.rolloutVersion, patched)
		e.rolloutVersion = patched.ResourceVersion
	}
	return nil
}
