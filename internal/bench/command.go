// Package bench is `kanaria bench`: it measures a progressive-delivery
// controller serving the argoproj.io/v1alpha1 API on a live cluster. It
// releases N Rollouts of R replicas at once in one of a few scenarios,
// optionally after the same N×R with plain Deployments as a baseline, and
// reports how long the releases took, each Rollout's latency, the API
// requests made, and the controller's CPU and memory, including its memory
// per Rollout. With --churn it then keeps releasing all Rollouts, round
// after round, to follow the controller's memory and CPU over many
// revisions.
//
// The pure parts (percentiles, ratios, Prometheus text parsing and diffing,
// the table) are separate from the Runner, which takes a controller-runtime
// client and a clock so it can be tested without a cluster.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"github.com/kanaria-rollouts/kanaria/internal/logging"
	"github.com/kanaria-rollouts/kanaria/internal/version"
)

// Options is a benchmark as the command line describes it: what to run and
// where the controller under test shows its numbers.
type Options struct {
	Config
	// ControllerPID is the controller's process, for CPU and memory; 0
	// skips them. It must run on this machine.
	ControllerPID int
	// ControllerMetricsURL is the controller's Prometheus endpoint; empty
	// skips the controller's request counts.
	ControllerMetricsURL string
	// Progress receives progress lines; nil discards them.
	Progress io.Writer
	// ControllerReplicas, when it asks for any, runs the controller's replicas here
	// and measures them in place of ControllerPID and ControllerMetricsURL.
	ControllerReplicas ReplicaOptions
	// Kill, when enabled, kills one of ControllerReplicas in the middle of
	// the update phase.
	Kill KillOptions
	// BeforeCleanup is the Runner's: it receives the result before the
	// cleanup starts.
	BeforeCleanup func(*Result)
	// HoldController stops the process ControllerPID with SIGSTOP just
	// before the abort requests and continues it with SIGCONT once the
	// abort phase has ended, so that the floor handler alone acts on the
	// aborts of Rollouts the controller walked to their pause.
	HoldController bool
}

// validateHold refuses --hold-controller where it cannot do what it says.
func (o Options) validateHold() error {
	switch {
	case !o.HoldController:
		return nil
	case o.Scenario != ScenarioAbort && o.Scenario != ScenarioAbortUnderLoad:
		return fmt.Errorf("--hold-controller holds the controller during the aborts: it applies to the %s and %s scenarios, not %s", ScenarioAbort, ScenarioAbortUnderLoad, o.Scenario)
	case o.ControllerPID <= 0:
		return errors.New("--hold-controller needs the controller's process: set --controller-pid")
	case o.ControllerReplicas.Replicas > 0:
		return errors.New("--hold-controller holds the one controller of --controller-pid, not --controller-replicas")
	}
	return nil
}

// holdProcess stops pid until the returned release continues it. A stopped
// controller still holds its connections, so the API server sees the same
// clients as before; it simply reads and writes nothing until continued.
func holdProcess(pid int) func(context.Context) (func(), error) {
	return func(context.Context) (func(), error) {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			return nil, fmt.Errorf("stopping process %d: %w", pid, err)
		}
		return func() { _ = syscall.Kill(pid, syscall.SIGCONT) }, nil
	}
}

// Client rate limits of the benchmark's own client. client-go's defaults
// (5/s, burst 10) would make creating a few hundred objects take a minute
// and measure the benchmark's limiter instead of the controller.
const (
	benchQPS   = 1000
	benchBurst = 2000
)

