// Command kanaria is Kanaria's one binary: the controller, the local
// development cluster, and the user's commands. Installed as kubectl-kanaria
// it is also a kubectl plugin.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kanaria-rollouts/kanaria/internal/cli"
	"github.com/kanaria-rollouts/kanaria/internal/cli/verbs"
)

func main() {
	if err := cli.NewRootCommand().ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		// Commands made for pipelines (status, lint) choose their exit code.
		var exit *verbs.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.Code)
		}
		os.Exit(1)
	}
}
