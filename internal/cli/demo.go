package cli

import (
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kanaria-rollouts/kanaria/internal/demo"
	"github.com/kanaria-rollouts/kanaria/internal/logging"
)

func newDemoCommand() *cobra.Command {
	opts := demo.Options{ClusterName: "demo", NewImage: "registry.example/demo:2.0"}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a canary release on the embedded local cluster",
		Long: `Start the embedded local cluster, install the CRDs, run the controller, apply
examples/canary-demo.yaml, release a new image and show the Rollout walking
through its steps. Ctrl-C stops everything and removes the cluster.`,
		Example: "  kanaria demo\n  kanaria demo --name demo2 --image registry.example/demo:3.0",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The controller's own log lines would drown the narration; only
			// errors go to stderr.
			log, err := logging.New(cmd.ErrOrStderr(), "error", "text")
			if err != nil {
				return err
			}
			ctrl.SetLogger(log)
			opts.Out = cmd.OutOrStdout()
			return demo.Run(ctrl.SetupSignalHandler(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.ClusterName, "name", opts.ClusterName, "name of the local cluster")
	cmd.Flags().StringVar(&opts.NewImage, "image", opts.NewImage, "image the demo releases")
	return cmd
}
