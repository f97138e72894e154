package experiment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
	"github.com/kanaria-rollouts/kanaria/internal/collision"
	"github.com/kanaria-rollouts/kanaria/internal/experiment/decide"
	"github.com/kanaria-rollouts/kanaria/internal/requeue"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
	"github.com/kanaria-rollouts/kanaria/internal/statuspatch"
)

// EventSource is the component name on the Events the controller records,
// the reference's.
const EventSource = "rollouts-controller"

// Field indexes that narrow the cache to one Experiment's objects. They
// are the Experiment controller's own (an index name is registered once
// per kind), keyed by the controller's UID like the Rollout's.
const (
	indexReplicaSetOwner = "kanaria.experiment.replicaset.owner"
	indexServiceOwner    = "kanaria.experiment.service.owner"
	indexRunOwner        = "kanaria.experiment.analysisrun.owner"
)

// staleCacheRetry is when a reconcile that found the cache behind our own
// last status write looks again, should the watch event that normally
// brings the Experiment back be lost.
const staleCacheRetry = 200 * time.Millisecond

// Reconciler reconciles Experiments.
type Reconciler struct {
	// fresh tells a cached Experiment that predates our own status write.
	fresh cachefresh.Tracker
	// rsWrites tells cached ReplicaSets that predate our own patches.
	rsWrites cachefresh.Owned
	// held holds AnalysisRun names a create found held by a run that is
	// not the one it meant, which the cache may not show.
	held collision.Held
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads straight from the API server; nil means Client.
	APIReader client.Reader
	// Recorder records the Events of every decision.
	Recorder record.EventRecorder
	// Now is the clock; time.Now when nil. Tests replace it.
	Now func() time.Time
	// Wrap, when set, wraps the reconciler the controller runs, so the
	// manager can time each reconcile without this package knowing how.
	Wrap func(reconcile.Reconciler) reconcile.Reconciler
	// Sharded gives the ReplicaSets this controller creates, and so their
	// Pods, the Experiment's shard bucket label; off, they carry only the
	// reference's labels.
	Sharded bool
}

func controllerUID(o client.Object) []string {
	if ref := metav1.GetControllerOf(o); ref != nil {
		return []string{string(ref.UID)}
	}
	return nil
}

// SetupWithManager registers the reconciler, its indexes and its watches.
// ReplicaSets reach the cache only with the rollouts-pod-template-hash
// label (see rollout.CacheObjects); every Experiment ReplicaSet has it.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, workers int) error {
	idx := mgr.GetFieldIndexer()
	for _, x := range []struct {
		obj   client.Object
		name  string
		label string
	}{
		{&appsv1.ReplicaSet{}, indexReplicaSetOwner, "ReplicaSets"},
		{&corev1.Service{}, indexServiceOwner, "Services"},
		{&v1alpha1.AnalysisRun{}, indexRunOwner, "AnalysisRuns"},
	} {
		if err := idx.IndexField(ctx, x.obj, x.name, controllerUID); err != nil {
			return fmt.Errorf("indexing %s by owner: %w", x.label, err)
		}
	}
	err := ctrl.NewControllerManagedBy(mgr).
		Named("experiment").
		For(&v1alpha1.Experiment{}).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&corev1.Service{}).
		Owns(&v1alpha1.AnalysisRun{}, builder.WithPredicates(runVerdictChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r.runnable())
	if err != nil {
		return fmt.Errorf("building the Experiment controller: %w", err)
	}
	return nil
}

