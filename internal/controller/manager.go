package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/ctrlmetrics"
	"github.com/kanaria-rollouts/kanaria/internal/experiment"
	"github.com/kanaria-rollouts/kanaria/internal/memlimit"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/cloudmonitoring"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/cloudwatch"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/compare"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/datadog"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/graphite"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/influxdb"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/job"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/kayenta"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/newrelic"
	promprovider "github.com/kanaria-rollouts/kanaria/internal/metricproviders/prometheus"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/skywalking"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/slo"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/wavefront"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/web"
	"github.com/kanaria-rollouts/kanaria/internal/notify"
	"github.com/kanaria-rollouts/kanaria/internal/rollout"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routers"
	"github.com/kanaria-rollouts/kanaria/internal/version"
)

// inClusterNamespaceFile is where a Pod's service account namespace is mounted.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// NewScheme returns a scheme with the built-in Kubernetes types and Kanaria's API.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("registering Kubernetes types: %w", err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("registering argoproj.io/v1alpha1 types: %w", err)
	}
	return s, nil
}

// NewManager builds the controller manager: caches (limited to
// opts.Namespace when set), leader election on a Lease, /healthz and /readyz
// probes, and the Prometheus /metrics endpoint.
func NewManager(cfg *rest.Config, opts Options) (manager.Manager, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid controller options: %w", err)
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	cfg.UserAgent = "kanaria-controller/" + version.Version
	// The reference's controller metrics count every request to the API
	// server, so the clients are wrapped before the manager builds them.
	v := version.Get()
	refMetrics := ctrlmetrics.New(ctrl.Log.WithName("metrics"),
		ctrlmetrics.Build{Version: v.Version, GoVersion: v.GoVersion, GoArch: goruntime.GOARCH, Commit: v.Commit})
	cfg.Wrap(refMetrics.WrapTransport)
	observeClientLatency()
	limitRequests(cfg, opts.QPS, opts.Burst)

	byObject, err := rollout.CacheObjects(opts.ShardSelector)
	if err != nil {
		return nil, err
	}
	jobCache, err := analysis.CacheObjects(opts.ShardSelector)
	if err != nil {
		return nil, err
	}
	for k, v := range jobCache {
		byObject[k] = v
	}
	if err := instanceCache(opts.InstanceID, opts.ShardSelector, byObject); err != nil {
		return nil, err
	}
	// What no decision reads stays out of the cache (see cacheTransform).
	watchHTTP, err := WatchHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	cacheOpts := cache.Options{HTTPClient: watchHTTP, ByObject: byObject, DefaultTransform: cacheTransform()}
	if opts.Namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{opts.Namespace: {}}
	}
	le := opts.LeaderElection
	// Instances act side by side; sharing one Lease would leave all but
	// one idle.
	le.ID = opts.LeaseGroup()
	leNamespace := le.Namespace
	if le.Enabled && leNamespace == "" {
		leNamespace = defaultLeaderElectionNamespace()
	}
	if opts.ShardSelector != nil {
		// The shard Leases elect who acts on what; the manager is rebuilt
		// whenever they change hands (and with shards auto whenever the
		// count changes), so its controller names recur.
		le.Enabled = false
	}
	leaseDuration, renewDeadline, retryPeriod := le.LeaseDuration, le.RenewDeadline, le.RetryPeriod
	shutdown := opts.GracefulShutdownTimeout

	// A namespace-scoped controller that may not list ClusterAnalysisTemplates
	// cluster-wide (the chart's namespace-scoped Role, like the reference's
	// namespace install, grants no such right) reads each one it needs from
	// the API server instead of watching them: an informer that cannot list
	// never syncs, and the controller would never become ready.
	var clientOpts client.Options
	watchClusterTemplates := opts.Namespace == "" || mayWatchClusterTemplates(cfg)
	if !watchClusterTemplates {
		clientOpts.Cache = &client.CacheOptions{DisableFor: []client.Object{&v1alpha1.ClusterAnalysisTemplate{}}}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Client:                  clientOpts,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:  opts.ProbeAddr,
		PprofBindAddress:        opts.PprofAddr,
		LeaderElection:          le.Enabled,
		LeaderElectionID:        le.ID,
		LeaderElectionNamespace: leNamespace,
		// Releasing the Lease on SIGTERM lets a standby take over at once
		// instead of after a whole lease duration.
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
		GracefulShutdownTimeout:       &shutdown,
		Controller:                    config.Controller{SkipNameValidation: ptrTo(opts.ShardSelector != nil || opts.ShardsAuto)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating controller manager: %w", err)
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	synced := &cacheSyncedCheck{cache: mgr.GetCache()}
	if err := mgr.Add(synced); err != nil {
		return nil, fmt.Errorf("adding cache readiness: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers-synced", synced.Check); err != nil {
		return nil, fmt.Errorf("adding readiness check: %w", err)
	}
	registerBuildInfo()
	if !watchClusterTemplates {
		refMetrics.WithoutClusterTemplates()
	}
	refMetrics.ReadFrom(mgr.GetCache())
	if err := refMetrics.Register(crmetrics.Registry); err != nil {
		return nil, err
	}
	if err := countCache(context.Background(), crmetrics.Registry, mgr.GetCache()); err != nil {
		return nil, err
	}
	servedMetrics().Serve(refMetrics)

	notifier, err := newNotifier(cfg, mgr, opts, refMetrics)
	if err != nil {
		return nil, err
	}
	rollouts := &rollout.Reconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Routers:       routers.Options{SMIAPIVersion: opts.TrafficSplitAPIVersion},
		Recorder:      refMetrics.Recorder(mgr.GetEventRecorderFor(rollout.EventSource)),
		Notifier:      notifier,
		Wrap:          timed(refMetrics, ctrlmetrics.KindRollout, opts.IdleRelease),
		NoPriority:    !opts.RolloutPriority,
		UrgentWorkers: opts.Workers.UrgentRollout,
		Sharded:       opts.ShardSelector != nil,
		// See clientOpts.
		NoClusterTemplateWatch: !watchClusterTemplates,
	}
	if sel := opts.ShardSelector; sel != nil {
		rollouts.Owns = func(key types.NamespacedName) bool {
			return sel.Matches(labels.Set{shard.LabelBucket: shard.BucketLabel(key.Namespace, key.Name)})
		}
	}
	if err := rollouts.SetupWithManager(context.Background(), mgr, opts.Workers.Rollout); err != nil {
		return nil, fmt.Errorf("setting up the Rollout controller: %w", err)
	}
	experiments := &experiment.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  refMetrics.Recorder(mgr.GetEventRecorderFor(experiment.EventSource)),
		Wrap:      timed(refMetrics, ctrlmetrics.KindExperiment, opts.IdleRelease),
		Sharded:   opts.ShardSelector != nil,
	}
	if err := experiments.SetupWithManager(context.Background(), mgr, opts.Workers.Experiment); err != nil {
		return nil, fmt.Errorf("setting up the Experiment controller: %w", err)
	}
	jobs := &job.Provider{Client: mgr.GetClient()}
	if opts.ShardSelector != nil {
		jobs.APIReader, jobs.Sharded = mgr.GetAPIReader(), true
	}
	runs := &analysis.Reconciler{
		Client:     mgr.GetClient(),
		Secrets:    analysis.SecretReader{Reader: mgr.GetAPIReader()},
		Recorder:   refMetrics.Recorder(mgr.GetEventRecorderFor(analysis.EventSource)),
		Queriers:   newQueriers(controllerNamespace(opts.ControllerNamespace)),
		Jobs:       jobs,
		Conditions: condition.NewEvaluator(),
		Notifier:   notifier,
		Wrap:       timed(refMetrics, ctrlmetrics.KindAnalysisRun, opts.IdleRelease),
	}
	runs.StatusBatch = opts.AnalysisStatusBatch
	if err := runs.SetupWithManager(mgr, opts.Workers.Analysis); err != nil {
		return nil, fmt.Errorf("setting up the AnalysisRun controller: %w", err)
	}
	return mgr, nil
}

