package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/config/crd"
)

// TestCRDsInstallFromTheBinary applies the CRDs embedded in the binary (as
// the demo and the fault suite do) over the ones README.md's kubectl apply
// installed, and returns once the API server serves all five kinds.
func TestCRDsInstallFromTheBinary(t *testing.T) {
	ensureCRDs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := crd.Install(ctx, cluster.RESTConfig(), "kanaria-e2e"); err != nil {
		t.Fatalf("install the embedded CRDs: %v", err)
	}
	if err := waitCRDsEstablished(newClients(t), "rollouts.argoproj.io", "analysistemplates.argoproj.io",
		"clusteranalysistemplates.argoproj.io", "analysisruns.argoproj.io", "experiments.argoproj.io"); err != nil {
		t.Fatalf("after the install: %v", err)
	}
}