// runVerdictChanged passes the AnalysisRun events the Experiment's decision
// reads: a running analysis writes its status at every measurement, and
// only a change of phase or message (or of its spec, owners or deletion)
// can change what the Experiment decides.
var runVerdictChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		prev, ok1 := e.ObjectOld.(*v1alpha1.AnalysisRun)
		next, ok2 := e.ObjectNew.(*v1alpha1.AnalysisRun)
		if !ok1 || !ok2 {
			return true
		}
		return prev.Generation != next.Generation ||
			prev.Status.Phase != next.Status.Phase ||
			prev.Status.Message != next.Status.Message ||
			!prev.DeletionTimestamp.Equal(next.DeletionTimestamp) ||
			!maps.Equal(prev.Annotations, next.Annotations) ||
			!equality.Semantic.DeepEqual(prev.OwnerReferences, next.OwnerReferences)
	},
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile observes one Experiment, decides, acts and writes its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx).WithValues("experiment", req.NamespacedName.String())
	// Taken before the ReplicaSets are listed (see cachefresh.Look).
	rsLook := r.rsWrites.Look(req.NamespacedName)
	var ex v1alpha1.Experiment
	if err := r.Client.Get(ctx, req.NamespacedName, &ex); err != nil {
		r.fresh.Forget(req.NamespacedName)
		r.rsWrites.Forget(req.NamespacedName)
		r.held.Forget(req.NamespacedName)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.fresh.Stale(req.NamespacedName, ex.ResourceVersion) {
		// Deciding on a status older than our own last write would repeat
		// decisions (events, creates); the write's watch event brings the
		// Experiment back once the cache has it.
		return ctrl.Result{RequeueAfter: staleCacheRetry}, nil
	}
	api := r.APIReader
	if api == nil {
		api = r.Client
	}
	snap, err := observe(ctx, r.Client, api, &ex, r.now())
	if err != nil {
		return ctrl.Result{}, err
	}
	if r.Sharded {
		snap.ShardBucket = ex.Labels[shard.LabelBucket]
	}
	for name := range r.held.Names(req.NamespacedName, collision.KindAnalysisRun) {
		snap.TakenNames[decide.TakenRun(name)] = true
	}
	if len(cachefresh.Behind(rsLook, maps.Values(snap.ReplicaSets))) > 0 {
		// As above, for our patches of the ReplicaSets: their watch
		// events bring the Experiment back once the cache has them.
		return ctrl.Result{RequeueAfter: staleCacheRetry}, nil
	}
	plan := decide.Decide(snap)
	exec := &executor{c: r.Client, api: api, ex: &ex, log: logger, held: &r.held, rsVersions: map[string]string{}, rsWrites: &r.rsWrites}
	for _, rs := range snap.ReplicaSets {
		exec.rsVersions[rs.Name] = rs.ResourceVersion
	}
	if err := exec.apply(ctx, plan.Actions); err != nil {
		var held *collision.Error
		if errors.As(err, &held) {
			// The name is recorded: the next decision names the run past
			// it, and makes the status and events this one did not write.
			logger.Info("decided again", "reason", held.Kind+"NameTaken", "message", err.Error())
			return ctrl.Result{Requeue: true}, nil
		}
		return ctrl.Result{}, err
	}
	for _, e := range plan.Events {
		r.Recorder.Event(&ex, e.Type, e.Reason, e.Message)
		logger.Info("decided", "reason", e.Reason, "message", e.Message)
	}
	if !equality.Semantic.DeepEqual(ex.Status, plan.Status) {
		version, conflict, err := statuspatch.Write(ctx, r.Client, ex.DeepCopy(), ex.Status, &plan.Status)
		if err != nil {
			return ctrl.Result{}, err
		}
		if conflict {
			// A client (terminate, retry) changed the Experiment since we
			// read it: decide again on the new state.
			return ctrl.Result{Requeue: true}, nil
		}
		if version != ex.ResourceVersion {
			r.fresh.Wrote(req.NamespacedName, ex.ResourceVersion, version)
		}
		logger.V(1).Info("status written", "phase", plan.Status.Phase, "message", plan.Status.Message)
	}
	// The plan's delays count from the snapshot's time, not from now,
	// after the writes.
	return ctrl.Result{RequeueAfter: requeue.UntilDue(requeue.At(snap.Now, plan.RequeueAfter), r.now())}, nil
}

// runnable is what the controller runs: r, wrapped when Wrap is set.
func (r *Reconciler) runnable() reconcile.Reconciler {
	if r.Wrap != nil {
		return r.Wrap(r)
	}
	return r
}
