package devcluster

import (
	"os"
	"testing"
)

// cluster is shared by every test of the package.
var cluster *Cluster

func TestMain(m *testing.M) {
	os.Exit(RunTests(m, Options{Name: "devcluster-test"}, &cluster))
}
