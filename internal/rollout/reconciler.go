package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
	"github.com/kanaria-rollouts/kanaria/internal/collision"
	"github.com/kanaria-rollouts/kanaria/internal/notify"
	"github.com/kanaria-rollouts/kanaria/internal/requeue"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/validation"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
	"github.com/kanaria-rollouts/kanaria/internal/statuspatch"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routerclient"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routers"
)

// EventSource is the component name on the Events the controller records.
const EventSource = "rollouts-controller"

// Field indexes that map a Service or a Deployment to the Rollouts that name
// it, and a Rollout to its ReplicaSets, their Pods and its AnalysisRuns.
const (
	indexServices  = "kanaria.rollout.services"
	indexWorkload  = "kanaria.rollout.workload"
	indexTemplates = "kanaria.rollout.templates"
	// indexOwner keys a ReplicaSet by its controller's UID, or ownerNone.
	indexOwner = "kanaria.replicaset.owner"
	// indexRunOwner keys an AnalysisRun by its controller's UID.
	indexRunOwner = "kanaria.analysisrun.owner"
	// indexExperimentOwner keys an Experiment by its controller's UID.
	indexExperimentOwner = "kanaria.experiment.owner"
	// indexPodHash keys a Pod by its pod-template hash.
	indexPodHash = "kanaria.pod.hash"
	// ownerNone is the indexOwner key of ReplicaSets without a controller,
	// which a Rollout may adopt.
	ownerNone = "none"
)

// CacheObjects limits the controller's caches of ReplicaSets and Pods to the
// ones that carry a pod-template hash label, i.e. that belong to Rollouts, so
// the controller does not hold every Pod of the cluster in memory. With
// shards, shardSel narrows them further to the held shards' buckets, which
// ReplicaSets and Pods carry as their Rollout's (or Experiment's) label.
func CacheObjects(shardSel *labels.Requirement) (map[client.Object]cache.ByObject, error) {
	req, err := labels.NewRequirement(v1alpha1.DefaultRolloutUniqueLabelKey, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("building the cache selector: %w", err)
	}
	sel := labels.NewSelector().Add(*req)
	if shardSel != nil {
		sel = sel.Add(*shardSel)
	}
	return map[client.Object]cache.ByObject{
		&appsv1.ReplicaSet{}: {Label: sel},
		&corev1.Pod{}:        {Label: sel},
	}, nil
}

// staleCacheRetry is when a reconcile that found the cache behind our own
// last write looks again. The write's own watch event brings the Rollout
// back as soon as the cache has it (an informer delivers every change it
// sees, and a relist delivers the latest version), so this is only a
// safety net, kept long so that a Rollout does not poll its cache while a
// busy API server is slow to send that event.
const staleCacheRetry = 2 * time.Second

// continueAfter is the requeue of a pass that made only its traffic
// writes. Any positive delay makes it a plain requeue rather than a
// rate-limited one, whose shared token bucket would hold a burst of aborts
// for seconds; the work queue queues a continued key at once (see
// laneQueue.AddWithOpts), so the value itself is never waited out.
const continueAfter = time.Millisecond

