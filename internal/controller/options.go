// Package controller assembles Kanaria's controller process: the
// controller-runtime manager with its caches, leader election, health probes
// and metrics endpoint, and the reconcilers that run inside it.
package controller

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/kanaria-rollouts/kanaria/internal/analysis"
	"github.com/kanaria-rollouts/kanaria/internal/memlimit"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// Options configure the controller process. The zero value is not usable;
// start from DefaultOptions.
type Options struct {
	// Namespace restricts every watch to one namespace; empty watches all.
	Namespace string
	// InstanceID makes this controller handle only the Rollouts,
	// AnalysisRuns and Experiments labelled
	// argo-rollouts.argoproj.io/controller-instance-id with it; empty
	// handles only those without the label.
	InstanceID string
	// ControllerNamespace holds controller-wide Secrets such as the datadog
	// credentials; empty means the Pod's namespace, or kanaria outside a
	// cluster.
	ControllerNamespace string
	// MetricsAddr is where /metrics is served; "0" turns it off.
	MetricsAddr string
	// ProbeAddr is where /healthz and /readyz are served; "0" turns them off.
	ProbeAddr string
	// PprofAddr is where Go's /debug/pprof profiles are served; "0" (the
	// default) turns them off, since they expose the process's internals.
	PprofAddr string
	// LeaderElection makes only one of several replicas act at a time.
	LeaderElection LeaderElectionOptions
	// Workers is the number of concurrent reconciles per resource kind.
	Workers WorkerOptions
	// QPS and Burst bound the controller's requests to the API server on
	// the client side. A negative QPS sets no client-side bound: the API
	// server's priority and fairness then decides what a busy controller
	// gets. Burst only counts when QPS is positive.
	QPS   float32
	Burst int
	// TrafficSplitAPIVersion is the split.smi-spec.io version of the SMI
	// TrafficSplits the controller writes (v1alpha1, v1alpha2 or v1alpha3).
	TrafficSplitAPIVersion string
	// GracefulShutdownTimeout bounds how long in-flight reconciles may take to
	// finish after SIGTERM.
	GracefulShutdownTimeout time.Duration
	// Shards splits Rollouts, their AnalysisRuns and Experiments across
	// replicas, each shard held through its own Lease; 1 keeps a single
	// Lease for everything (leader election).
	Shards int
	// ShardsAuto takes the shard count from the replicas of the controller's
	// own StatefulSet or Deployment, and re-splits when that changes;
	// Shards is then set for each run.
	ShardsAuto bool
	// ShardHome is the shard this replica prefers; -1 derives it from a
	// StatefulSet Pod's ordinal, or none.
	ShardHome int
	// ShardSelector, set for each manager the shard coordinator builds,
	// limits the caches of the sharded kinds to the held shards' buckets.
	ShardSelector *labels.Requirement
	// SelfServiceNotifications also reads the notification ConfigMap and
	// Secret of each Rollout's own namespace, besides the controller's.
	SelfServiceNotifications bool
	// RolloutPriority puts aborts, rollbacks and failed runs ahead of
	// routine work in the Rollout work queue, and marks the writes that
	// take traffic back to stable urgent, so they take the client rate
	// limit's next token ahead of routine requests. Off gives one first-in
	// first-out queue and no mark, to measure what the lane is worth.
	RolloutPriority bool
	// AnalysisStatusBatch is how long an AnalysisRun's routine successful
	// measurements may wait in memory to be written together; zero writes
	// each at once, as the reference does. Failures, errors, inconclusive
	// results and verdicts are always written at once.
	AnalysisStatusBatch time.Duration
	// IdleRelease, when set, counts every reconcile as activity, so that
	// free heap pages go back to the system only once the controller has
	// been idle a while (see memlimit.IdleRelease). Its Run belongs to the
	// caller, since one process may build several managers.
	IdleRelease *memlimit.IdleRelease
}

// LeaderElectionOptions configure the Lease that elects the acting replica.
type LeaderElectionOptions struct {
	// Enabled turns leader election on.
	Enabled bool
	// Namespace holds the Lease; empty means the controller's own namespace,
	// or kube-system when it runs outside a cluster.
	Namespace string
	// ID is the Lease's name.
	ID string
	// LeaseDuration is how long a standby waits after the last renewal before
	// it takes over.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew before it
	// gives up leadership.
	RenewDeadline time.Duration
	// RetryPeriod is the interval between attempts to acquire or renew.
	RetryPeriod time.Duration
}

// WorkerOptions set the reconcile concurrency of each resource kind.
type WorkerOptions struct {
	// Rollout is the number of concurrent Rollout reconciles.
	Rollout int
	// UrgentRollout is how many of the Rollout workers take only urgent
	// items (aborts, rollbacks, failed runs) while the priority lane is on,
	// so those never wait for a routine reconcile to end. At least one
	// worker always takes routine items.
	UrgentRollout int
	// Analysis is the number of concurrent AnalysisRun reconciles.
	Analysis int
	// Experiment is the number of concurrent Experiment reconciles.
	Experiment int
}

