// Package devcmd implements `kanaria dev`, which runs a local Kubernetes
// control plane with fake nodes for trying Kanaria out and for tests.
package devcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
)

// NewCommand returns the `dev` command with its subcommands up, down and
// kubeconfig.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local Kubernetes control plane with fake nodes",
		Long: `Run a real Kubernetes control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler) as local processes, with kwok
simulating the nodes. No container engine is needed and Pods run nothing:
ordinary Pods become Running and Ready, Job Pods succeed.

Simulated failures for experiments:
  label ` + devcluster.SimulateLabel + `=` + devcluster.SimulateFail + `          a Job's Pod exits with code 1
  label ` + devcluster.SimulateLabel + `=` + devcluster.SimulateNeverReady + `   the Pod runs but never becomes ready
  label ` + devcluster.SimulateLabel + `=` + devcluster.SimulateRunForever + `   a Job's Pod keeps running, so the Job never ends
  an image containing "` + devcluster.NeverReadyImageMarker + `"      same, e.g. registry.example/app:never-ready

The first run builds the control plane from source (several minutes); later
runs start in seconds. Data lives under the user cache directory
(` + devcluster.EnvCacheDir + ` overrides it).`,
		Example: `  # start a cluster and keep it in the foreground until Ctrl-C
  kanaria dev up

  # start one in the background, use it, stop it
  kanaria dev up --detach
  export KUBECONFIG=$(kanaria dev kubeconfig)
  kubectl get nodes
  kanaria dev down`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newUpCommand(), newDownCommand(), newKubeconfigCommand(), newToolsCommand())
	return cmd
}

type upOptions struct {
	name   string
	nodes  int
	detach bool
	noPods bool
	dir    string
}

func newUpCommand() *cobra.Command {
	o := upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local cluster",
		Long: `Start a local cluster and print how to reach it.

Without --detach the cluster runs until Ctrl-C (or SIGTERM), then it is
stopped and its data removed. With --detach the command returns once the
cluster is ready and the cluster keeps running until 'kanaria dev down'.`,
		Example: `  kanaria dev up
  kanaria dev up --detach --nodes 5
  kanaria dev up --name e2e --dir /tmp/e2e-cluster`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&o.name, "name", devcluster.DefaultName, "name of the cluster and of its kubeconfig context")
	cmd.Flags().IntVar(&o.nodes, "nodes", devcluster.DefaultNodes, "number of fake nodes")
	cmd.Flags().BoolVar(&o.detach, "detach", false, "leave the cluster running in the background and return")
	cmd.Flags().BoolVar(&o.noPods, "no-pods", false, "run without the ReplicaSet controller, so no Pod is ever created (for kanaria bench --fake-replicasets)")
	cmd.Flags().StringVar(&o.dir, "dir", "", "data directory, kept after the cluster stops (default: a per-name directory under the user cache, removed on stop)")
	return cmd
}

func runUp(ctx context.Context, o upOptions, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.nodes < 1 {
		return fmt.Errorf("--nodes must be at least 1, got %d", o.nodes)
	}
	// Ctrl-C while starting aborts the start; Start then cleans up.
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	// The per-name directory makes `dev kubeconfig` and `dev down` find a
	// foreground cluster too, not only a detached one.
	dir := o.dir
	ownDir := dir == ""
	if ownDir {
		var err error
		if dir, err = devcluster.NamedDir(o.name); err != nil {
			return err
		}
	}
	c, err := devcluster.Start(ctx, devcluster.Options{
		Name:     o.name,
		Dir:      dir,
		Nodes:    o.nodes,
		Detached: o.detach,
		Log:      stderr,
		NoPods:   o.noPods,
	})
	if err != nil {
		return fmt.Errorf("start the local cluster: %w", err)
	}
	printUsage(stdout, c, o)
	if o.detach {
		return nil
	}

	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr, "stopping the local cluster...")
	case <-c.Done():
		fmt.Fprintf(stderr, "the local cluster broke: %v\nstopping what is left of it...\n", c.Err())
	}
	err = c.Stop()
	if ownDir {
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", dir, rmErr))
		}
	}
	if err != nil {
		return fmt.Errorf("stop the local cluster: %w", err)
	}
	if c.Err() != nil {
		return fmt.Errorf("the local cluster broke: %w", c.Err())
	}
	fmt.Fprintln(stderr, "stopped")
	return nil
}

func printUsage(w io.Writer, c *devcluster.Cluster, o upOptions) {
	fmt.Fprintf(w, "\nLocal cluster %q is ready: %d nodes, data in %s\n\n", c.Name(), o.nodes, c.Dir())
	fmt.Fprintf(w, "  export KUBECONFIG=%s\n", c.KubeconfigPath())
	if b := c.Binaries(); b != nil && b.Kubectl != "" {
		// No kubectl may be installed; the one built with the cluster
		// matches its version.
		fmt.Fprintf(w, "  alias kubectl=%s    # if you have no kubectl\n", b.Kubectl)
	}
	fmt.Fprint(w, "  kubectl get nodes\n\n")
	if o.detach {
		fmt.Fprintf(w, "It keeps running in the background. Stop it with:\n\n  kanaria dev down --name %s\n", c.Name())
		return
	}
	fmt.Fprintf(w, "Press Ctrl-C to stop it%s.\n", removalNote(o))
}

func removalNote(o upOptions) string {
	if o.dir != "" {
		return " (its data stays in " + filepath.Clean(o.dir) + ")"
	}
	return " and remove its data"
}

func newDownCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop a detached local cluster and remove its data",
		Long: `Stop the processes of the named local cluster, whichever command started
it, and remove its data directory under the user cache. A data directory
given with 'dev up --dir' is kept.`,
		Example: `  kanaria dev down
  kanaria dev down --name e2e`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			err := devcluster.Down(ctx, name)
			if errors.Is(err, devcluster.ErrNotRunning) {
				// Down is idempotent; saying so is enough.
				fmt.Fprintf(cmd.ErrOrStderr(), "no local cluster named %q is running\n", name)
				return nil
			}
			if err != nil {
				return fmt.Errorf("stop local cluster %q: %w", name, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "local cluster %q stopped\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", devcluster.DefaultName, "name of the cluster")
	return cmd
}

func newKubeconfigCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the kubeconfig path of a running local cluster",
		Long: `Print the path of the admin kubeconfig of a running local cluster started
with 'kanaria dev up' (detached or not). It fails if no such cluster runs.`,
		Example: `  export KUBECONFIG=$(kanaria dev kubeconfig)
  kubectl --kubeconfig "$(kanaria dev kubeconfig --name e2e)" get pods -A`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := devcluster.Lookup(name)
			if err != nil {
				return fmt.Errorf("find local cluster: %w (start one with `kanaria dev up --name %s`)", err, name)
			}
			fmt.Fprintln(cmd.OutOrStdout(), st.Kubeconfig)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", devcluster.DefaultName, "name of the cluster")
	return cmd
}

func newToolsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "tools",
		Short: "Build the local control plane's binaries (once; later runs reuse them)",
		Long: `Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
kwok and controller-gen from the modules pinned in hack/tools into the user
cache, and print where they are. "dev up" and the tests do this on first use;
running it first shows the progress of the one slow step.`,
		Example: "  kanaria dev tools",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bins, err := devcluster.EnsureBinaries(cmd.Context(), devcluster.BuildOptions{Log: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), bins.Dir)
			return nil
		},
	}
}
