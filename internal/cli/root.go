// Package cli holds the kanaria command line: the controller, the local
// development cluster and, as they land, the user verbs. The same binary
// works as a kubectl plugin when installed as kubectl-kanaria.
package cli

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kanaria-rollouts/kanaria/internal/abortfloor"
	"github.com/kanaria-rollouts/kanaria/internal/bench"
	"github.com/kanaria-rollouts/kanaria/internal/cli/devcmd"
	"github.com/kanaria-rollouts/kanaria/internal/cli/verbs"
	"github.com/kanaria-rollouts/kanaria/internal/cli/view"
	"github.com/kanaria-rollouts/kanaria/internal/dashboard"
	"github.com/kanaria-rollouts/kanaria/internal/faults"
	"github.com/kanaria-rollouts/kanaria/internal/version"
)

// NewRootCommand returns the kanaria command with every subcommand.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           commandName(os.Args[0]),
		Short:         "Kanaria: progressive delivery (canary and blue-green) for Kubernetes",
		Long:          "Kanaria releases new versions of workloads as canaries or blue-green pairs,\nmeasures them while they run, and promotes or rolls them back automatically.\nIt serves the argoproj.io/v1alpha1 Rollout API.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newControllerCommand(), devcmd.NewCommand(), newDemoCommand(), newVersionCommand())
	root.AddCommand(verbs.Commands()...)
	root.AddCommand(view.Commands()...)
	benchCmd := bench.NewCommand()
	benchCmd.AddCommand(faults.NewCommand(), abortfloor.NewCommand())
	root.AddCommand(dashboard.NewCommand(), benchCmd, newSimulateCommand())
	return root
}

// commandName shows "kubectl kanaria" in help when the binary runs as a
// kubectl plugin, so the examples can be pasted as they are.
func commandName(arg0 string) string {
	base := filepath.Base(arg0)
	if strings.HasPrefix(base, "kubectl-") {
		return "kubectl " + strings.TrimPrefix(base, "kubectl-")
	}
	return "kanaria"
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of this binary",
		Example: "  kanaria version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			cmd.Println(version.Get().String())
		},
	}
}
