package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// routedSim is the manual-gates Rollout with 10 replicas behind an Istio
// VirtualService, walking 5% → 25% → 50% with a manual gate after each.
func routedSim(t *testing.T) *sim {
	ro := manualGates()
	ro.Spec.Replicas = ptr(int32(10))
	c := ro.Spec.Strategy.Canary
	c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{
		Istio:         &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "rails", Routes: []string{"primary"}}},
		ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "beta-testers"}, {Name: "shadow"}},
	}
	c.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(5))}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr(int32(25))}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr(int32(50))}, {Pause: &v1alpha1.RolloutPause{}},
	}
	s := newSim(t, ro)
	s.addService("rails-stable", map[string]string{"app": "rails"})
	s.addService("rails-canary", map[string]string{"app": "rails"})
	s.settle()
	return s
}

// routedAt25 is routedSim updated to rails:6.1 and promoted past the first
// pause, settled at its 25% step; configure, when set, shapes it first.
func routedAt25(t *testing.T, configure func(*sim)) (s *sim, v1, v2 string) {
	t.Helper()
	s = routedSim(t)
	if configure != nil {
		configure(s)
	}
	v1 = s.ro.Status.StableRS
	s.setImage("rails:6.1")
	v2 = s.hashOf("rails:6.1")
	s.settle()
	s.promote()
	s.settle()
	wantWeight(t, s, 25)
	return s, v1, v2
}

func wantWeight(t *testing.T, s *sim, want int32) {
	t.Helper()
	if s.traffic == nil || s.traffic.CanaryWeight != want {
		t.Fatalf("routers show canary weight %+v, want %d", s.traffic, want)
	}
	if w := s.ro.Status.Canary.Weights; w == nil || w.Canary.Weight != want || w.Stable.Weight != 100-want {
		t.Fatalf("status.canary.weights = %+v, want canary %d", w, want)
	}
}

func TestRoutedCanaryWalksWeightsAndKeepsStableFull(t *testing.T) {
	s := routedSim(t)
	v1 := s.ro.Status.StableRS
	wantWeight(t, s, 0)
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")

	for _, step := range []struct {
		weight, canary int32
	}{{5, 1}, {25, 3}, {50, 5}} {
		s.settle()
		wantPhase(t, s, v1alpha1.RolloutPhasePaused)
		wantWeight(t, s, step.weight)
		wantCounts(t, s, []string{v2, v1}, step.canary, 10)
		wantSelectors(t, s, v1, v2)
		s.promote()
	}
	// Past the last step: the canary scales to full, takes all traffic, and
	// only then becomes stable.
	var sawFull bool
	for i := 0; i < 50 && s.ro.Status.StableRS != v2; i++ {
		s.reconcile()
		if s.traffic.CanaryWeight == 100 {
			sawFull = true
		}
		s.tick(time.Second)
	}
	if !sawFull {
		t.Fatal("the canary became stable without ever taking all the traffic")
	}
	s.settle()
	wantSelectors(t, s, v2, v2)
	wantWeight(t, s, 0)
	if s.traffic.StableHash != v2 {
		t.Fatalf("routers' stable hash = %s, want %s", s.traffic.StableHash, v2)
	}
	// The previous stable stays for scaleDownDelaySeconds (30 s).
	wantCounts(t, s, []string{v2, v1}, 10, 10)
	if _, ok := scaleDownDeadline(s.rsByHash(v1)); !ok {
		t.Fatal("the previous stable has no scale-down deadline")
	}
	s.tick(31 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 10, 0)
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
}

// TestRoutedWeightAndNextStepInOneWrite: the reconcile that routes a
// step's weight also moves to the next step, and the one that routes all
// traffic to the canary also promotes it, so a step costs one status write
// rather than two.
func TestRoutedWeightAndNextStepInOneWrite(t *testing.T) {
	s := routedSim(t)
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	var p Plan
	for i := 0; i < 50 && (s.traffic == nil || s.traffic.CanaryWeight != 5); i++ {
		p = s.reconcile()
		s.tick(time.Second)
	}
	if s.traffic == nil || s.traffic.CanaryWeight != 5 {
		t.Fatalf("the canary never got its 5%%: %+v", s.traffic)
	}
	if idx := p.Status.CurrentStepIndex; idx == nil || *idx != 1 || p.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("the plan that routed 5%% left step %v, phase %s; want the pause of step 1 in the same write", idx, p.Status.Phase)
	}
	s.promote()
	s.settle()
	s.promote()
	s.settle()
	s.promote()
	sawPromotion := false
	for i := 0; i < 50 && s.ro.Status.StableRS != v2; i++ {
		p = s.reconcile()
		if s.traffic.CanaryWeight == 100 && p.Status.StableRS == v2 {
			sawPromotion = true
		}
		s.tick(time.Second)
	}
	if !sawPromotion {
		t.Fatal("no plan both routed all traffic to the canary and promoted it")
	}
}