// Run runs a benchmark against the cluster of rc with the clients, scrapers
// and /proc reader the options call for.
func Run(ctx context.Context, rc *rest.Config, o Options) (*Result, error) {
	cfg, err := o.Config.withDefaults()
	if err != nil {
		return nil, err
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = benchQPS, benchBurst
	rc.UserAgent = "kanaria-bench/" + version.Version
	// Counting our own requests lets the report say how much of the API
	// server's total is the benchmark rather than the controller.
	var own atomic.Int64
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt: rt, n: &own} })

	scheme, err := controller.NewScheme()
	if err != nil {
		return nil, fmt.Errorf("building the API scheme: %w", err)
	}
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	if err := apiServed(ctx, kube.Discovery(), 30*time.Second, time.Second); err != nil {
		return nil, err
	}
	// Waiting phases read a cache of the benchmark's namespace that watches
	// keep current: the API server then sends each change once, instead of
	// serialising every object for every poll, and the load the benchmark
	// adds while it measures is the watch events alone.
	observer, err := newWatchCaches(rc, scheme, cfg.Namespace, cfg.parts())
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		// Start returns when ctx ends; an error before that means no watch
		// could run, and the polls that need it report their own errors.
		if err := observer.Start(ctx); err != nil && ctx.Err() == nil && o.Progress != nil {
			fmt.Fprintf(o.Progress, "the benchmark's watch cache stopped: %v\n", err)
		}
	}()
	if cfg.FakeReplicaSets > 0 {
		faker := &ReplicaSetFaker{Client: c, Delay: cfg.FakeReplicaSets, Workers: cfg.Concurrency}
		observe := func(o any) {
			if rs, ok := o.(*appsv1.ReplicaSet); ok {
				faker.Observe(rs)
			}
		}
		if err := observer.AddEventHandler(ctx, &appsv1.ReplicaSet{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    observe,
			UpdateFunc: func(_, o any) { observe(o) },
		}); err != nil {
			return nil, fmt.Errorf("watching ReplicaSets for --fake-replicasets: %w", err)
		}
		go faker.Run(ctx)
	}
	firstWrites, err := watchFirstWrites(ctx, observer)
	if err != nil {
		return nil, err
	}
	var replicas *Replicas
	if o.ControllerReplicas.Replicas > 0 {
		ro := o.ControllerReplicas
		ro.Namespace = cfg.Namespace
		if ro.LogDir == "" {
			if ro.LogDir, err = os.MkdirTemp("", "kanaria-bench-replicas-"); err != nil {
				return nil, fmt.Errorf("creating the replicas' log directory: %w", err)
			}
		}
		if ro.LeaseGroup == "" {
			if ro.LeaseGroup, err = newLeaseGroup(); err != nil {
				return nil, err
			}
		}
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "starting %d controller replicas with --shards %d, Lease group %s in %s (logs in %s)\n",
				ro.Replicas, ro.Shards, ro.LeaseGroup, leaseNamespace, ro.LogDir)
		}
		if replicas, err = StartReplicas(ctx, kube, ro); err != nil {
			return nil, err
		}
		defer replicas.Stop()
	}
	r := &Runner{
		Client:           c,
		Observer:         observer,
		FirstWrites:      firstWrites,
		Config:           o.Config,
		APIServerMetrics: APIServerScraper(kube.Discovery().RESTClient()),
		OwnRequests:      own.Load,
		Progress:         o.Progress,
		BeforeCleanup:    o.BeforeCleanup,
	}
	if o.HoldController {
		r.HoldController = holdProcess(o.ControllerPID)
	}
	// A stopped controller answers no scrape: each would wait for its
	// timeout inside the abort phase.
	if o.ControllerMetricsURL != "" && !o.HoldController {
		r.ControllerMetrics = HTTPScraper(o.ControllerMetricsURL, &http.Client{Timeout: 30 * time.Second})
		r.QueueSampleInterval = DefaultQueueSampleInterval
	}
	if o.ControllerPID > 0 {
		r.Process = ProcFS{PID: o.ControllerPID}
	}
	if replicas != nil && o.Kill.Enabled() {
		r.DuringUpdate = func(ctx context.Context) []string {
			return killDuringUpdate(ctx, replicas, kube, o.Kill)
		}
	}
	if replicas != nil {
		r.ControllerMetrics, r.Process = replicas.Scraper(), replicas.Process()
		r.AfterCreate = func(ctx context.Context) []string {
			return append([]string{"after the create phase:"}, replicas.Describe(ctx, kube)...)
		}
	}
	res, err := r.Run(ctx)
	if res != nil && replicas != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("%d controller replicas with --shards %d ran here: requests, CPU and memory are their sums", o.ControllerReplicas.Replicas, o.ControllerReplicas.Shards))
		res.Notes = append(res.Notes, "at the end:")
		res.Notes = append(res.Notes, replicas.Describe(ctx, kube)...)
	}
	if res != nil && o.Kill.Enabled() && err == nil {
		rs, runs, cerr := ObjectsPerRollout(ctx, c, cfg.Namespace, names(cfg.Rollouts, rolloutName))
		if cerr != nil {
			err = cerr
		} else {
			res.FailOver = &FailOver{Replica: o.Kill.Replica, AfterSeconds: o.Kill.After.Seconds(),
				ReplicaSetsPerRollout: rs, AnalysisRunsPerRollout: runs}
			res.Notes = append(res.Notes, "after the fail-over, ReplicaSets per Rollout: "+describeCounts(rs)+
				"; AnalysisRuns per Rollout: "+describeCounts(runs),
				"the controllers' request counts leave out the killed replica's, which died with it")
			if len(rs) != 1 || rs[2] != cfg.Rollouts {
				err = fmt.Errorf("after the fail-over not every Rollout has exactly its old and its new ReplicaSet: %s", describeCounts(rs))
			}
			if len(runs) != 1 {
				err = errors.Join(err, fmt.Errorf("after the fail-over the Rollouts have different numbers of AnalysisRuns: %s", describeCounts(runs)))
			}
		}
	}
	if res != nil && cfg.FakeReplicaSets > 0 {
		res.Notes = append(res.Notes, describeFaker(cfg.FakeReplicaSets))
	}
	return res, err
}

