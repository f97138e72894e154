package abortfloor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"github.com/kanaria-rollouts/kanaria/internal/logging"
	"github.com/kanaria-rollouts/kanaria/internal/version"
)

// Options is how the floor handler runs.
type Options struct {
	// Namespace is whose Rollouts it watches.
	Namespace string
	// Workers is how many Ingress writes may be in flight.
	Workers int
	// QPS and Burst bound its client as the controller's are bounded.
	QPS   float32
	Burst int
	// SeparateWatchConnection gives the watches an HTTP connection of
	// their own instead of sharing the writes' one, as the controller's
	// manager shares it.
	SeparateWatchConnection bool
}

// NewCommand returns `kanaria bench abort-floor`.
func NewCommand() *cobra.Command {
	def := controller.DefaultOptions()
	o := Options{Namespace: "bench", Workers: def.Workers.Rollout, QPS: def.QPS, Burst: def.Burst}
	var kubeconfig, out string
	cmd := &cobra.Command{
		Use:    "abort-floor",
		Hidden: true,
		Short:  "The least any controller must do for a routed abort, to measure the floor of abort latency",
		Long: `Watch the Rollouts of a namespace and, the first time one is seen aborted
(status.abort), set its NGINX canary Ingress's canary weight to 0 with the PUT
the controller makes, from as many workers as the controller's Rollout workers
and with its client's QPS and burst. Nothing else is written.

It measures the fastest a controller could take a routed abort's traffic back on
this cluster: run the controller to walk the benchmark's Rollouts to their pause,
and this beside it while the benchmark holds the controller during the aborts:

  kanaria controller --namespace bench ... &
  kanaria bench abort-floor --out floor.jsonl &
  kanaria bench --scenario abort -n 200 -r 2 --baseline=false --traffic-router nginx \
    --controller-pid $CONTROLLER --hold-controller --json run.json --cleanup

Each aborted Rollout becomes one JSON line: when the watch delivered it aborted,
when the PUT left and when it was answered (RFC 3339 times), to be joined with
the benchmark's abortRequests. It runs until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
			if err != nil {
				return fmt.Errorf("loading Kubernetes client configuration: %w", err)
			}
			w := cmd.OutOrStdout()
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return fmt.Errorf("creating %s: %w", out, err)
				}
				defer f.Close()
				w = f
			}
			log, err := logging.New(os.Stderr, "error", "text")
			if err != nil {
				return err
			}
			ctrllog.SetLogger(log)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Run(ctx, rc, o, w, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "namespace of the Rollouts")
	fs.IntVar(&o.Workers, "workers", o.Workers, "Ingress writes in flight at most (the controller's --rollout-workers)")
	fs.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "client-side bound on requests per second, as the controller's")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "request burst above kube-api-qps")
	fs.BoolVar(&o.SeparateWatchConnection, "separate-watch-connection", false, "watch over an HTTP connection of its own rather than the one the writes use")
	fs.StringVar(&out, "out", "", "write the JSON lines to this file instead of standard output")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "path to the kubeconfig file")
	return cmd
}

// Run watches and handles aborts until ctx ends.
func Run(ctx context.Context, rc *rest.Config, o Options, out, progress io.Writer) error {
	scheme, err := controller.NewScheme()
	if err != nil {
		return err
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = o.QPS, o.Burst
	rc.UserAgent = "kanaria-abort-floor/" + version.Version
	httpClient, err := rest.HTTPClientFor(rc)
	if err != nil {
		return fmt.Errorf("creating the HTTP client: %w", err)
	}
	watchHTTP := httpClient
	if o.SeparateWatchConnection {
		if watchHTTP, err = controller.WatchHTTPClient(rc); err != nil {
			return err
		}
	}
	c, err := cache.New(rc, cache.Options{
		HTTPClient:        watchHTTP,
		Scheme:            scheme,
		DefaultNamespaces: map[string]cache.Config{o.Namespace: {}},
	})
	if err != nil {
		return fmt.Errorf("creating the watch cache: %w", err)
	}
	writer, err := client.New(rc, client.Options{HTTPClient: httpClient, Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating the client: %w", err)
	}
	h := &Handler{Reader: c, APIReader: writer, Writer: writer, Out: out}
	inf, err := c.GetInformer(ctx, &v1alpha1.Rollout{})
	if err != nil {
		return fmt.Errorf("watching Rollouts: %w", err)
	}
	seen := func(obj any) {
		if ro, ok := obj.(*v1alpha1.Rollout); ok {
			h.Seen(ro)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
	}); err != nil {
		return fmt.Errorf("handling Rollout events: %w", err)
	}
	// The PUT starts from the cached Ingress, as the controller's does.
	if _, err := c.GetInformer(ctx, &networkingv1.Ingress{}); err != nil {
		return fmt.Errorf("watching Ingresses: %w", err)
	}
	go func() {
		if err := c.Start(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(progress, "the watch cache stopped: %v\n", err)
		}
	}()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("the watches of namespace %s did not sync", o.Namespace)
	}
	sep := "one HTTP connection shared by watches and writes"
	if o.SeparateWatchConnection {
		sep = "the watches on a connection of their own"
	}
	fmt.Fprintf(progress, "abort-floor: watching Rollouts in %s, %d workers, QPS %v burst %d, %s\n", o.Namespace, o.Workers, o.QPS, o.Burst, sep)
	h.Run(ctx, o.Workers)
	return nil
}