func TestRoutedWeightWaitsForAvailableCanary(t *testing.T) {
	s := routedSim(t)
	v1 := s.ro.Status.StableRS
	s.setImage("rails:broken")
	v2 := s.hashOf("rails:broken")
	s.broken[v2] = true
	for i := 0; i < 20; i++ {
		s.reconcile()
		s.tick(time.Second)
	}
	wantWeight(t, s, 0)
	wantCounts(t, s, []string{v2, v1}, 1, 10)
	if !strings.Contains(s.ro.Status.Message, "waiting for 1 available canary Pods") {
		t.Fatalf("message %q does not say why the weight waits", s.ro.Status.Message)
	}
	// Aborting a canary that never became available scales it away at once.
	s.ro.Status.Abort = true
	p := s.reconcile()
	if _, ok := p.Actions[0].(SyncTraffic); !ok {
		t.Fatalf("first write of the abort is %s, want the traffic sync", p.Actions[0].Describe())
	}
	s.tick(time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 10)
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
}

func TestRoutedAbortMovesTrafficFirstAndDelaysScaleDown(t *testing.T) {
	s, v1, v2 := routedAt25(t, nil)

	s.ro.Status.Abort = true
	p := s.reconcile()
	sync, ok := p.Actions[0].(SyncTraffic)
	if !ok || sync.Desired.CanaryWeight != 0 {
		t.Fatalf("first write of the abort is %s, want the canary weight at 0", p.Actions[0].Describe())
	}
	wantWeight(t, s, 0)
	// abortScaleDownDelaySeconds defaults to 30: the canary stays meanwhile.
	s.tick(10 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 3, 10)
	s.tick(25 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 10)
	wantSelectors(t, s, v1, v1)
}

func TestRoutedHeaderAndMirrorRoutesFollowTheSteps(t *testing.T) {
	s := routedSim(t)
	c := s.ro.Spec.Strategy.Canary
	c.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(5))},
		{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta-testers", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}},
		{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow", Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}}}, Percentage: ptr(int32(20))}},
		{Pause: &v1alpha1.RolloutPause{}},
		{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta-testers"}},
		{Pause: &v1alpha1.RolloutPause{}},
	}
	s.setImage("rails:6.1")
	s.settle()
	if got := len(s.traffic.HeaderRoutes); got != 1 || s.traffic.HeaderRoutes[0].Name != "beta-testers" {
		t.Fatalf("header routes at the first pause = %+v", s.traffic.HeaderRoutes)
	}
	if got := s.traffic.MirrorRoutes; len(got) != 1 || got[0].Name != "shadow" || *got[0].Percentage != 20 {
		t.Fatalf("mirror routes at the first pause = %+v", got)
	}
	s.promote()
	s.settle()
	if len(s.traffic.HeaderRoutes) != 0 || len(s.traffic.MirrorRoutes) != 1 {
		t.Fatalf("after the removing step: header %+v mirror %+v", s.traffic.HeaderRoutes, s.traffic.MirrorRoutes)
	}
	s.ro.Status.Abort = true
	s.settle()
	if len(s.traffic.HeaderRoutes)+len(s.traffic.MirrorRoutes) != 0 {
		t.Fatalf("managed routes left after the abort: %+v", s.traffic)
	}
}

func TestRoutedRouterProblemIsInvalidSpecAndMovesNothing(t *testing.T) {
	s := routedSim(t)
	s.setImage("rails:6.1")
	s.trafficErrors = []string{`istio: VirtualService default/rails has no http route named "primary"`}
	p := s.reconcile()
	if len(p.Actions) != 0 {
		t.Fatalf("an invalid router config planned writes: %v", p.Actions)
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	if !strings.Contains(s.ro.Status.Message, `no http route named "primary"`) {
		t.Fatalf("message %q does not carry the router's problem", s.ro.Status.Message)
	}
	s.trafficErrors = nil
	s.settle()
	wantWeight(t, s, 5)
}

func TestRoutedDynamicStableScaleShrinksStableAfterTraffic(t *testing.T) {
	s, v1, v2 := routedAt25(t, func(s *sim) {
		s.ro.Spec.Strategy.Canary.DynamicStableScale = true
	})
	wantCounts(t, s, []string{v2, v1}, 3, 8)
	// Abort: the stable grows back first, traffic follows its capacity.
	s.ro.Status.Abort = true
	p := s.reconcile()
	if w := p.Actions[0].(SyncTraffic).Desired.CanaryWeight; w != 20 {
		t.Fatalf("first abort sync sends %d to the canary, want 20 (the stable covers 8 of 10 Pods)", w)
	}
	s.tick(time.Second)
	s.settle()
	wantWeight(t, s, 0)
	wantCounts(t, s, []string{v1}, 10)
}
