package decide

import (
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// pingPongSim is the manual-gates Rollout behind an ALB Ingress with
// ping-pong Services instead of canaryService and stableService.
func pingPongSim(t *testing.T) *sim {
	ro := manualGates()
	c := ro.Spec.Strategy.Canary
	c.CanaryService, c.StableService = "", ""
	c.PingPong = &v1alpha1.PingPongSpec{PingService: "rails-ping", PongService: "rails-pong"}
	c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{ALB: &v1alpha1.ALBTrafficRouting{Ingress: "rails", RootService: "rails-root", ServicePort: 80}}
	s := newSim(t, ro)
	s.addService("rails-ping", map[string]string{"app": "rails"})
	s.addService("rails-pong", map[string]string{"app": "rails"})
	return s
}

// reconcilePP is sim.reconcile without the Service invariants of a
// canaryService: a ping-pong canary Service selects the canary before its
// Pods are available, and the previous stable's Service keeps selecting it
// while it is scaled down. What stands instead is checked here: traffic
// goes to the canary Service only when the canary can take it.
func (s *sim) reconcilePP() Plan {
	s.t.Helper()
	p := Decide(s.snapshot())
	for _, a := range p.Actions {
		s.apply(a)
	}
	s.ro.Status = p.Status
	if s.traffic != nil && s.traffic.CanaryWeight > 0 {
		_, canary := s.ppRoles()
		h := s.services[canary].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
		if rs := s.rsByHash(h); rs == nil || rs.Status.AvailableReplicas == 0 {
			s.t.Fatalf("canary Service %s gets %d%% but selects %q with no available Pods", canary, s.traffic.CanaryWeight, h)
		}
	}
	return p
}

// ppRoles names the stable and canary ping-pong Services by the status.
func (s *sim) ppRoles() (stable, canary string) {
	if s.ro.Status.Canary.StablePingPong == v1alpha1.PPPing {
		return "rails-ping", "rails-pong"
	}
	return "rails-pong", "rails-ping"
}

func (s *sim) settlePP() {
	s.t.Helper()
	for i := 0; i < 60; i++ {
		s.reconcilePP()
		s.tick(time.Second)
	}
}

func wantPP(t *testing.T, s *sim, stable v1alpha1.PingPongType, ping, pong string) {
	t.Helper()
	if got := s.ro.Status.Canary.StablePingPong; got != stable {
		t.Fatalf("status.canary.stablePingPong = %q, want %q", got, stable)
	}
	if got := s.services["rails-ping"].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]; got != ping {
		t.Fatalf("rails-ping selects %q, want %q", got, ping)
	}
	if got := s.services["rails-pong"].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]; got != pong {
		t.Fatalf("rails-pong selects %q, want %q", got, pong)
	}
}

// TestPingPongSwapsServicesAtEachPromotion walks a first version and two
// updates: the first version makes ping stable (as Argo Rollouts does),
// each update points the other Service at the canary, and each promotion
// swaps the roles so the Service that carried the canary carries the
// stable version.
func TestPingPongSwapsServicesAtEachPromotion(t *testing.T) {
	s := pingPongSim(t)
	s.settlePP()
	v1 := s.ro.Status.StableRS
	wantPP(t, s, v1alpha1.PPPing, v1, "")
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)

	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settlePP()
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	wantPP(t, s, v1alpha1.PPPing, v1, v2)
	if s.traffic.CanaryWeight != 10 {
		t.Fatalf("canary weight %d, want 10", s.traffic.CanaryWeight)
	}
	s.promote()
	for i := 0; i < 120 && s.ro.Status.StableRS != v2; i++ {
		s.reconcilePP()
		s.tick(time.Second)
	}
	s.settlePP()
	wantPP(t, s, v1alpha1.PPPong, v1, v2)
	if s.traffic.CanaryWeight != 0 || s.traffic.StableHash != v2 {
		t.Fatalf("routers show %+v, want everything on the stable %s", s.traffic, v2)
	}

	s.setImage("rails:6.2")
	v3 := s.hashOf("rails:6.2")
	s.settlePP()
	wantPP(t, s, v1alpha1.PPPong, v3, v2)
	s.promote()
	for i := 0; i < 120 && s.ro.Status.StableRS != v3; i++ {
		s.reconcilePP()
		s.tick(time.Second)
	}
	s.settlePP()
	wantPP(t, s, v1alpha1.PPPing, v3, v2)
}

// TestPingPongAbortKeepsRoles: an abort sends the traffic back to the
// stable Service and swaps nothing.
func TestPingPongAbortKeepsRoles(t *testing.T) {
	s := pingPongSim(t)
	s.settlePP()
	v1 := s.ro.Status.StableRS
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settlePP()
	s.ro.Status.Abort = true
	s.settlePP()
	wantPP(t, s, v1alpha1.PPPing, v1, v2)
	if s.traffic.CanaryWeight != 0 {
		t.Fatalf("canary weight %d after abort, want 0", s.traffic.CanaryWeight)
	}
}

// TestPingPongWithoutRouterKeepsServicesOnAvailablePods: without a router
// the ping-pong Services carry traffic themselves, so the canary's waits
// for an available canary Pod, and the full sim invariants hold.
func TestPingPongWithoutRouterKeepsServicesOnAvailablePods(t *testing.T) {
	s := pingPongSim(t)
	s.ro.Spec.Strategy.Canary.TrafficRouting = nil
	s.settle()
	v1 := s.ro.Status.StableRS
	wantPP(t, s, v1alpha1.PPPing, v1, "")
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.broken[v2] = true
	s.settle()
	// The canary has no available Pod: its Service selects the stable
	// version meanwhile, as a canaryService does.
	wantPP(t, s, v1alpha1.PPPing, v1, v1)
	delete(s.broken, v2)
	s.settle()
	wantPP(t, s, v1alpha1.PPPing, v1, v2)
}