// newNotifier builds the notification sender and adds it to the manager: it
// watches only the notification ConfigMap and Secret by name, in the
// controller's namespace, or in every namespace with self-service on.
func newNotifier(cfg *rest.Config, mgr manager.Manager, opts Options, refMetrics *ctrlmetrics.Metrics) (*notify.Notifier, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the notifications' Kubernetes client: %w", err)
	}
	metrics, err := notify.NewMetrics(crmetrics.Registry)
	if err != nil {
		return nil, fmt.Errorf("registering notification metrics: %w", err)
	}
	refMetrics.OnForget(metrics.Forget)
	nopts := notify.DefaultOptions(controllerNamespace(opts.ControllerNamespace))
	nopts.SelfService = opts.SelfServiceNotifications
	logger := mgr.GetLogger().WithName("notify")
	notify.RouteEngineLogs(logger.WithName("engine"))
	n := notify.New(kube, mgr.GetClient(), mgr.GetAPIReader(), refMetrics.Recorder(mgr.GetEventRecorderFor(rollout.EventSource)),
		metrics, logger, nopts)
	if err := mgr.Add(n); err != nil {
		return nil, fmt.Errorf("adding the notifier: %w", err)
	}
	return n, nil
}

// timed wraps a reconciler of kind in the reference's reconcile metrics
// and, with idle set, counts its reconciles as activity; a pass the
// controller's stop cut short is not logged as an error (quietOnStop).
func timed(m *ctrlmetrics.Metrics, kind ctrlmetrics.Kind, idle *memlimit.IdleRelease) func(reconcile.Reconciler) reconcile.Reconciler {
	return func(r reconcile.Reconciler) reconcile.Reconciler { return quietOnStop(idle.Wrap(m.Timed(kind, r))) }
}

