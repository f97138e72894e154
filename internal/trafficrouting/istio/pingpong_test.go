package istio

import (
	"context"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestSyncPingPong: a Rollout with pingPong and no canaryService or
// stableService splits by host between the ping and pong Services, the
// canary being the one status.canary.stablePingPong does not name.
func TestSyncPingPong(t *testing.T) {
	pingPong := func(stable v1alpha1.PingPongType) func(*v1alpha1.Rollout) {
		return func(ro *v1alpha1.Rollout) {
			c := ro.Spec.Strategy.Canary
			c.CanaryService, c.StableService = "", ""
			c.PingPong = &v1alpha1.PingPongSpec{PingService: "guestbook-ping", PongService: "guestbook-pong"}
			ro.Status.Canary.StablePingPong = stable
		}
	}
	// Ping stable: pong is the canary.
	f := newFixture(t, newRollout(pingPong(v1alpha1.PPPing)), objs(t, hostVS("guestbook-pong", "guestbook-ping", 0, 100)))
	if err := f.router.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := f.router.Sync(context.Background(), desired(40)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, hostVS("guestbook-pong", "guestbook-ping", 40, 60)))

	// After a promotion pong is stable: the same route, roles swapped.
	f = newFixture(t, newRollout(pingPong(v1alpha1.PPPong)), objs(t, hostVS("guestbook-pong", "guestbook-ping", 100, 0)))
	if err := f.router.Sync(context.Background(), desired(0)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// hostVS lists its first argument as the canary destination: pong,
	// now stable, takes everything.
	assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, hostVS("guestbook-pong", "guestbook-ping", 100, 0)))
}