// watchFirstWrites feeds a FirstWrites from the watch cache's events of
// Rollouts and ReplicaSets.
func watchFirstWrites(ctx context.Context, observer *watchCaches) (*FirstWrites, error) {
	f := &FirstWrites{}
	onRollout := func(o any) {
		if ro, ok := o.(*v1alpha1.Rollout); ok {
			f.Rollout(ro)
		}
	}
	if err := observer.AddEventHandler(ctx, &v1alpha1.Rollout{}, toolscache.ResourceEventHandlerFuncs{
		AddFunc:    onRollout,
		UpdateFunc: func(_, o any) { onRollout(o) },
	}); err != nil {
		return nil, fmt.Errorf("watching Rollouts for the first writes: %w", err)
	}
	if err := observer.AddEventHandler(ctx, &appsv1.ReplicaSet{}, toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if rs, ok := o.(*appsv1.ReplicaSet); ok {
				f.ReplicaSet(nil, rs)
			}
		},
		UpdateFunc: func(old, o any) {
			prev, ok1 := old.(*appsv1.ReplicaSet)
			rs, ok2 := o.(*appsv1.ReplicaSet)
			if ok1 && ok2 {
				f.ReplicaSet(prev, rs)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watching ReplicaSets for the first writes: %w", err)
	}
	return f, nil
}

// countingTransport counts the requests that go through it.
type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.rt.RoundTrip(req)
}

