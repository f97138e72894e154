package trafficrouting

import (
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestServices(t *testing.T) {
	pp := &v1alpha1.PingPongSpec{PingService: "ping", PongService: "pong"}
	cases := []struct {
		name                 string
		stableSvc, canarySvc string
		pingPong             *v1alpha1.PingPongSpec
		status               v1alpha1.PingPongType
		prefer               bool
		wantStable, wantCan  string
	}{
		{name: "no ping-pong", stableSvc: "s", canarySvc: "c", wantStable: "s", wantCan: "c"},
		{name: "unset status means pong is stable", pingPong: pp, wantStable: "pong", wantCan: "ping"},
		{name: "ping stable", pingPong: pp, status: v1alpha1.PPPing, wantStable: "ping", wantCan: "pong"},
		{name: "pong stable", pingPong: pp, status: v1alpha1.PPPong, wantStable: "pong", wantCan: "ping"},
		{name: "services set and not preferred", stableSvc: "s", canarySvc: "c", pingPong: pp, status: v1alpha1.PPPing, wantStable: "s", wantCan: "c"},
		{name: "services set and preferred", stableSvc: "s", canarySvc: "c", pingPong: pp, status: v1alpha1.PPPing, prefer: true, wantStable: "ping", wantCan: "pong"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ro := &v1alpha1.Rollout{}
			ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{StableService: c.stableSvc, CanaryService: c.canarySvc, PingPong: c.pingPong}
			ro.Status.Canary.StablePingPong = c.status
			s, cn := Services(ro, c.prefer)
			if s != c.wantStable || cn != c.wantCan {
				t.Fatalf("Services = %q, %q; want %q, %q", s, cn, c.wantStable, c.wantCan)
			}
		})
	}
}

func TestNextStablePingPong(t *testing.T) {
	for cur, want := range map[v1alpha1.PingPongType]v1alpha1.PingPongType{"": "ping", "ping": "pong", "pong": "ping"} {
		if got := NextStablePingPong(cur); got != want {
			t.Errorf("NextStablePingPong(%q) = %q, want %q", cur, got, want)
		}
	}
}
