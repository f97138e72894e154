// Package view implements the read-only commands of the kanaria CLI:
// `get rollout`, `get experiment`, `list rollouts` and `list experiments`.
//
// The work is split in three so that each part can be tested alone:
// fetching (fetch.go) reads the cluster and hands the objects to the shared
// read model (internal/rolloutview), which resolves ownership, revisions,
// roles, steps and weights; fetch.go copies its view into a plain snapshot
// (Tree, Experiment, RolloutSummary);
// rendering (render.go) is a pure function of a snapshot and RenderOptions;
// watching (watch.go) follows Kubernetes watches and re-fetches and redraws
// when something changed.
package view

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// KubeFlags are kubectl's connection flags, under kubectl's names, so that
// the commands work the same as a kanaria binary and as a kubectl plugin.
type KubeFlags struct {
	// Kubeconfig is the path of the kubeconfig file; empty uses $KUBECONFIG or ~/.kube/config.
	Kubeconfig string
	// Context is the kubeconfig context; empty uses the current one.
	Context string
	// Namespace overrides the context's namespace.
	Namespace string
}

// AddFlags registers --kubeconfig, --context and -n/--namespace.
func (f *KubeFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file; empty uses $KUBECONFIG or ~/.kube/config")
	fs.StringVar(&f.Context, "context", "", "name of the kubeconfig context to use")
	fs.StringVarP(&f.Namespace, "namespace", "n", "", "namespace to look in; empty uses the context's namespace")
}

// ClientFactory connects to the cluster the flags select. It returns a
// client that can also watch, and the namespace to work in: the -n flag, or
// else the kubeconfig context's namespace. Tests pass one that returns a
// controller-runtime fake client.
type ClientFactory func(flags *KubeFlags) (client.WithWatch, string, error)

// Options let callers and tests replace the pieces that touch the outside
// world; a zero field takes the production default.
type Options struct {
	// NewClient connects to the cluster; nil means DefaultClientFactory.
	NewClient ClientFactory
	// Now gives the time ages are measured against; nil means time.Now.
	Now func() time.Time
}

// Commands returns the `get` and `list` commands, connected to the cluster
// of the kubeconfig.
func Commands() []*cobra.Command { return NewCommands(Options{}) }

// NewCommands returns the `get` and `list` commands with the given options.
func NewCommands(opts Options) []*cobra.Command {
	if opts.NewClient == nil {
		opts.NewClient = DefaultClientFactory
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return []*cobra.Command{newGetCommand(opts), newListCommand(opts)}
}

// DefaultClientFactory loads the kubeconfig the way kubectl does (falling
// back to the in-cluster service account) and builds a client for the
// built-in types and argoproj.io/v1alpha1.
func DefaultClientFactory(f *KubeFlags) (client.WithWatch, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.Kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{
		CurrentContext: f.Context,
		Context:        clientcmdapi.Context{Namespace: f.Namespace},
	})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the kubeconfig (point --kubeconfig or $KUBECONFIG at one, or pick --context): %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the namespace of the kubeconfig context (use -n): %w", err)
	}
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, "", fmt.Errorf("registering Kubernetes types: %w", err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, "", fmt.Errorf("registering argoproj.io/v1alpha1 types: %w", err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, "", fmt.Errorf("creating the Kubernetes client for %s: %w", cfg.Host, err)
	}
	return c, ns, nil
}

// env is the state one top-level command (get or list) shares with its
// subcommands: the options and the persistent flags.
type env struct {
	opts    Options
	kube    KubeFlags
	noColor bool
}

func (e *env) addFlags(cmd *cobra.Command) {
	e.kube.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().BoolVar(&e.noColor, "no-color", false, "never colour the output (it is coloured only on a terminal anyway; NO_COLOR is honoured too)")
}

func (e *env) connect() (client.WithWatch, string, error) {
	c, ns, err := e.opts.NewClient(&e.kube)
	if err != nil {
		return nil, "", err
	}
	if ns == "" {
		ns = "default"
	}
	return c, ns, nil
}

func (e *env) renderOptions(out io.Writer) RenderOptions {
	return RenderOptions{Now: e.opts.Now(), Color: useColor(out, e.noColor)}
}

