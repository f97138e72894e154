package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kanaria-rollouts/kanaria/internal/logging"
)

// TokenEnv names the environment variable that sets the dashboard's token,
// which keeps it out of process listings.
const TokenEnv = "KANARIA_DASHBOARD_TOKEN"

// identity names the kubeconfig context and user whose credentials the
// dashboard acts with, for the start-up notice.
func identity(loader clientcmd.ClientConfig, override string) string {
	raw, err := loader.RawConfig()
	if err != nil {
		return "the loaded kubeconfig"
	}
	name := raw.CurrentContext
	if override != "" {
		name = override
	}
	if c, ok := raw.Contexts[name]; ok && c != nil {
		return fmt.Sprintf("context %q (user %q)", name, c.AuthInfo)
	}
	if name != "" {
		return fmt.Sprintf("context %q", name)
	}
	return "the in-cluster service account"
}

// exposureNotice says at start what a dashboard bound beyond loopback
// exposes, and to whom.
func exposureNotice(addr, who string, readOnly bool, allowedHosts []string) string {
	can := "read and change Rollouts (promote, abort, restart, set images)"
	if readOnly {
		can = "read Rollouts, ReplicaSets, Pods and AnalysisRuns"
	}
	hosts := "localhost or an IP address"
	if len(allowedHosts) > 0 {
		hosts += " or " + strings.Join(allowedHosts, ", ")
	}
	return fmt.Sprintf("WARNING: listening on %s, reachable from the network. Anyone who reaches it with the token\n"+
		"can %s with the credentials of %s.\nRequests must name %s.\n", addr, can, who, hosts)
}

// NewCommand returns the `kanaria dashboard` command, which serves the
// dashboard until interrupted.
func NewCommand() *cobra.Command {
	var (
		port                             int
		address, kubeconfig, kubeContext string
		readOnly                         bool
		allowedHosts                     []string
	)
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the web dashboard of Rollouts",
		Long: `Serve a web dashboard of the Rollouts of the cluster: their status, steps,
revisions, Pods and analysis, updated live, with buttons to promote, abort,
retry, restart and set an image (the same changes the kubectl plugin makes).

It listens on 127.0.0.1 by default and acts with the permissions of the
kubeconfig it uses; --read-only removes every action.

Bound to any other address it is reachable from the network, so it requires
a token: the one in $` + TokenEnv + `, or a random one printed at start with the
URL to open. Requests must name localhost, an IP address or a host given with
--allowed-host, which keeps other web sites out through DNS rebinding.`,
		Example: `  # Open http://127.0.0.1:3100/ in a browser
  kanaria dashboard

  # Look without touching, on another port
  kanaria dashboard --read-only --port 3200

  # Reachable from the network as dashboard.example, with a token
  kanaria dashboard --address 0.0.0.0 --allowed-host dashboard.example`,
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
			exposed := !Loopback(address)
			token := os.Getenv(TokenEnv)
			if token == "" && exposed {
				if token, err = NewToken(); err != nil {
					return err
				}
			}
			srv, err := NewServerForConfig(cfg, Options{
				ReadOnly:         readOnly,
				DefaultNamespace: ns,
				AllowedHosts:     allowedHosts,
				Token:            token,
				Log:              log,
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
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Kanaria dashboard%s: http://%s/\n", mode, l.Addr())
			if exposed {
				fmt.Fprint(out, exposureNotice(l.Addr().String(), identity(loader, kubeContext), readOnly, allowedHosts))
			}
			if token != "" {
				fmt.Fprintf(out, "Open http://%s/?token=%s (API clients: Authorization: Bearer <token>)\n", l.Addr(), token)
			}
			fmt.Fprintln(out, "Press Ctrl-C to stop.")
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
	f.StringVar(&address, "address", "127.0.0.1", "address to listen on; anything but loopback is reachable from the network and requires a token")
	f.StringSliceVar(&allowedHosts, "allowed-host", nil, "host name, besides localhost and IP addresses, that requests may name (repeatable)")
	f.BoolVar(&readOnly, "read-only", false, "show everything, change nothing: no action buttons, and actions are refused")
	f.StringVar(&kubeconfig, "kubeconfig", "", "path to a kubeconfig file; empty uses $KUBECONFIG, ~/.kube/config or the in-cluster service account")
	f.StringVar(&kubeContext, "context", "", "kubeconfig context to use")
	return cmd
}
