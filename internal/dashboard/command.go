package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kanaria-rollouts/kanaria/internal/logging"
)

// NewCommand returns the `kanaria dashboard` command, which serves the
// dashboard until interrupted.
func NewCommand() *cobra.Command {
	var (
		port                             int
		address, kubeconfig, kubeContext string
		readOnly                         bool
	)
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the web dashboard of Rollouts",
		Long: `Serve a web dashboard of the Rollouts of the cluster: their status, steps,
revisions, Pods and analysis, updated live, with buttons to promote, abort,
retry, restart and set an image (the same changes the kubectl plugin makes).

It listens on 127.0.0.1 by default and acts with the permissions of the
kubeconfig it uses; --read-only removes every action.`,
		Example: `  # Open http://127.0.0.1:3100/ in a browser
  kanaria dashboard

  # Look without touching, on another port
  kanaria dashboard --read-only --port 3200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return fmt.Errorf("--port %d: use 0 to 65535", port)
			}
			log, err := logging.New(cmd.ErrOrStderr(), "info", "text")
			if err != nil {
				return err
			}
			ctrl.SetLogger(log)
			klog.SetLogger(log.WithName("client-go"))

			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
			cfg, err := loader.ClientConfig()
			if err != nil {
				return fmt.Errorf("loading Kubernetes client configuration: %w", err)
			}
			ns, _, err := loader.Namespace()
			if err != nil {
				ns = "default"
			}
			ip := net.ParseIP(address)
			srv, err := NewServerForConfig(cfg, Options{
				ReadOnly:         readOnly,
				DefaultNamespace: ns,
				// Bound beyond this machine on purpose: names are expected.
				AllowAnyHost: address != "localhost" && (ip == nil || !ip.IsLoopback()),
				Log:          log,
			})
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
			if err != nil {
				return fmt.Errorf("listening on %s port %d: %w", address, port, err)
			}
			mode := ""
			if readOnly {
				mode = " (read-only)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Kanaria dashboard%s: http://%s/\nPress Ctrl-C to stop.\n", mode, l.Addr())
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := srv.Serve(ctx, l); err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 3100, "port to listen on; 0 picks a free one")
	f.StringVar(&address, "address", "127.0.0.1", "address to listen on; anything but loopback exposes the actions to the network")
	f.BoolVar(&readOnly, "read-only", false, "show everything, change nothing: no action buttons, and actions are refused")
	f.StringVar(&kubeconfig, "kubeconfig", "", "path to a kubeconfig file; empty uses $KUBECONFIG, ~/.kube/config or the in-cluster service account")
	f.StringVar(&kubeContext, "context", "", "kubeconfig context to use")
	return cmd
}