func newGetCommand(opts Options) *cobra.Command {
	e := &env{opts: opts}
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show a Rollout or an Experiment with the objects under it",
		Long: `Show one Rollout or Experiment: a summary of its state, then its revisions,
ReplicaSets, Pods, AnalysisRuns and Jobs as a tree. With -w the view is
redrawn whenever one of those objects changes.`,
		Example: `  kanaria get rollout checkout
  kanaria get rollout checkout -n shop -w
  kanaria get experiment checkout-7d9f8-2-1`,
		Args: cobra.NoArgs,
	}
	e.addFlags(cmd)
	cmd.AddCommand(newGetRolloutCommand(e), newGetExperimentCommand(e))
	return cmd
}

func newGetRolloutCommand(e *env) *cobra.Command {
	var watchFlag bool
	cmd := &cobra.Command{
		Use:     "rollout NAME",
		Aliases: []string{"ro", "rollouts"},
		Short:   "Show a Rollout, its revisions, ReplicaSets, Pods and AnalysisRuns",
		Long: `Show a Rollout: its status and message, strategy, current step and canary
weights, the images it runs with their roles (stable, canary, active,
preview) and its replica counts; then, newest revision first, each
revision's ReplicaSets with their Pods and the AnalysisRuns and Experiments
made for it.

Status icons: ✔ healthy or successful, ◌ progressing or running, ॥ paused,
✖ degraded or failed, ⚠ error, ? inconclusive, • scaled down.

With -w the command follows Kubernetes watches on the Rollout and the
objects it owns and redraws the view on every change, until Ctrl-C.`,
		Example: `  # the state of the checkout Rollout in the current namespace
  kanaria get rollout checkout

  # follow it through a release in namespace shop
  kanaria get rollout checkout -n shop -w

  # without colours, e.g. to paste into an issue
  kanaria get rollout checkout --no-color`,
		Args: nameArg("rollout", "list rollouts"),
		RunE: e.getRunE(&watchFlag, rolloutWatches, func(ctx context.Context, c client.Reader, ns, name string, w io.Writer, ro RenderOptions) error {
			t, err := FetchRollout(ctx, c, ns, name, ro.Now)
			if err != nil {
				return err
			}
			return Render(w, t, ro)
		}),
	}
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, "redraw on every change until Ctrl-C")
	return cmd
}

func newGetExperimentCommand(e *env) *cobra.Command {
	var watchFlag bool
	cmd := &cobra.Command{
		Use:     "experiment NAME",
		Aliases: []string{"exp", "experiments"},
		Short:   "Show an Experiment, its ReplicaSets, Pods and AnalysisRuns",
		Long: `Show an Experiment: its status and message, then its ReplicaSets (one per
template) with their Pods, and its AnalysisRuns with their Jobs. With -w the
view is redrawn on every change until Ctrl-C.`,
		Example: `  kanaria get experiment checkout-7d9f8-2-1
  kanaria get experiment checkout-7d9f8-2-1 -n shop -w`,
		Args: nameArg("experiment", "list experiments"),
		RunE: e.getRunE(&watchFlag, experimentWatches, func(ctx context.Context, c client.Reader, ns, name string, w io.Writer, ro RenderOptions) error {
			ex, err := FetchExperiment(ctx, c, ns, name, ro.Now)
			if err != nil {
				return err
			}
			return RenderExperiment(w, ex, ro)
		}),
	}
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, "redraw on every change until Ctrl-C")
	return cmd
}

// getRunE runs a `get` subcommand: draw the named object once, or with -w
// redraw it on every change of the objects watches names. The rollout and
// experiment views differ only in what they fetch and draw.
func (e *env) getRunE(watchFlag *bool, watches func(ns, name string) []watchSpec,
	show func(ctx context.Context, c client.Reader, ns, name string, w io.Writer, ro RenderOptions) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, ns, err := e.connect()
		if err != nil {
			return err
		}
		name, out := args[0], cmd.OutOrStdout()
		draw := func(ctx context.Context, w io.Writer) error {
			return show(ctx, c, ns, name, w, e.renderOptions(out))
		}
		if !*watchFlag {
			return draw(cmd.Context(), out)
		}
		return watchAndDraw(cmd.Context(), c, watches(ns, name), draw, newScreen(out))
	}
}

func newListCommand(opts Options) *cobra.Command {
	e := &env{opts: opts}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List Rollouts or Experiments",
		Example: `  kanaria list rollouts
  kanaria list rollouts -A -w
  kanaria list experiments -n shop`,
		Args: cobra.NoArgs,
	}
	e.addFlags(cmd)
	cmd.AddCommand(newListRolloutsCommand(e), newListExperimentsCommand(e))
	return cmd
}

