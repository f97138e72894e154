package devcluster

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// cluster is shared by every test of the package; nil in -short mode.
var cluster *Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "devcluster: -short: not starting a cluster; cluster tests skip")
		os.Exit(m.Run())
	}
	os.Exit(RunTests(m, Options{Name: "devcluster-test"}, &cluster))
}

// needCluster skips a test that needs the package's cluster in -short mode.
func needCluster(t *testing.T) {
	t.Helper()
	if cluster == nil {
		t.Skip("needs the local cluster (not started in -short mode)")
	}
}
