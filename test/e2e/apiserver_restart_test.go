package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/faults"
)

// TestControllerWatchesSurviveAPIServerRestart restarts kube-apiserver
// under a running controller, once while it idles and once while a release
// waits at a pause, and never restarts the controller: every later step of
// canary-manual-gates.yaml (the update, the promotion, the timed pause, the
// end) can only be seen through its watches, so the release completing shows
// they reconnected. The local kube-controller-manager and kube-scheduler are
// restarted after each API server restart, as the fault suite does, since
// their own watches have been seen to stay stale on this cluster.
func TestControllerWatchesSurviveAPIServerRestart(t *testing.T) {
	ensureCRDs(t)
	if cluster.Dir() == "" {
		t.Skip("attached cluster: its API server cannot be restarted from here")
	}
	c := newClients(t)
	ns := newNamespace(t, c, "apiserver-restart")
	p := runController(t, ns)
	restart := func(when string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := faults.RestartLocalAPIServer(cluster)(ctx, 2*time.Second); err != nil {
			t.Fatalf("restart the API server %s: %v", when, err)
		}
		select {
		case <-p.exited:
			t.Fatalf("the controller exited when the API server restarted %s: %v", when, p.exitErr)
		default:
		}
	}

	applySeed(t, ns, "canary-manual-gates.yaml")
	v1 := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS

	restart("while the controller idles")
	setImage(t, ns, "rails", "registry.example/rails:6.1")
	ro := waitRollout(t, c, ns, "rails", "paused at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	v2 := ro.Status.CurrentPodHash
	if v2 == "" || v2 == v1 {
		t.Fatalf("current hash %q after the update from %q", v2, v1)
	}
	waitCounts(t, c, ns, "rails", map[string]int32{v2: 1, v1: 5})

	restart("during the pause")
	promote(t, ns, "rails")
	ro = waitRollout(t, c, ns, "rails", "Healthy on the new version", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	waitCounts(t, c, ns, "rails", map[string]int32{v2: 5, v1: 0})
	if a := serviceHash(t, c, ns, "rails-stable"); a != v2 {
		t.Errorf("rails-stable selects %q after the release, want %q", a, v2)
	}
	if rss := replicaSetsOf(t, c, ns, ro); len(rss) != 2 {
		t.Errorf("want exactly 2 ReplicaSets, have %s", specCounts(rss))
	}
}
