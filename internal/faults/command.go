package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kanaria-rollouts/kanaria/config/crd"
	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
	"github.com/kanaria-rollouts/kanaria/internal/logging"
)

// ViolationsError is returned by the command when the run found
// violations, so that it exits non-zero.
type ViolationsError struct{ N int }

// Error says how many violations the run found.
func (e ViolationsError) Error() string {
	return fmt.Sprintf("%d invariant violations", e.N)
}

// NewCommand returns `kanaria bench faults`.
func NewCommand() *cobra.Command {
	var (
		cfg        Config
		jsonPath   string
		binary     string
		clusterDir string
	)
	cmd := &cobra.Command{
		Use:   "faults",
		Short: "Release Rollouts while killing the controller, restarting the API server and breaking the metrics backend",
		Long: `Run the fault suite on a local cluster of its own: N Rollouts (NGINX-routed canaries
with a background web analysis, and blue-greens with a pre-promotion analysis)
are released round after round, every Rollout once per round, until --releases
releases have ended. Every --fail-every-th release is scripted to fail its
analysis and must end Degraded; every other must end Healthy.

While a round runs, the controller is killed with SIGKILL at random moments and
restarted: in odd rounds the only controller, in even rounds the leader of two
replicas electing through a Lease. The API server is restarted --apiserver-restarts
times, spread over the rounds. The metrics backend the analyses measure errors
(odd rounds) or hangs (even rounds) for a while in every round.

A watcher follows Pods, ReplicaSets, Services, Ingresses and AnalysisRuns and
replays their changes in the API server's write order, checking that no Pod of
a Rollout is removed unless another revision has all replicas available, that
no Service (or the canary Ingress's weight) sends traffic to a revision without
an available Pod, that no Rollout gets more ReplicaSets than pod templates, and
that no AnalysisRun is created twice for one revision and purpose.

It prints releases, faults, the time from each fault to the controller's first
write after it, and every violation, and exits non-zero if there was any.`,
		Example: `  # the full suite: 200 releases of 20 Rollouts
  kanaria bench faults --releases 200

  # a quick one
  kanaria bench faults --releases 20 --rollouts 10 --apiserver-restarts 1 --json faults.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := cfg.withDefaults(); err != nil {
				return err
			}
			if cfg.Seed == 0 {
				cfg.Seed = uint64(time.Now().UnixNano())
			}
			if binary == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("locate this binary for the controller (give --controller-binary): %w", err)
				}
				binary = exe
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			watchLog, err := logging.New(os.Stderr, "error", "text")
			if err != nil {
				return err
			}
			ctrllog.SetLogger(watchLog)
			res, err := runOnLocalCluster(ctx, cfg, binary, clusterDir, os.Stderr)
			if res != nil {
				WriteReport(cmd.OutOrStdout(), res)
				if jsonPath != "" {
					b, jerr := json.MarshalIndent(res, "", "  ")
					if jerr == nil {
						jerr = os.WriteFile(jsonPath, append(b, '\n'), 0o644)
					}
					if jerr != nil {
						return fmt.Errorf("write %s: %w", jsonPath, jerr)
					}
				}
			}
			if err != nil {
				return err
			}
			if n := len(res.Violations); n > 0 {
				return ViolationsError{N: n}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&cfg.Releases, "releases", DefaultReleases, "releases in all")
	fs.IntVar(&cfg.Rollouts, "rollouts", DefaultRollouts, "Rollouts released side by side in each round")
	fs.Int32Var(&cfg.Replicas, "replicas", DefaultReplicas, "replicas of each Rollout")
	fs.IntVar(&cfg.FailEvery, "fail-every", DefaultFailEvery, "script every N-th release to fail its analysis and end Degraded")
	fs.DurationVar(&cfg.KillMin, "kill-min", DefaultKillMin, "shortest wait between two controller kills")
	fs.DurationVar(&cfg.KillMax, "kill-max", DefaultKillMax, "longest wait between two controller kills")
	fs.IntVar(&cfg.APIServerRestarts, "apiserver-restarts", 4, "API server restarts, spread over the rounds")
	fs.DurationVar(&cfg.APIServerDown, "apiserver-down", DefaultAPIServerDown, "how long the API server stays away per restart")
	fs.DurationVar(&cfg.BackendFaultFor, "backend-fault", DefaultBackendFault, "how long the metrics backend errors or hangs in each round")
	fs.DurationVar(&cfg.ReleaseTimeout, "round-timeout", DefaultReleaseTimeout, "a release not ended this long after its round started is a violation")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the fault schedule, to repeat a run (0: a new one, printed in the report)")
	fs.StringVar(&jsonPath, "json", "", "also write the result as JSON to this file")
	fs.StringVar(&binary, "controller-binary", "", "kanaria binary to run as the controller (default: this one)")
	fs.StringVar(&clusterDir, "cluster-dir", "", "keep the local cluster's data and logs here (default: a temporary directory, removed)")
	return cmd
}

// runOnLocalCluster starts a local cluster, installs the CRDs, runs the
// suite and stops the cluster.
func runOnLocalCluster(ctx context.Context, cfg Config, binary, dir string, progress io.Writer) (*Result, error) {
	fmt.Fprintln(progress, "starting a local cluster for the fault suite")
	cl, err := devcluster.Start(ctx, devcluster.Options{Name: "faults", Dir: dir, Log: progress})
	if err != nil {
		return nil, fmt.Errorf("start the local cluster: %w", err)
	}
	defer func() { _ = cl.Stop() }()
	if err := InstallCRDs(ctx, cl.RESTConfig()); err != nil {
		return nil, err
	}
	return Run(ctx, Env{
		RESTConfig:       cl.RESTConfig(),
		Kubeconfig:       cl.KubeconfigPath(),
		ControllerBinary: binary,
		RestartAPIServer: RestartLocalAPIServer(cl),
		Progress:         progress,
	}, cfg)
}

// RestartLocalAPIServer restarts the API server of a local cluster, then
// its controller manager and scheduler, whose watches have been seen to
// stay stale for minutes after an API server restart on the local cluster
// (a ReplicaSet's status no longer following its Pods, new Pods never
// scheduled), which would stall every release for reasons that are not the
// controller's. The controller under test is left alone.
func RestartLocalAPIServer(cl *devcluster.Cluster) func(context.Context, time.Duration) error {
	return func(ctx context.Context, down time.Duration) error {
		if err := cl.RestartAPIServer(ctx, down); err != nil {
			return err
		}
		for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
			if err := cl.RestartComponent(ctx, name); err != nil {
				return err
			}
		}
		return nil
	}
}

// InstallCRDs applies the embedded argoproj.io CRDs and waits until the API
// server serves them.
func InstallCRDs(ctx context.Context, rc *rest.Config) error {
	return crd.Install(ctx, rc, "kanaria-faults")
}
