package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kanaria-rollouts/kanaria/internal/faults"
)

// TestFaultSuiteBounded runs the fault suite at the size CI affords: twelve
// releases of six Rollouts in two rounds, the first with one controller
// killed at random moments, the second with two replicas whose leader is
// killed and one API server restart; the metrics backend errors in one
// round and hangs in the other. Any invariant violation fails the test.
func TestFaultSuiteBounded(t *testing.T) {
	ensureCRDs(t)
	// The suite's watches log through controller-runtime; only the
	// report matters here.
	ctrllog.SetLogger(logr.Discard())
	c := newClients(t)
	ns := "faults-" + rand.String(5)
	t.Cleanup(func() { _ = c.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	restarts := 1
	restart := faults.RestartLocalAPIServer(cluster)
	if cluster.Dir() == "" {
		t.Log("attached cluster: its API server cannot be restarted from here; running without that fault")
		restarts, restart = 0, nil
	}
	var progress syncBuffer
	cfg := faults.Config{
		Namespace:         ns,
		Rollouts:          6,
		Releases:          12,
		Replicas:          2,
		KillMin:           time.Second,
		KillMax:           3 * time.Second,
		APIServerRestarts: restarts,
		BackendFaultFor:   3 * time.Second,
		ReleaseTimeout:    3 * time.Minute,
		Seed:              20,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := faults.Run(ctx, faults.Env{
		RESTConfig:       cluster.RESTConfig(),
		Kubeconfig:       cluster.KubeconfigPath(),
		ControllerBinary: buildKanaria(t),
		RestartAPIServer: restart,
		Progress:         &progress,
	}, cfg)
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("fault suite could not run: %v", err)
	}
	var report bytes.Buffer
	faults.WriteReport(&report, res)
	t.Logf("report:\n%s", report.String())

	if len(res.Violations) > 0 {
		t.Errorf("%d invariant violations (see the report above)", len(res.Violations))
	}
	if res.Releases != cfg.Releases || res.Degraded != cfg.Releases/faults.DefaultFailEvery {
		t.Errorf("%d releases ended (%d Degraded), want %d (%d Degraded)", res.Releases, res.Degraded, cfg.Releases, cfg.Releases/faults.DefaultFailEvery)
	}
	if res.Kills < 1 || res.LeaderKills < 1 || res.APIServerRestarts != restarts {
		t.Errorf("faults injected: %d kills, %d leader kills, %d API server restarts; want at least one kill and one leader kill, and %d restarts",
			res.Kills, res.LeaderKills, res.APIServerRestarts, restarts)
	}
	if res.BackendErrorWindows != 1 || res.BackendHangWindows != 1 {
		t.Errorf("metrics backend: %d erroring and %d hanging windows, want one of each", res.BackendErrorWindows, res.BackendHangWindows)
	}
	if t.Failed() {
		t.Logf("controller logs are in %s", res.LogDir)
	}
}