// listKind describes one `list` subcommand; the rollout and experiment
// tables differ only in what they fetch and how they draw it.
type listKind struct {
	use, short, long, example string
	aliases                   []string
	// plural names the objects in messages and flag help.
	plural string
	// watch is what -w watches.
	watch watchSpec
	// fetch reads the rows and returns how many there are and how to draw them.
	fetch func(ctx context.Context, c client.Reader, ns string, now time.Time) (int, func(io.Writer, RenderOptions) error, error)
}

func newListRolloutsCommand(e *env) *cobra.Command {
	return newListKindCommand(e, listKind{
		use:     "rollouts",
		aliases: []string{"ro", "rollout"},
		short:   "List Rollouts with their strategy, status, step, weight and replica counts",
		long: `List the Rollouts of a namespace (-A: of every namespace) as a table:
strategy, status, canary step and weight, ready/current Pods and the desired,
up-to-date and available counts. With -w the table is redrawn whenever a
Rollout changes, until Ctrl-C.`,
		example: `  kanaria list rollouts
  kanaria list rollouts -n shop
  kanaria list rollouts -A -w`,
		plural: "rollouts",
		watch:  watchSpec{kind: "Rollouts", list: &v1alpha1.RolloutList{}},
		fetch: func(ctx context.Context, c client.Reader, ns string, _ time.Time) (int, func(io.Writer, RenderOptions) error, error) {
			rows, err := FetchRolloutList(ctx, c, ns)
			return len(rows), func(w io.Writer, ro RenderOptions) error { return RenderRolloutList(w, rows, ro) }, err
		},
	})
}

func newListExperimentsCommand(e *env) *cobra.Command {
	return newListKindCommand(e, listKind{
		use:     "experiments",
		aliases: []string{"exp", "experiment"},
		short:   "List Experiments with their status, duration and remaining time",
		example: `  kanaria list experiments
  kanaria list experiments -A`,
		plural: "experiments",
		watch:  watchSpec{kind: "Experiments", list: &v1alpha1.ExperimentList{}},
		fetch: func(ctx context.Context, c client.Reader, ns string, now time.Time) (int, func(io.Writer, RenderOptions) error, error) {
			rows, err := FetchExperimentList(ctx, c, ns, now)
			return len(rows), func(w io.Writer, ro RenderOptions) error { return RenderExperimentList(w, rows, ro) }, err
		},
	})
}

// newListKindCommand builds a `list` subcommand from its kind.
func newListKindCommand(e *env, k listKind) *cobra.Command {
	var watchFlag, all bool
	cmd := &cobra.Command{
		Use:     k.use,
		Aliases: k.aliases,
		Short:   k.short,
		Long:    k.long,
		Example: k.example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := e.connect()
			if err != nil {
				return err
			}
			if all {
				ns = ""
			}
			out := cmd.OutOrStdout()
			draw := func(ctx context.Context, w io.Writer) error {
				ro := e.renderOptions(out)
				n, render, err := k.fetch(ctx, c, ns, ro.Now)
				if err != nil {
					return err
				}
				if n == 0 && !watchFlag {
					// An empty table looks like a failure; say where we looked.
					_, err := fmt.Fprintf(cmd.ErrOrStderr(), "No %s found in %s.\n", k.plural, where(ns))
					return err
				}
				ro.AllNamespaces = all
				return render(w, ro)
			}
			if !watchFlag {
				return draw(cmd.Context(), out)
			}
			spec := k.watch
			spec.opts = []client.ListOption{client.InNamespace(ns)}
			return watchAndDraw(cmd.Context(), c, []watchSpec{spec}, draw, newScreen(out))
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the "+k.plural+" of every namespace")
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, "redraw on every change until Ctrl-C")
	return cmd
}

// nameArg requires exactly one NAME and, when it is missing, says how to
// find one. The program name comes from the root's Use so the hint is right
// both as kanaria and as "kubectl kanaria".
func nameArg(kind, listVerb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch len(args) {
		case 1:
			return nil
		case 0:
			return fmt.Errorf("which %s? give its name, e.g. %s %s NAME (see the names with: %s %s)",
				kind, cmd.Root().Use, "get "+kind, cmd.Root().Use, listVerb)
		}
		return fmt.Errorf("give one %s name, not %d", kind, len(args))
	}
}

func where(ns string) string {
	if ns == "" {
		return "any namespace"
	}
	return fmt.Sprintf("namespace %q (use -n to pick another, or -A for all)", ns)
}