// Reconciler reconciles Rollouts.
type Reconciler struct {
	// rolloutMemory is what the reconciler keeps per Rollout across
	// reconciles; forgetRollout drops all of it when the Rollout is gone.
	rolloutMemory
	// ingressEvents drops the Ingress copies as the cache catches up.
	ingressEvents *ingressEvents
	// ownedCopies are the ReplicaSets whose configuration copies are known
	// to be theirs.
	ownedCopies ownedCopies
	// absentKinds spares the leftover search a discovery request per
	// Rollout for router kinds the cluster does not serve.
	absentKinds trafficrouting.AbsentKinds
	// workloads starts the Deployment watch when a Rollout first needs it.
	workloads *workloadWatch
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads straight from the API server; traffic routers read
	// their custom resources with it (and Ingresses our cache lags on) so
	// no informer starts for kinds a cluster may not serve. Nil means
	// Client.
	APIReader client.Reader
	// Routers are the controller-wide traffic router settings.
	Routers routers.Options
	// Recorder records the Events of every decision.
	Recorder record.EventRecorder
	// Notifier announces decisions to the notification services users
	// subscribed to; nil sends none.
	Notifier notify.Sink
	// Now is the clock; time.Now when nil. Tests replace it.
	Now func() time.Time
	// Wrap, when set, wraps the reconciler the controller runs, so the
	// manager can time each reconcile without this package knowing how.
	Wrap func(reconcile.Reconciler) reconcile.Reconciler
	// Owns tells whether this controller acts on the Rollout of a key; nil
	// means every one. With shards, ReplicaSet events also bring keys of
	// Rollouts that another replica holds, which this cache never has.
	Owns func(types.NamespacedName) bool
	// Sharded gives the ReplicaSets this controller creates, and so their
	// Pods, the Rollout's shard bucket label; off, they carry only the
	// reference's labels.
	Sharded bool
	// NoClusterTemplateWatch leaves out the watch of ClusterAnalysisTemplates,
	// for a controller that may not list them cluster-wide; it reads each
	// one it needs at every reconcile instead, so a changed template is
	// seen at the Rollout's next reconcile rather than at once.
	NoClusterTemplateWatch bool
	// NoPriority turns the priority lane off: one first-in first-out work
	// queue, and urgent writes without the urgent mark. It exists to
	// measure what the lane is worth.
	NoPriority bool
	// UrgentWorkers is how many of the controller's workers take first
	// moves only (see firstMovePriority), so an abort's traffic write never
	// waits for routine reconciles, or those finishing other aborts, to
	// end. At least one worker always takes routine items.
	UrgentWorkers int
	// settled tells the work queue which keys' last reconcile acted on its
	// decision, so an urgent key's requeue goes back to routine work.
	settled *settledKeys[reconcile.Request]
	// continued tells the work queue which keys' last reconcile made only
	// its traffic writes, so their requeue is urgent work.
	continued *settledKeys[reconcile.Request]
	// timed tells the work queue which keys' requeue is for a time their
	// decision set, so it goes ahead of routine watch events when due.
	timed *settledKeys[reconcile.Request]
}

