// Command kanaria is Kanaria's one binary: the controller, the local
// development cluster, and the user's commands. Installed as kubectl-kanaria
// it is also a kubectl plugin.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/kanaria-rollouts/kanaria/internal/cli"
)

func main() {
	if err := cli.NewRootCommand().ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
