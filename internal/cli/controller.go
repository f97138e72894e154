package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"github.com/kanaria-rollouts/kanaria/internal/logging"
	"github.com/kanaria-rollouts/kanaria/internal/memlimit"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
	"github.com/kanaria-rollouts/kanaria/internal/version"
)

// defaultGCPercent leaves Go's own collection target: a lower one holds an
// idle Rollout in less resident memory, but the extra collections cost CPU
// that a small control plane shares with the API server, and releases and
// aborts measured slower with it. Operators who need the memory opt in.
const defaultGCPercent = 0

// defaultIdleRelease is how long the controller must have reconciled
// nothing before the heap's free pages go back to the system, and how
// often that repeats while it stays idle. Released once, the pages came
// back within a collection or two of a scraped idle controller; released
// each minute, an idle Rollout held a fifth to a third less anonymous
// memory for no measurable CPU (docs/benchmarks.md, "Memory per idle
// Rollout, cut").
const defaultIdleRelease = time.Minute

func newControllerCommand() *cobra.Command {
	opts := controller.DefaultOptions()
	var kubeconfig, kubeContext, logLevel, logFormat string
	memoryLimitRatio := 0.9
	gcPercent := defaultGCPercent
	idleRelease := defaultIdleRelease
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the Kanaria controller",
		Long: `Run the controller that reconciles Rollouts, AnalysisRuns and Experiments.

Inside a cluster it uses the Pod's service account; outside, the kubeconfig
(--kubeconfig, then $KUBECONFIG, then ~/.kube/config). With leader election on
(the default) several replicas may run and one acts at a time, holding a Lease.`,
		Example: `  # Against the cluster of the current kubeconfig context, one replica, no election
  kanaria controller --leader-elect=false

  # Only the "shop" namespace, JSON logs
  kanaria controller --namespace shop --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Bad flags are reported before anything connects to a cluster.
			if err := opts.Validate(); err != nil {
				return err
			}
			log, err := logging.New(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return err
			}
			ctrl.SetLogger(log)
			klog.SetLogger(log.WithName("client-go"))
			mem, err := memlimit.Apply(os.DirFS("/"), memoryLimitRatio)
			if err != nil {
				return fmt.Errorf("--memory-limit-ratio: %w", err)
			}
			log.Info("Go soft memory limit", "bytes", mem.Limit, "source", mem.Source)
			gc := memlimit.SetGCPercent(gcPercent, mem)
			log.Info("Go garbage collector target", "percent", gc.Percent, "source", gc.Source)
			opts.IdleRelease = memlimit.NewIdleRelease(idleRelease, log.WithName("memory"))

			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			// With no kubeconfig at all, the deferred loader falls back to the
			// in-cluster service account.
			cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
				&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
			if err != nil {
				return fmt.Errorf("loading Kubernetes client configuration: %w", err)
			}
			ctx := ctrl.SetupSignalHandler()
			go opts.IdleRelease.Run(ctx)
			if err := waitForAPI(ctx, cfg, opts.ProbeAddr, log); err != nil {
				return err
			}
			if opts.ShardsAuto {
				return runAutoSharded(ctx, cfg, opts, log)
			}
			return runFixed(ctx, cfg, opts, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "path to a kubeconfig file; empty uses $KUBECONFIG, ~/.kube/config or the in-cluster service account")
	f.StringVar(&kubeContext, "context", "", "kubeconfig context to use")
	f.StringVarP(&opts.Namespace, "namespace", "n", opts.Namespace, "watch only this namespace; empty watches all")
	f.StringVar(&opts.InstanceID, "instance-id", "", "handle only the Rollouts, AnalysisRuns and Experiments labelled "+v1alpha1.LabelKeyControllerInstanceID+" with this value; empty handles only those without the label")
	f.StringVar(&opts.ControllerNamespace, "controller-namespace", "", "namespace of controller-wide Secrets (e.g. datadog credentials); empty uses the controller's own namespace, or kanaria outside a cluster")
	f.BoolVar(&opts.LeaderElection.Enabled, "leader-elect", opts.LeaderElection.Enabled, "elect one acting replica through a Lease")
	f.StringVar(&opts.LeaderElection.Namespace, "leader-election-namespace", "", "namespace of the Lease; empty uses the controller's own namespace, or kube-system outside a cluster")
	f.StringVar(&opts.LeaderElection.ID, "leader-election-id", opts.LeaderElection.ID, "name of the Lease")
	f.DurationVar(&opts.LeaderElection.LeaseDuration, "leader-elect-lease-duration", opts.LeaderElection.LeaseDuration, "how long a standby waits after the leader's last renewal before taking over")
	f.DurationVar(&opts.LeaderElection.RenewDeadline, "leader-elect-renew-deadline", opts.LeaderElection.RenewDeadline, "how long the leader retries renewing before giving up leadership")
	f.DurationVar(&opts.LeaderElection.RetryPeriod, "leader-elect-retry-period", opts.LeaderElection.RetryPeriod, "interval between attempts to acquire or renew the Lease")
	f.Var(&shardsValue{n: &opts.Shards, auto: &opts.ShardsAuto}, "shards", "split Rollouts (with their AnalysisRuns, Experiments, ReplicaSets and Pods) across this many shards, each held by one replica through its own Lease; 1 elects one replica for all; auto uses the replica count of the controller's own StatefulSet or Deployment and follows it")
	f.IntVar(&opts.ShardHome, "shard-home", opts.ShardHome, "shard this replica prefers; -1 takes a StatefulSet Pod's ordinal (the name's -<n> suffix), else none")
	f.StringVar(&opts.MetricsAddr, "metrics-bind-address", opts.MetricsAddr, "address of the Prometheus /metrics endpoint; 0 turns it off")
	f.StringVar(&opts.ProbeAddr, "health-probe-bind-address", opts.ProbeAddr, "address of /healthz and /readyz; 0 turns them off")
	f.StringVar(&opts.PprofAddr, "pprof-bind-address", opts.PprofAddr, "address of Go's /debug/pprof profiles, e.g. 127.0.0.1:6060; 0 (default) turns them off")
	f.IntVar(&opts.Workers.Rollout, "rollout-workers", opts.Workers.Rollout, "concurrent Rollout reconciles")
	f.IntVar(&opts.Workers.UrgentRollout, "urgent-workers", opts.Workers.UrgentRollout, "of the Rollout workers, how many take only aborts, rollbacks and failed runs whose traffic has not moved back to stable yet, so those never wait for a routine reconcile, or one finishing another abort, to end (with --rollout-priority; at least one worker always takes routine work)")
	f.BoolVar(&opts.RolloutPriority, "rollout-priority", opts.RolloutPriority, "queue aborts, rollbacks and failed runs ahead of routine Rollout work and let their traffic-to-stable writes take the client rate limit's next token ahead of routine requests; false (one plain queue, no precedence) is for comparison")
	f.IntVar(&opts.Workers.Analysis, "analysis-workers", opts.Workers.Analysis, "concurrent AnalysisRun reconciles")
	f.DurationVar(&opts.AnalysisStatusBatch, "analysis-status-batch", opts.AnalysisStatusBatch, "how long an AnalysisRun's successful measurements of a metric measured more often than this may wait to be written together; failures, errors, inconclusive results and verdicts are written at once; 0 writes every measurement at once")
	f.IntVar(&opts.Workers.Experiment, "experiment-workers", opts.Workers.Experiment, "concurrent Experiment reconciles")
	f.Float32Var(&opts.QPS, "kube-api-qps", opts.QPS, "client-side bound on requests per second to the API server; a negative value sets none and leaves it to the server's priority and fairness")
	f.IntVar(&opts.Burst, "kube-api-burst", opts.Burst, "request burst above kube-api-qps, when that is positive")
	f.StringVar(&opts.TrafficSplitAPIVersion, "traffic-split-api-version", opts.TrafficSplitAPIVersion, "split.smi-spec.io version of the SMI TrafficSplits the controller writes (v1alpha1, v1alpha2, v1alpha3)")
	f.BoolVar(&opts.SelfServiceNotifications, "self-service-notification-enabled", false, "also read argo-rollouts-notification-configmap and argo-rollouts-notification-secret from each Rollout's own namespace, not only the controller's")
	f.DurationVar(&opts.GracefulShutdownTimeout, "graceful-shutdown-timeout", opts.GracefulShutdownTimeout, "how long in-flight work may take to finish after SIGTERM")
	f.Float64Var(&memoryLimitRatio, "memory-limit-ratio", memoryLimitRatio, "give Go's garbage collector a soft memory limit of this fraction of the container's cgroup memory limit, so it collects harder rather than exceed it; 0 sets none; GOMEMLIMIT, when set, wins")
	f.IntVar(&gcPercent, "gc-percent", gcPercent, "without a memory limit (no container limit, no GOMEMLIMIT) and without GOGC, run Go's garbage collector at this target percentage: the heap may grow this much over what the last collection kept; 0 leaves Go's default of 100")
	f.DurationVar(&idleRelease, "idle-memory-release", idleRelease, "once no reconcile has run for this long, give the heap's free pages back to the system, and again each time as long while idle; never while a reconcile runs; 0 turns it off")
	f.StringVar(&logLevel, "log-level", "info", "log level: "+strings.Join(logging.Levels, ", "))
	f.StringVar(&logFormat, "log-format", "text", "log format: "+strings.Join(logging.Formats, ", "))
	return cmd
}

// runFixed runs the controller with opts.Shards shards until ctx ends: one
// manager under leader election for one shard, else the shard coordinator.
func runFixed(ctx context.Context, cfg *rest.Config, opts controller.Options, log logr.Logger) error {
	if opts.Shards > 1 {
		return runSharded(ctx, cfg, opts, log)
	}
	mgr, err := controller.NewManager(cfg, opts)
	if err != nil {
		return err
	}
	log.Info("starting controller", "version", version.Version, "namespace", namespaceOrAll(opts.Namespace),
		"leaderElection", opts.LeaderElection.Enabled, "metricsAddr", opts.MetricsAddr, "probeAddr", opts.ProbeAddr,
		"rolloutWorkers", opts.Workers.Rollout, "urgentWorkers", opts.Workers.UrgentRollout, "analysisWorkers", opts.Workers.Analysis, "experimentWorkers", opts.Workers.Experiment,
		"clientRateLimit", clientRateLimit(opts.QPS, opts.Burst))
	go func() {
		select {
		case <-mgr.Elected():
			if opts.LeaderElection.Enabled {
				log.Info("elected leader, acting", "lease", opts.LeaderElection.ID)
			}
		case <-ctx.Done():
		}
	}()
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("controller stopped: %w", err)
	}
	log.Info("controller stopped")
	return nil
}

// runSharded takes part in sharding until ctx ends: the coordinator holds
// this replica's shard Leases and runs a manager whose caches select only
// the held shards, rebuilding it whenever they change; the labeller gives
// unlabelled objects of the held shards their bucket.
func runSharded(ctx context.Context, cfg *rest.Config, opts controller.Options, log logr.Logger) error {
	// The managers set their own client limits; the Lease and labeller
	// clients built here take the same bound.
	cfg = shardClientConfig(cfg, opts)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating the shard Lease client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating the shard labeller's client: %w", err)
	}
	instance, err := controller.InstanceSelector(opts.InstanceID)
	if err != nil {
		return err
	}
	home := opts.ShardHome
	if home < 0 {
		home = shard.HomeFromPodName(podName(), opts.Shards)
	}
	labeller := &shard.Labeller{Client: meta, Namespace: opts.Namespace, Selector: instance, Shards: opts.Shards,
		Log: log.WithName("shard-labeller")}
	le := opts.LeaderElection
	coord, err := shard.NewCoordinator(shard.Config{
		Client: kube, Namespace: opts.LeaseNamespace(), Group: opts.LeaseGroup(),
		Shards: opts.Shards, Home: home,
		LeaseDuration: le.LeaseDuration, RenewDeadline: le.RenewDeadline, RetryPeriod: le.RetryPeriod,
		Log:    log.WithName("shard"),
		OnHeld: labeller.SetHeld,
		Run: func(ctx context.Context, held []int) error {
			sel, err := shard.Selector(held, opts.Shards)
			if err != nil {
				return err
			}
			o := opts
			o.ShardSelector = &sel
			mgr, err := controller.NewManager(cfg, o)
			if err != nil {
				return err
			}
			log.Info("starting controller", "version", version.Version, "namespace", namespaceOrAll(o.Namespace),
				"shards", held, "of", o.Shards, "metricsAddr", o.MetricsAddr, "probeAddr", o.ProbeAddr,
				"rolloutWorkers", o.Workers.Rollout, "clientRateLimit", clientRateLimit(o.QPS, o.Burst))
			if err := mgr.Start(ctx); err != nil {
				return fmt.Errorf("controller for shards %v stopped: %w", held, err)
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	labelDone := make(chan error, 1)
	go func() { labelDone <- labeller.Run(ctx) }()
	err = coord.Run(ctx)
	if lerr := <-labelDone; lerr != nil && err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("sharded controller stopped: %w", err)
	}
	log.Info("controller stopped")
	return nil
}

// apiCheckInterval is how often a controller started before its
// CustomResourceDefinitions looks for them again.
const apiCheckInterval = 2 * time.Second

// waitForAPI holds the start until the cluster serves the controller's
// resources, answering the probes meanwhile.
func waitForAPI(ctx context.Context, cfg *rest.Config, probeAddr string, log logr.Logger) error {
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating the discovery client: %w", err)
	}
	// Nearly every start finds the API served and needs no probes of its own.
	if missing, err := controller.MissingResources(disco); err == nil && len(missing) == 0 {
		return nil
	}
	stop, err := controller.ServeWaitingProbes(probeAddr)
	if err != nil {
		return err
	}
	defer stop()
	return controller.WaitForAPI(ctx, disco, log, apiCheckInterval)
}

// shardClientConfig is cfg with the controller's client-side bound
// (--kube-api-qps, --kube-api-burst), for the clients a sharded replica
// builds beside its manager. Left at zero, client-go would hold them to 5
// requests a second: a burst of new Rollouts would wait for the labeller
// at 5 a second per replica, and a replica holding many shards could not
// renew all their Leases within a retry period.
func shardClientConfig(cfg *rest.Config, opts controller.Options) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	return cfg
}

// clientRateLimit says in words what bounds the controller's requests.
func clientRateLimit(qps float32, burst int) string {
	if qps < 0 {
		return "none (the API server's priority and fairness)"
	}
	return fmt.Sprintf("%v/s, burst %d", qps, burst)
}

func namespaceOrAll(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}