// SetupWithManager registers the reconciler and its watches with mgr.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, workers int) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, indexServices, func(o client.Object) []string {
		return validation.ServiceNames(o.(*v1alpha1.Rollout))
	}); err != nil {
		return fmt.Errorf("indexing Rollouts by Service: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, indexWorkload, func(o client.Object) []string {
		if ref := o.(*v1alpha1.Rollout).Spec.WorkloadRef; ref != nil && ref.Name != "" {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing Rollouts by workload: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, indexTemplates, func(o client.Object) []string {
		var keys []string
		for _, r := range decide.TemplateRefs(o.(*v1alpha1.Rollout)) {
			keys = append(keys, templateKey(r.Name, r.ClusterScope))
		}
		return keys
	}); err != nil {
		return fmt.Errorf("indexing Rollouts by analysis template: %w", err)
	}
	if err := idx.IndexField(ctx, &appsv1.ReplicaSet{}, indexOwner, func(o client.Object) []string {
		if ref := metav1.GetControllerOf(o); ref != nil {
			return []string{string(ref.UID)}
		}
		return []string{ownerNone}
	}); err != nil {
		return fmt.Errorf("indexing ReplicaSets by owner: %w", err)
	}
	// Without it every reconcile copied every AnalysisRun of the namespace
	// out of the cache to find its own: over a quarter of the controller's CPU
	// with 200 analysed Rollouts in one namespace.
	if err := idx.IndexField(ctx, &v1alpha1.AnalysisRun{}, indexRunOwner, func(o client.Object) []string {
		if ref := metav1.GetControllerOf(o); ref != nil {
			return []string{string(ref.UID)}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing AnalysisRuns by owner: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Experiment{}, indexExperimentOwner, func(o client.Object) []string {
		if ref := metav1.GetControllerOf(o); ref != nil {
			return []string{string(ref.UID)}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing Experiments by owner: %w", err)
	}
	if err := idx.IndexField(ctx, &corev1.Pod{}, indexPodHash, func(o client.Object) []string {
		if h, ok := o.GetLabels()[v1alpha1.DefaultRolloutUniqueLabelKey]; ok {
			return []string{h}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing Pods by pod-template hash: %w", err)
	}
	rolloutEvents := []predicate.Predicate{notSuperseded(&r.fresh), countEvents("rollout")}
	runEvents := []predicate.Predicate{runDecisionChanged, countEvents("analysisrun")}
	if !r.NoPriority {
		// The urgent handlers below queue these at the urgent priority.
		rolloutEvents = append([]predicate.Predicate{notUrgentRollout}, rolloutEvents...)
		runEvents = append([]predicate.Predicate{notUrgentRun}, runEvents...)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("rollout").
		For(&v1alpha1.Rollout{}, builder.WithPredicates(rolloutEvents...)).
		Owns(&appsv1.ReplicaSet{}, builder.WithPredicates(countEvents("replicaset"))).
		Owns(&v1alpha1.AnalysisRun{}, builder.WithPredicates(runEvents...)).
		Owns(&v1alpha1.Experiment{}, builder.WithPredicates(experimentDecisionChanged, countEvents("experiment"))).
		Watches(&v1alpha1.AnalysisTemplate{}, handler.EnqueueRequestsFromMapFunc(r.byTemplate(false)), builder.WithPredicates(countEvents("analysistemplate"))).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.byIndex(indexServices)), builder.WithPredicates(countEvents("service")))
	if !r.NoClusterTemplateWatch {
		b = b.Watches(&v1alpha1.ClusterAnalysisTemplate{}, handler.EnqueueRequestsFromMapFunc(r.byTemplate(true)), builder.WithPredicates(countEvents("clusteranalysistemplate")))
	}
	opts := controller.Options{MaxConcurrentReconciles: workers, UsePriorityQueue: ptr.To(false)}
	if !r.NoPriority {
		// Aborts, rollbacks and failed runs go ahead of routine work.
		b = b.WatchesRawSource(source.Kind(mgr.GetCache(), &v1alpha1.Rollout{}, urgentRolloutHandler)).
			WatchesRawSource(source.Kind(mgr.GetCache(), &v1alpha1.AnalysisRun{}, urgentRunHandler))
		r.settled = &settledKeys[reconcile.Request]{}
		r.continued = &settledKeys[reconcile.Request]{}
		r.timed = &settledKeys[reconcile.Request]{}
		opts.UsePriorityQueue = ptr.To(true)
		opts.NewQueue = func(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
			q := newLaneQueue(name, rl, workers, r.UrgentWorkers, r.settled, r.continued)
			q.timed = r.timed
			return q
		}
	}
	c, err := b.WithOptions(opts).Build(r.runnable())
	if err != nil {
		return fmt.Errorf("building the Rollout controller: %w", err)
	}
	r.ingressEvents = &ingressEvents{cache: mgr.GetCache(), handler: r.ingressCopies.Handler()}
	// Our writes' own watch events end what the trackers keep of them, so
	// an idle Rollout keeps nothing once the cache has its last write,
	// whether or not a reconcile follows that event.
	for _, w := range []struct {
		obj     client.Object
		handler toolscache.ResourceEventHandler
	}{
		{&v1alpha1.Rollout{}, r.fresh.Handler()},
		{&appsv1.ReplicaSet{}, r.rsWrites.Handler()},
		{&v1alpha1.AnalysisRun{}, r.runWrites.Handler()},
	} {
		if err := addInformerHandler(ctx, mgr.GetCache(), w.obj, w.handler); err != nil {
			return err
		}
	}
	// Deployments are watched from the first Rollout with a workloadRef on.
	r.workloads = &workloadWatch{ctrl: c, cache: mgr.GetCache(),
		handler: handler.EnqueueRequestsFromMapFunc(r.byIndex(indexWorkload))}
	return nil
}

// byIndex maps an object to the Rollouts of its namespace that name it.
func (r *Reconciler) byIndex(index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.rolloutsMatching(ctx, o, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: o.GetName()})
	}
}

// rolloutsMatching lists the Rollouts the options select as requests.
func (r *Reconciler) rolloutsMatching(ctx context.Context, o client.Object, opts ...client.ListOption) []reconcile.Request {
	var list v1alpha1.RolloutList
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		log.FromContext(ctx).Error(err, "mapping to Rollouts", "object", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, ro := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ro)})
	}
	return reqs
}

// templateKey is the index key of a template reference.
func templateKey(name string, cluster bool) string {
	if cluster {
		return "cluster/" + name
	}
	return "namespace/" + name
}

// byTemplate maps a (Cluster)AnalysisTemplate to the Rollouts that name it
// directly, so a template created after its Rollout clears the InvalidSpec.
func (r *Reconciler) byTemplate(cluster bool) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		opts := []client.ListOption{client.MatchingFields{indexTemplates: templateKey(o.GetName(), cluster)}}
		if !cluster {
			opts = append(opts, client.InNamespace(o.GetNamespace()))
		}
		return r.rolloutsMatching(ctx, o, opts...)
	}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile observes one Rollout, decides, and acts.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx).WithValues("rollout", req.NamespacedName.String())
	outcome := passError
	defer func() { countPass(outcome) }()
	// What the trackers know is taken before the cache is read: their
	// informer handlers end an entry once the cache has its write, which
	// may happen while this pass reads, and a copy read before that event
	// would then look current.
	freshLook := r.fresh.Look(req.NamespacedName)
	rsLook := r.rsWrites.Look(req.NamespacedName)
	runLook := r.runWrites.Look(req.NamespacedName)
	var ro v1alpha1.Rollout
	if err := r.Client.Get(ctx, req.NamespacedName, &ro); err != nil {
		if apierrors.IsNotFound(err) {
			outcome = passGone
			if r.Owns == nil || r.Owns(req.NamespacedName) {
				// What the Rollout's memory holds goes once the search
				// for what it left is done: its Ingress copies tell the
				// search that the cache may lag its last Ingress writes.
				if err := r.cleanUpAfterDeletion(ctx, req.NamespacedName, logger); err != nil {
					return ctrl.Result{}, err
				}
			}
			r.forgetRollout(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		r.forgetRollout(req.NamespacedName)
		return ctrl.Result{}, err
	}
	if freshLook.Stale(ro.ResourceVersion) {
		// The cache has not seen our own last write yet. Deciding on the
		// older status would repeat decisions (create a second
		// AnalysisRun, record an event twice), so the pass goes on from the
		// Rollout as that write returned it, which is newer than the cache's
		// copy; a busy API server can take seconds to send the write's
		// watch event, and a timed step (a pause's end) would wait for it.
		// Without that copy (the write's result was not kept, or a conflict
		// dropped it) the write's watch event brings the Rollout back as
		// soon as the cache catches up.
		written, ok := freshLook.Written(ro.ResourceVersion)
		if !ok {
			outcome = passStaleRollout
			logger.V(1).Info("cache behind own write", "object", "Rollout", "cachedVersion", ro.ResourceVersion)
			return ctrl.Result{RequeueAfter: staleCacheRetry}, nil
		}
		logger.V(1).Info("deciding on own written copy", "object", "Rollout", "cachedVersion", ro.ResourceVersion, "writtenVersion", written.GetResourceVersion())
		writtenReads.WithLabelValues("rollout").Inc()
		ro = *written.(*v1alpha1.Rollout).DeepCopy()
	}
	// A cache that holds our last write or a later one has had Stale end
	// what fresh kept of it, copy and all; what passes created stays, as
	// the other kinds' caches may still lack it (see createdNames).
	if err := r.workloads.ensure(&ro); err != nil {
		return ctrl.Result{}, err
	}
	var api client.Reader
	if configsnap.Enabled(ro.Annotations) {
		api = r.APIReader
		if api == nil {
			api = r.Client
		}
	}
	snap, err := observe(ctx, r.Client, api, &r.ownedCopies, &r.taken, &ro, r.now())
	if err != nil {
		return ctrl.Result{}, err
	}
	snap.HeldRunNames = r.held.Names(req.NamespacedName, collision.KindAnalysisRun)
	snap.HeldExperimentNames = r.held.Names(req.NamespacedName, collision.KindExperiment)
	if r.Sharded {
		snap.ShardBucket = ro.Labels[shard.LabelBucket]
	}
	// The status may name an object a pass created that the cache does
	// not hold yet, whether it is our written copy or the cache's: deciding
	// without it would create it again. A created AnalysisRun is decided
	// on as its create returned it; for any other object the pass waits,
	// and its watch event brings the Rollout back.
	if missing, filled := r.created.fill(req.NamespacedName, &snap); len(missing) > 0 {
		outcome = passStaleRollout
		logger.V(1).Info("cache behind own create", "object", "Rollout", "missing", missing)
		return ctrl.Result{RequeueAfter: staleCacheRetry}, nil
	} else if filled > 0 {
		logger.V(1).Info("deciding on own created copy", "object", "AnalysisRun", "count", filled)
		writtenReads.WithLabelValues("analysisrun").Add(float64(filled))
	}
	if behind := cachefresh.Behind(rsLook, slices.Values(snap.ReplicaSets)); len(behind) > 0 {
		// As above, for the ReplicaSets: the pass goes on from the
		// ReplicaSets as our patches returned them, or, without them,
		// their watch events bring the Rollout back once the cache has
		// our last patches.
		if !useWrittenReplicaSets(rsLook, &snap, behind) {
			outcome = passStaleReplicaSets
			logger.V(1).Info("cache behind own write", "object", "ReplicaSet", "names", slices.Sorted(maps.Keys(behind)))
			return ctrl.Result{RequeueAfter: staleCacheRetry}, nil
		}
		logger.V(1).Info("deciding on own written copy", "object", "ReplicaSet", "names", slices.Sorted(maps.Keys(behind)))
		writtenReads.WithLabelValues("replicaset").Add(float64(len(behind)))
	}
	trafficRouters, routerWrites, err := r.observeTraffic(ctx, &ro, &snap)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.observeRouterLeftovers(ctx, &ro, &snap); err != nil {
		return ctrl.Result{}, err
	}
	plan := decide.Decide(snap)

	actions, after := splitAfterStatus(plan.Actions)
	after = unsentTerminates(after, cachefresh.Behind(runLook, slices.Values(snap.AnalysisRuns)))
	exec := &executor{
		c: r.Client, api: r.APIReader, ro: &ro, log: logger, routers: trafficRouters,
		rsVersions: map[string]string{}, rsWrites: &r.rsWrites, fresh: &r.fresh, rolloutVersion: ro.ResourceVersion,
		runWrites:  &r.runWrites,
		markUrgent: !r.NoPriority,
		taken:      &r.taken,
		held:       &r.held,
		created:    &r.created,
		now:        snap.Now,
	}
	for _, rs := range snap.ReplicaSets {
		exec.rsVersions[rs.Name] = rs.ResourceVersion
	}
	// The urgent writes lead plan.Actions and are never metadata writes
	// on the Rollout, so they lead actions too; the router syncs lead them.
	syncs := leadingSyncs(actions[:plan.UrgentWrites])
	if err := exec.applyLanes(ctx, actions[:syncs], syncs); err != nil {
		return ctrl.Result{}, err
	}
	if !r.NoPriority && syncs > 0 && routerWrites.Writes() > 0 && !abortActedOn(&ro) && restToDo(&ro, &plan, len(actions) > syncs || len(after) > 0) {
		// The routers now send the canary what the abort decided. The
		// rest of it (Services, ReplicaSets, status, events) waits for a
		// pass of its own, queued urgently behind the Rollouts already
		// waiting and behind every abort queued later, so that under a
		// burst of aborts every one's traffic write goes out before any
		// one's other writes. That pass decides
		// again from the cluster and finds the routers as written here
		// (routerclient reads past a cache that lags behind this write),
		// so it repeats no router write and makes this decision's events
		// and status as one pass would have.
		logger.Info("traffic back to stable first", "routerWrites", routerWrites.Writes(), "restInNextPass", len(actions)-syncs+len(after))
		r.continued.mark(req)
		outcome = passTrafficFirst
		return ctrl.Result{RequeueAfter: continueAfter}, nil
	}
	if err := exec.applyLanes(ctx, actions[syncs:], plan.UrgentWrites-syncs); err != nil {
		if isNameTaken(err) {
			// The holder is recorded: the next decision moves to another
			// name, as it does when the cache shows the holder.
			outcome = passNameTaken
			logger.Info("decided again", "reason", takenReason(err), "message", err.Error())
			return ctrl.Result{Requeue: true}, nil
		}
		return ctrl.Result{}, err
	}
	for _, e := range plan.Events {
		if !e.Routine {
			r.Recorder.Event(&ro, e.Type, e.Reason, e.Message)
		}
		logger.Info("decided", "reason", e.Reason, "message", e.Message)
	}
	// The plan's delays count from the snapshot's time; the writes above
	// and below take a while, so the delay is kept as a time of day and
	// only what is left of it when the reconcile returns is asked for.
	due := requeue.At(snap.Now, plan.RequeueAfter)
	decided := due
	if snap.Configs != nil {
		due = requeue.Earliest(due, snap.Now.Add(configRecheck))
	}
	write := !equality.Semantic.DeepEqual(ro.Status, plan.Status)
	// A plan's writes never depend on the counts in the status, so a
	// counts-only change may wait even when the plan scales something.
	if write && countsOnly(&ro.Status, &plan.Status, ro.Spec.Strategy.Canary != nil && ro.Spec.Strategy.Canary.TrafficRouting != nil) {
		now := r.now()
		if hold := r.writes.holdFor(req.NamespacedName, now); hold > 0 {
			write = false
			due = requeue.Earliest(due, now.Add(hold))
		}
	}
	if write {
		written := ro.DeepCopy()
		version, conflict, err := statuspatch.Write(ctx, r.Client, written, ro.Status, &plan.Status)
		if err != nil {
			return ctrl.Result{}, err
		}
		if conflict {
			// A client (promote, abort) changed the Rollout since we read
			// it: decide again on the new state rather than overwrite it.
			// Our last write's result is not the latest version then, so
			// the next pass waits for the cache instead of going on from it.
			r.fresh.DropCopy(req.NamespacedName)
			outcome = passConflict
			return ctrl.Result{Requeue: true}, nil
		}
		// A patch that changed nothing (times that differ only below the
		// second status keeps) leaves the version as it was; recording it
		// would make every later read look stale.
		if version != ro.ResourceVersion {
			r.fresh.WroteCopy(req.NamespacedName, ro.ResourceVersion, written)
			exec.rolloutVersion = version
		}
		r.writes.wrote(req.NamespacedName, r.now())
		observeReleases(plan.Releases)
		for _, rel := range plan.Releases {
			logger.Info("release ended", "completionStatus", rel.CompletionStatus,
				"seconds", int64(rel.Duration.Seconds()), "manualPauseSeconds", int64(rel.ManualPause.Seconds()))
		}
		if dbg := logger.V(1); dbg.Enabled() {
			dbg.Info("status written", "phase", plan.Status.Phase, "step", stepOf(plan.Status.CurrentStepIndex),
				"available", plan.Status.AvailableReplicas, "message", plan.Status.Message,
				"changed", changedFields(&ro.Status, &plan.Status))
		}
	}
	r.notify(&ro, &snap, &plan)
	if err := exec.apply(ctx, after); err != nil {
		return ctrl.Result{}, err
	}
	// This pass acted on its decision: whatever made the Rollout urgent is
	// done, and its next pass is routine work unless a new event says
	// otherwise. The early returns above keep their priority, since they
	// retry a decision not yet made or not yet written.
	r.settled.mark(req)
	if !decided.IsZero() && decided.Equal(due) {
		// What this Rollout waits for next is a time its decision set,
		// not a count's hold or a configuration re-check.
		r.timed.mark(req)
	}
	outcome = passActed
	return ctrl.Result{RequeueAfter: requeue.UntilDue(due, r.now())}, nil
}

// leadingSyncs counts the router syncs that lead urgent, the plan's urgent
// writes: the writes that take user traffic off the canary. The Service
// writes that follow them move only what callers of the Services
// themselves send, and so go with the rest of the abort.
func leadingSyncs(urgent []decide.Action) int {
	n := 0
	for _, a := range urgent {
		if _, ok := a.(decide.SyncTraffic); !ok {
			break
		}
		n++
	}
	return n
}

// restToDo reports whether a pass that made its router writes has anything
// else to do: more writes (moreWrites), a status to write, or events to
// record or announce. A pass with nothing else ends as it is, with no pass
// to continue it.
func restToDo(ro *v1alpha1.Rollout, plan *decide.Plan, moreWrites bool) bool {
	return moreWrites || len(plan.Events) > 0 || !equality.Semantic.DeepEqual(ro.Status, plan.Status)
}

// splitAfterStatus separates the writes that go after the status write
// from those before it, each in the plan's order. The revision and other
// annotations are metadata writes on the Rollout itself, which would break
// the status write's optimistic lock. Ending and removing AnalysisRuns the
// status no longer names wait too: nothing waits on them, while the status
// write is what the next step waits for; were they lost, the next reconcile
// finds the same runs stray and plans them again.
func splitAfterStatus(plan []decide.Action) (before, after []decide.Action) {
	for _, a := range plan {
		switch a.(type) {
		case decide.SetRolloutRevision, decide.AnnotateRollout, decide.TerminateAnalysisRun, decide.DeleteAnalysisRun:
			after = append(after, a)
		default:
			before = append(before, a)
		}
	}
	return before, after
}

// notify hands the plan's decisions, routine ones included, to the
// notifier once the writes they describe have landed: a decision whose
// writes failed is made again by the next reconcile and announced then.
func (r *Reconciler) notify(ro *v1alpha1.Rollout, snap *decide.Snapshot, plan *decide.Plan) {
	if r.Notifier == nil || len(plan.Events) == 0 {
		return
	}
	// What the decision found (a run that failed) is told with the Rollout
	// as it was found, as the reference does: the same decision may abort
	// and reset the step. What it did is told with the Rollout as decided.
	var observed, decisions []notify.Notice
	for _, e := range plan.Events {
		n := notify.Notice{Type: e.Type, Reason: e.Reason, Message: e.Message}
		if e.Observed {
			observed = append(observed, n)
		} else {
			decisions = append(decisions, n)
		}
	}
	owned := rolloutview.Owned{ReplicaSets: snap.ReplicaSets, Pods: snap.Pods, AnalysisRuns: snap.AnalysisRuns, Experiments: snap.Experiments}
	if len(observed) > 0 {
		r.Notifier.Notify(ro, owned, observed)
	}
	if len(decisions) > 0 {
		// Notify reads the Rollout only while it runs: a shallow copy with
		// the decided status is enough.
		decided := *ro
		decided.Status = plan.Status
		r.Notifier.Notify(&decided, owned, decisions)
	}
}

// observeTraffic builds the Rollout's traffic routers and lets each check
// its objects. Problems a person must fix go into the snapshot, where they
// make the spec invalid; a failure to read is returned and retried. The
// client the routers write through is returned too, to tell whether a
// sync wrote anything; it is nil for a Rollout without traffic routing.
func (r *Reconciler) observeTraffic(ctx context.Context, ro *v1alpha1.Rollout, snap *decide.Snapshot) ([]trafficrouting.Router, *routerclient.Client, error) {
	if ro.Spec.Strategy.Canary == nil || ro.Spec.Strategy.Canary.TrafficRouting == nil {
		return nil, nil, nil
	}
	api := r.APIReader
	if api == nil {
		api = r.Client
	}
	if err := r.ingressEvents.ensure(ctx, ro); err != nil {
		return nil, nil, err
	}
	rc := routerclient.New(r.Client, api, r.Client, &r.ingressCopies, client.ObjectKeyFromObject(ro))
	env := trafficrouting.Env{Rollout: ro, Reader: rc, Writer: rc}
	rs, err := routers.For(env, r.Routers)
	if err != nil {
		ces := trafficrouting.ConfigErrors(err)
		if len(ces) == 0 {
			return nil, nil, fmt.Errorf("building traffic routers: %w", err)
		}
		for _, ce := range ces {
			snap.TrafficErrors = append(snap.TrafficErrors, ce.Error())
		}
	}
	for _, router := range rs {
		err := router.Check(ctx)
		if err == nil {
			continue
		}
		ces := trafficrouting.ConfigErrors(err)
		if len(ces) == 0 {
			return nil, nil, fmt.Errorf("checking the %s router: %w", router.Type(), err)
		}
		for _, ce := range ces {
			snap.TrafficErrors = append(snap.TrafficErrors, ce.Error())
		}
	}
	return rs, rc, nil
}

// stepOf renders a step index for logs; -1 means the Rollout has no steps.
func stepOf(idx *int32) int32 {
	if idx == nil {
		return -1
	}
	return *idx
}

// runnable is what the controller runs: r, wrapped when Wrap is set.
func (r *Reconciler) runnable() reconcile.Reconciler {
	if r.Wrap != nil {
		return r.Wrap(r)
	}
	return r
}

// useWrittenReplicaSets puts in the snapshot, in place of each cached
// ReplicaSet named in behind, the copy our last patch of it returned, which
// is newer. It reports false, changing nothing, when a copy is missing.
func useWrittenReplicaSets(writes cachefresh.OwnedLook, snap *decide.Snapshot, behind map[string]bool) bool {
	written := make(map[string]*appsv1.ReplicaSet, len(behind))
	for name := range behind {
		rs, ok := cachefresh.Written[*appsv1.ReplicaSet](writes, name)
		if !ok {
			return false
		}
		written[name] = rs
	}
	rss := slices.Clone(snap.ReplicaSets)
	for i, rs := range rss {
		if w, ok := written[rs.Name]; ok {
			rss[i] = w.DeepCopy()
		}
	}
	snap.ReplicaSets = rss
	return true
}