// newQueriers returns the synchronous metric providers by name.
func newQueriers(controllerNamespace string) map[string]metricproviders.Querier {
	queriers := map[string]metricproviders.Querier{
		promprovider.Name: promprovider.New(promprovider.Options{}),
		web.Name:          web.New(web.Options{}),
		datadog.Name:      datadog.New(datadog.Options{Namespace: controllerNamespace}),
		cloudwatch.Name:   cloudwatch.New(cloudwatch.Options{}),
		newrelic.Name:     newrelic.New(newrelic.Options{Namespace: controllerNamespace}),
		wavefront.Name:    wavefront.New(wavefront.Options{Namespace: controllerNamespace}),
		graphite.Name:     graphite.New(graphite.Options{}),
		influxdb.Name:     influxdb.New(influxdb.Options{Namespace: controllerNamespace}),
		kayenta.Name:      kayenta.New(kayenta.Options{}),
		skywalking.Name:   skywalking.New(skywalking.Options{}),
	}
	queriers[cloudmonitoring.Name] = cloudmonitoring.New(cloudmonitoring.Options{})
	// Error budgets read their SLI through the other providers.
	queriers[slo.Name] = slo.New(slo.QuerierSource(queriers))
	// The canary judge reads both sides' series through Prometheus.
	queriers[compare.Name] = compare.New(queriers[promprovider.Name])
	return queriers
}

// controllerNamespace is where controller-wide Secrets (such as the datadog
// credentials) live: the given one, else the Pod's namespace, else kanaria.
func controllerNamespace(given string) string {
	if given != "" {
		return given
	}
	if ns := podNamespace(); ns != "" {
		return ns
	}
	return "kanaria"
}

// podNamespace is the namespace the controller's Pod runs in, "" outside a
// cluster.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(inClusterNamespaceFile); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

// defaultLeaderElectionNamespace is the namespace the controller's Pod runs
// in, or kube-system outside a cluster, which every cluster has.
func defaultLeaderElectionNamespace() string {
	if ns := podNamespace(); ns != "" {
		return ns
	}
	return "kube-system"
}

// cacheSyncedCheck reports ready once the manager's informer caches have
// synced, so a controller is not marked ready while it still sees a partial
// picture of the cluster. It runs on every replica, leader or not.
type cacheSyncedCheck struct {
	cache  cache.Cache
	synced atomic.Bool
}

// Start waits for the caches to sync, records it, and returns; the manager
// starts caches before other runnables, so this does not race them.
func (c *cacheSyncedCheck) Start(ctx context.Context) error {
	if c.cache.WaitForCacheSync(ctx) {
		c.synced.Store(true)
	}
	return nil
}

// NeedLeaderElection reports false: readiness is the same on standby replicas.
func (c *cacheSyncedCheck) NeedLeaderElection() bool { return false }

// Check is the readyz check.
func (c *cacheSyncedCheck) Check(_ *http.Request) error {
	if !c.synced.Load() {
		return errors.New("informer caches have not synced yet")
	}
	return nil
}

var buildInfoRegistered atomic.Bool

// registerBuildInfo exposes kanaria_build_info on /metrics once per process.
func registerBuildInfo() {
	if !buildInfoRegistered.CompareAndSwap(false, true) {
		return
	}
	v := version.Get()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kanaria_build_info",
		Help: "Build information of the running Kanaria controller; always 1.",
	}, []string{"version", "go_version", "commit"})
	g.WithLabelValues(v.Version, v.GoVersion, v.Commit).Set(1)
	crmetrics.Registry.MustRegister(g)
}

func ptrTo[T any](v T) *T { return &v }

// metricsPage serves the metrics server's registry together with the
// reference's info gauges, kept per object rather than passed through the
// registry at each scrape (ctrlmetrics.Gatherer).
var (
	metricsPageOnce sync.Once
	metricsPage     *ctrlmetrics.Gatherer
)

// servedMetrics installs metricsPage as what controller-runtime's metrics
// server serves, once per process: managers rebuilt for a change of shards
// each serve their own Metrics on it.
func servedMetrics() *ctrlmetrics.Gatherer {
	metricsPageOnce.Do(func() {
		reg := crmetrics.Registry
		metricsPage = ctrlmetrics.NewGatherer(reg)
		crmetrics.Registry = pageRegistry{RegistererGatherer: reg, page: metricsPage}
	})
	return metricsPage
}

// pageRegistry registers with the registry it wraps and gathers through the
// page.
type pageRegistry struct {
	crmetrics.RegistererGatherer
	page *ctrlmetrics.Gatherer
}

// Gather implements prometheus.Gatherer.
func (r pageRegistry) Gather() ([]*dto.MetricFamily, error) { return r.page.Gather() }

// mayWatchClusterTemplates asks the API server whether the controller's
// credentials may list and watch ClusterAnalysisTemplates cluster-wide. An
// answer that cannot be had counts as no: reading each template directly
// works either way, while a watch without the right blocks readiness.
func mayWatchClusterTemplates(cfg *rest.Config) bool {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, verb := range []string{"list", "watch"} {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Group: v1alpha1.GroupVersion.Group,
				Resource: "clusteranalysistemplates", Verb: verb}}}
		got, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil || !got.Status.Allowed {
			return false
		}
	}
	return true
}