// NewCommand returns `kanaria bench`.
func NewCommand() *cobra.Command {
	var (
		o          = Options{Config: Config{Baseline: true}}
		scenario   string
		jsonPath   string
		kubeconfig string
		overrides  clientcmd.ConfigOverrides
		repeat     int
		update     bool
		history    int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the controller: release N Rollouts at once and time them",
		Long: `Measure the progressive-delivery controller of a cluster. The benchmark creates
N Rollouts of R replicas in a namespace, waits until all are Healthy, changes
the template of all at once and waits again (or, for abort, aborts them all),
and reports the times, each Rollout's latency (p50/p90/p99/max), the API
requests of each phase, and the controller's CPU and memory.

It uses only the argoproj.io/v1alpha1 API and core objects, so it measures any
controller that serves that API; it never starts one. Point it at the
controller's metrics (--controller-metrics-url) and, when the controller runs
on this machine, its process (--controller-pid).

Scenarios:
  canary     steps setWeight 25, pause 1s, setWeight 75, pause 1s; no router
  bluegreen  active and preview Services, automatic promotion, no scale-down delays
  abort      setWeight 50 then an indefinite pause; all aborted at once, timed until
             the stable Service selects the stable revision and the canary is at 0
             (its ReplicaSet scaled to 0, or with --traffic-router its weight 0)
  analysis   canary with a background web analysis every 1s against an endpoint
             this command serves on 127.0.0.1 (the controller must reach it)
  abort-under-load
             --aborts M of the N Rollouts (default half) are abort Rollouts, paused
             at 50%; the others are canary Rollouts. The canaries' template change
             goes out first and 500ms later the M aborts, timed as in abort while
             the releases run; then the releases are timed until Healthy from
             their change. Compare a controller run with --rollout-priority=false.

--traffic-router nginx puts every canary (all scenarios but bluegreen)
behind an NGINX canary Ingress: the benchmark creates a stable Ingress and the
stable and canary Services per Rollout, the controller writes the canary
Ingress's weight. Ingresses are a core API, so no ingress controller needs to
run: the benchmark reads the weights the controller wrote.

Unless --baseline=false, the same N×R runs first as plain Deployments, and each
Rollout time is also shown as a ratio to the Deployment time. Progress goes to
stderr, the table to stdout.

With --controller-pid, the controller's RSS is also read just before the
Rollouts are created and just after all are Healthy (each point the median of
5 readings 200ms apart, as Go's garbage collector makes one reading noisy), and
the difference divided by N is reported as the memory per Rollout.

--settle DURATION then leaves the Rollouts idle that long and reads the
controller's memory right away and every minute: RSS and RssAnon, and from its
/metrics the Go runtime's own figures (heap the last collection kept, heap
objects, fragmentation, free pages kept and returned, heap goal, stacks,
collections). The last reading less the one before the create, divided by N,
is the settled memory per Rollout: what an idle Rollout costs once the
collector and the scavenger have caught up with the creation burst.

--fake-replicasets DELAY measures the controller without Pod churn: on a
cluster started with "kanaria dev up --no-pods" (no ReplicaSet controller, so
no Pod is ever created) the benchmark itself gives each ReplicaSet of its
namespace its desired replicas as ready and available DELAY after each change.
The Deployment baseline then measures the Deployment controller the same way.

--repeat K runs the whole benchmark K times, baseline and Rollouts
alternating on the same cluster, deleting the objects after each run, and
ends with each phase's median ratio to the Deployment baseline, its smallest
and largest value, and every run's. One run's ratio moves with the baseline,
which itself varies from run to run on a busy machine; quote medians.

When --timeout or Ctrl-C ends a phase early, the table and --json still report
it, marked interrupted, with what it measured until then: the objects done and
their latencies, its time so far, and the controller's requests, CPU and
memory; an interrupted phase gets no ratio to the baseline. --cleanup sends a
delete again (up to 5 times, waiting 1 s, 2 s, 4 s, 8 s) when the API server
resets its stream (HTTP/2 INTERNAL_ERROR), times out or throttles it, as it
can while deleting thousands of objects. It deletes the Rollouts first and the
Ingresses and Services they route through once the Rollouts are gone (waiting
at most 2 minutes), so the controller does not recreate canary Ingresses
during the clean-up.

--churn DURATION keeps releasing after the update: round after round, every
Rollout's pod-template annotation kanaria.dev/bench-round is set to the round
number, a new revision each time, and the round waits until all are Healthy on
it. No round starts after DURATION; the one in progress finishes. Each round's
time, the controller's RSS and RssAnon, the heap its last garbage collection
kept (go_gc_heap_live_bytes, from --controller-metrics-url) and its CPU since
the churn started are reported, with the growth of each from before the first
round to after the last and the RSS peak (VmHWM), to show leaks and slowdowns
that one release does not; a growing heap live is what the controller keeps,
RSS alone also moves with the collector's margin. Each round leaves one more
old ReplicaSet per Rollout until revisionHistoryLimit (10 unless set) is
reached, so memory grows for that many rounds by design: --revision-history-limit
K makes every Rollout and Deployment keep K, and the history is full after K
rounds. The Deployment baseline
does not churn; --timeout bounds the whole run, churn included, and the abort
scenario cannot churn.`,
		Example: `  # 200 canaries of 2 replicas against the controller on this machine
  kanaria bench --scenario canary -n 200 -r 2 --controller-pid $(pgrep -f 'kanaria controller') --json out.json --cleanup

  # abort latency without the Deployment baseline
  kanaria bench --scenario abort -n 100 -r 2 --baseline=false

  # abort latency of the traffic, 200 canaries behind NGINX Ingresses, observed every 100ms
  kanaria bench --scenario abort -n 200 -r 2 --baseline=false --traffic-router nginx

  # 100 aborts behind NGINX while 100 other canaries release
  kanaria bench --scenario abort-under-load -n 200 --aborts 100 -r 2 --baseline=false --traffic-router nginx

  # the median ratio to Deployments over 3 alternating runs
  kanaria bench --scenario canary -n 200 -r 2 --repeat 3 --cleanup --json repeat.json

  # settled memory per idle Rollout: 2,000 created, then 5 idle minutes, no release
  kanaria bench --scenario canary -n 2000 -r 1 --baseline=false --fake-replicasets 1s --update=false --settle 5m --controller-pid $(pgrep -f 'kanaria controller')

  # memory per Rollout, then 20 minutes of back-to-back releases of all 100 to watch for growth,
  # each Rollout keeping 2 old ReplicaSets so the history is full after the second round
  kanaria bench --scenario canary -n 100 -r 1 --controller-pid $(pgrep -f 'kanaria controller') --churn 20m --timeout 40m --revision-history-limit 2 --json churn.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Scenario = Scenario(scenario)
			o.NoUpdate = !update
			limit, err := historyLimit(history)
			if err != nil {
				return err
			}
			o.RevisionHistoryLimit = limit
			// Bad flags are reported before anything touches the cluster.
			if _, err := o.Config.withDefaults(); err != nil {
				return err
			}
			if err := o.Kill.validate(o.ControllerReplicas, o.Scenario, update); err != nil {
				return err
			}
			if err := checkRepeat(repeat, o.Config); err != nil {
				return err
			}
			if err := o.validateHold(); err != nil {
				return err
			}
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			if o.ControllerReplicas.Kubeconfig = kubeconfig; kubeconfig == "" {
				o.ControllerReplicas.Kubeconfig = os.Getenv("KUBECONFIG")
			}
			rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &overrides).ClientConfig()
			if err != nil {
				return fmt.Errorf("loading Kubernetes client configuration (set --kubeconfig or $KUBECONFIG, or pick a --context): %w", err)
			}
			// Ctrl-C ends the run early but still cleans up and reports
			// what was measured.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Progress = os.Stderr
			// The watches behind the waiting phases log through
			// controller-runtime; only their errors (a watch the cluster
			// refuses, say) are worth a line among the progress.
			watchLog, err := logging.New(os.Stderr, "error", "text")
			if err != nil {
				return err
			}
			ctrllog.SetLogger(watchLog)
			if repeat > 1 {
				// Every run starts from an empty namespace and leaves it so.
				o.Cleanup = true
				rep, runErr := RunRepeated(ctx, repeat, func(ctx context.Context, i int) (*Result, error) {
					fmt.Fprintf(os.Stderr, "run %d of %d\n", i+1, repeat)
					res, err := Run(ctx, rc, o)
					if res != nil {
						if werr := WriteTable(cmd.OutOrStdout(), res); werr != nil {
							return res, errors.Join(err, werr)
						}
					}
					return res, err
				})
				if err := WriteRepeatedSummary(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
				if jsonPath != "" {
					if err := writeJSON(jsonPath, rep); err != nil {
						return err
					}
				}
				return runErr
			}
			if jsonPath != "" {
				// Written again once the cleanup is over; this copy is
				// for a run stopped for good while it deletes.
				o.BeforeCleanup = func(res *Result) {
					if err := writeJSON(jsonPath, res); err != nil {
						fmt.Fprintf(os.Stderr, "writing the result before the cleanup: %v\n", err)
					}
				}
			}
			res, runErr := Run(ctx, rc, o)
			if res == nil {
				return runErr
			}
			if err := WriteTable(cmd.OutOrStdout(), res); err != nil {
				return err
			}
			if jsonPath != "" {
				if err := writeJSON(jsonPath, res); err != nil {
					return err
				}
			}
			return runErr
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&scenario, "scenario", string(ScenarioCanary), "what to release: "+strings.Join(scenarioNames(), ", "))
	fs.IntVarP(&o.Rollouts, "rollouts", "n", 10, "number of Rollouts (and baseline Deployments) N")
	fs.Int32VarP(&o.Replicas, "replicas", "r", 2, "replicas R of each")
	fs.StringVar(&o.Namespace, "namespace", DefaultNamespace, "namespace of the benchmark's objects; created when missing")
	fs.IntVar(&o.ControllerPID, "controller-pid", 0, "PID of the controller on this machine, for its CPU and memory")
	fs.StringVar(&o.ControllerMetricsURL, "controller-metrics-url", "http://127.0.0.1:8090/metrics", "the controller's Prometheus endpoint, for its API requests; empty to skip")
	fs.StringVar(&jsonPath, "json", "", "also write the result as JSON to this file")
	fs.BoolVar(&o.Cleanup, "cleanup", false, "delete the benchmark's objects at the end (and an earlier run's at the start)")
	fs.DurationVar(&o.Timeout, "timeout", DefaultTimeout, "give up after this long")
	fs.BoolVar(&o.Baseline, "baseline", true, "first run the same N×R with plain Deployments for comparison")
	fs.DurationVar(&o.PollInterval, "poll-interval", 0, "how often a waiting phase checks what its watches have seen of the cluster: the resolution of the latencies (default 100ms per started 1,000 Rollouts)")
	fs.StringVar(&o.Image, "image", DefaultImage, "container image of the first revision")
	fs.StringVar(&o.UpdateImage, "update-image", DefaultUpdateImage, "container image the template change sets")
	fs.StringVar(&o.Router, "traffic-router", "", "route the canaries' traffic through this router instead of by Pod counts: "+strings.Join(Routers, ", "))
	fs.IntVar(&repeat, "repeat", 1, "run the whole benchmark this many times, baseline and Rollouts alternating, and report each phase's median ratio to the baseline and its spread")
	fs.IntVar(&o.Aborts, "aborts", 0, "abort-under-load: how many of the N Rollouts are aborted while the others release (0 = half)")
	fs.DurationVar(&o.FakeReplicaSets, "fake-replicasets", 0, "on a cluster without the ReplicaSet controller (kanaria dev up --no-pods), give each ReplicaSet its desired replicas as available this long after each change, so no Pod exists (0 = off)")
	fs.IntVar(&o.WatchPartSize, "watch-part-size", DefaultWatchPartSize, "watch the Rollouts, Deployments and ReplicaSets in groups of at most this many, each with a label kanaria.dev/bench-part on the objects and their Pod templates, so that no list the benchmark's watches make is too large for a loaded API server to send in time")
	fs.IntVar(&o.ControllerReplicas.Replicas, "controller-replicas", 0, "run this many controller replicas of this binary here, split with --shards, and measure them instead of --controller-pid/--controller-metrics-url; their Leases, in kube-system, are of a group of this run's own, deleted when they stop (0 = measure the controller those point at)")
	fs.IntVar(&o.ControllerReplicas.Shards, "shards", 1, "with --controller-replicas, the --shards of each replica")
	fs.IntVar(&o.Kill.Replica, "kill-replica", -1, "with --controller-replicas, kill this replica (numbered from 0) with SIGKILL during the update phase, and check that every release still finishes with no extra ReplicaSet or AnalysisRun (-1 = none)")
	fs.DurationVar(&o.Kill.After, "kill-after", 0, "with --kill-replica, how long after the update phase starts the replica is killed")
	fs.BoolVar(&update, "update", true, "release every Rollout after creating them; false stops after the create phase, to measure N idle Rollouts")
	fs.DurationVar(&o.Settle, "settle", 0, "after the create, leave the Rollouts idle this long and read the controller's memory (RSS and the Go runtime's figures from its /metrics) every minute of it, for the settled memory per Rollout (0 = off)")
	fs.BoolVar(&o.HoldController, "hold-controller", false, "abort scenarios: stop the controller of --controller-pid (SIGSTOP) just before the abort requests and continue it (SIGCONT) once the abort phase has ended, so that `kanaria bench abort-floor` alone answers the aborts; its metrics are not scraped")
	fs.IntVar(&history, "revision-history-limit", -1, "revisionHistoryLimit of every Rollout and baseline Deployment: how many old ReplicaSets each keeps (-1 = leave it unset, so the default of 10 applies)")
	fs.DurationVar(&o.Churn, "churn", 0, "after the update, keep releasing all Rollouts round after round for this long, to watch the controller's memory and CPU (0 = off)")

	// kubectl's connection flags, as the other commands bind them, except
	// --namespace: here -n is the number of Rollouts, as the benchmark's
	// usage has it, and the namespace defaults to "bench" rather than the
	// kubeconfig's, so a benchmark never lands among real workloads.
	fs.StringVar(&kubeconfig, "kubeconfig", "", "path to the kubeconfig file to use for CLI requests")
	names := clientcmd.RecommendedConfigOverrideFlags("")
	names.ContextOverrideFlags.Namespace = clientcmd.FlagInfo{}
	clientcmd.BindOverrideFlags(&overrides, fs, names)
	for _, name := range []string{clientcmd.FlagUsername, clientcmd.FlagPassword} {
		_ = fs.MarkHidden(name)
	}
	return cmd
}

func scenarioNames() []string {
	out := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		out[i] = string(s)
	}
	return out
}

// historyLimit turns --revision-history-limit into the Config's field:
// -1, the default, leaves the objects' field unset.
func historyLimit(v int) (*int32, error) {
	switch {
	case v == -1:
		return nil, nil
	case v < -1 || v > math.MaxInt32:
		return nil, fmt.Errorf("--revision-history-limit must be -1 (unset) or between 0 and %d, not %d", math.MaxInt32, v)
	}
	return ptr(int32(v)), nil
}

// checkRepeat refuses --repeat values that cannot give a median ratio.
func checkRepeat(k int, c Config) error {
	switch {
	case k < 1:
		return fmt.Errorf("--repeat must be at least 1, not %d", k)
	case k == 1:
		return nil
	case !c.Baseline:
		return errors.New("--repeat compares with the Deployment baseline: it cannot run with --baseline=false")
	case c.Churn > 0:
		return errors.New("--repeat and --churn do not go together: churn already repeats releases within one run")
	}
	return nil
}

func writeJSON(path string, res any) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the result: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
