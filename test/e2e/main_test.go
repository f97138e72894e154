// Package e2e drives Kanaria and its API against a real local control plane
// (etcd, kube-apiserver, controller-manager, scheduler and kwok nodes), one
// cluster for the whole package, and asserts on what the cluster shows.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
)

// cluster is the package's local control plane, nil in -short mode.
var cluster *devcluster.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "e2e: -short: not starting a cluster; end-to-end tests skip")
		os.Exit(m.Run())
	}
	os.Exit(devcluster.RunTests(m, devcluster.Options{}, &cluster))
}