// DefaultOptions returns the settings the controller runs with unless told otherwise.
func DefaultOptions() Options {
	return Options{
		MetricsAddr: ":8090",
		ProbeAddr:   ":8080",
		PprofAddr:   "0",
		LeaderElection: LeaderElectionOptions{
			Enabled:       true,
			ID:            "kanaria-controller",
			LeaseDuration: 15 * time.Second,
			RenewDeadline: 10 * time.Second,
			RetryPeriod:   2 * time.Second,
		},
		// A Rollout reconcile spends most of its time waiting on API round
		// trips, so more workers than cores pay off: 10 left 200 Rollouts
		// changed at once queueing behind each other (1.9× the time of the
		// same Deployments, against 1.1× with 50).
		Workers: WorkerOptions{Rollout: 50, UrgentRollout: 10, Analysis: 10, Experiment: 10},
		// A release costs about ten writes per Rollout; at 40 requests per
		// second (client-go's usual controller setting) 200 Rollouts
		// changed at once would wait a minute on the client's own limiter
		// while the API server sat idle. The server's priority and fairness
		// still protects it from a busy controller. Turning the client-side
		// limit off (a negative QPS) measured no faster on the local cluster
		// for 200 Rollouts, so the default keeps a bound.
		QPS:                     100,
		Burst:                   200,
		GracefulShutdownTimeout: 30 * time.Second,
		TrafficSplitAPIVersion:  "v1alpha1",
		RolloutPriority:         true,
		Shards:                  1,
		ShardHome:               -1,
		AnalysisStatusBatch:     analysis.DefaultStatusBatch,
	}
}

// Validate reports settings that cannot work together.
func (o Options) Validate() error {
	var errs []error
	if o.Workers.Rollout < 1 || o.Workers.Analysis < 1 || o.Workers.Experiment < 1 {
		errs = append(errs, fmt.Errorf("worker counts must be at least 1 (rollout %d, analysis %d, experiment %d)",
			o.Workers.Rollout, o.Workers.Analysis, o.Workers.Experiment))
	}
	// client-go reads a QPS of 0 as its own default of 5 per second, far
	// too few for a controller; saying so beats a silently slow one.
	if o.QPS == 0 {
		errs = append(errs, errors.New("kube-api-qps must not be 0: give a positive rate, or a negative one for no client-side limit"))
	}
	if o.QPS > 0 && o.Burst < 1 {
		errs = append(errs, fmt.Errorf("kube-api-burst (%d) must be positive when kube-api-qps (%v) is", o.Burst, o.QPS))
	}
	if o.AnalysisStatusBatch < 0 {
		errs = append(errs, fmt.Errorf("analysis-status-batch (%v) must not be negative: 0 writes every measurement at once", o.AnalysisStatusBatch))
	}
	switch o.TrafficSplitAPIVersion {
	case "", "v1alpha1", "v1alpha2", "v1alpha3":
	default:
		errs = append(errs, fmt.Errorf("traffic-split-api-version %q is not one of v1alpha1, v1alpha2, v1alpha3", o.TrafficSplitAPIVersion))
	}
	if _, err := InstanceSelector(o.InstanceID); err != nil {
		errs = append(errs, fmt.Errorf("instance-id must be a label value: %w", err))
	}
	switch {
	case o.ShardsAuto:
		if !o.LeaderElection.Enabled {
			errs = append(errs, errors.New("shards auto holds shards through Leases: drop --leader-elect=false"))
		}
		if o.ShardHome >= shard.Buckets {
			errs = append(errs, fmt.Errorf("shard-home (%d) must be below %d", o.ShardHome, shard.Buckets))
		}
	default:
		if err := shard.ValidateCount(o.Shards); err != nil {
			errs = append(errs, err)
		}
		if o.Shards > 1 && !o.LeaderElection.Enabled {
			errs = append(errs, errors.New("shards above 1 are held through Leases: drop --leader-elect=false"))
		}
		if o.ShardHome >= o.Shards {
			errs = append(errs, fmt.Errorf("shard-home (%d) must be below shards (%d)", o.ShardHome, o.Shards))
		}
	}
	le := o.LeaderElection
	if le.Enabled || o.Shards > 1 || o.ShardsAuto {
		if le.ID == "" {
			errs = append(errs, errors.New("leader election needs a lease name"))
		}
		// client-go's elector refuses these too, but only once it runs; saying
		// so up front gives the user the flag names.
		if le.LeaseDuration <= le.RenewDeadline {
			errs = append(errs, fmt.Errorf("leader-elect-lease-duration (%s) must be greater than leader-elect-renew-deadline (%s)", le.LeaseDuration, le.RenewDeadline))
		}
		if le.RetryPeriod <= 0 || le.RenewDeadline <= le.RetryPeriod {
			errs = append(errs, fmt.Errorf("leader-elect-renew-deadline (%s) must be greater than leader-elect-retry-period (%s), which must be positive", le.RenewDeadline, le.RetryPeriod))
		}
	}
	return errors.Join(errs...)
}

// LeaseNamespace is where the controller's Leases live: the configured
// namespace, else the Pod's own, else kube-system outside a cluster.
func (o Options) LeaseNamespace() string {
	if o.LeaderElection.Namespace != "" {
		return o.LeaderElection.Namespace
	}
	return defaultLeaderElectionNamespace()
}

// LeaseGroup names the controller's Leases: the leader election id, with the
// instance id appended so that instances act side by side.
func (o Options) LeaseGroup() string {
	id := o.LeaderElection.ID
	if o.InstanceID != "" && id == DefaultOptions().LeaderElection.ID {
		id += "-" + o.InstanceID
	}
	return id
}
