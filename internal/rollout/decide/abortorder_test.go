package decide

import (
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// wantTrafficFirst checks the write order of an abort's plan: the writes
// that take traffic back to stable lead it, the router first, and no
// scale, run or experiment write comes before them.
func wantTrafficFirst(t *testing.T, p Plan, wantWeight int32) {
	t.Helper()
	if p.UrgentWrites < 1 || p.UrgentWrites > len(p.Actions) {
		t.Fatalf("UrgentWrites = %d of %d actions %v", p.UrgentWrites, len(p.Actions), describeAll(p.Actions))
	}
	sync, ok := p.Actions[0].(SyncTraffic)
	if !ok {
		t.Fatalf("first write of the abort is %q, want the router sync; plan %v", p.Actions[0].Describe(), describeAll(p.Actions))
	}
	if sync.Desired.CanaryWeight != wantWeight {
		t.Fatalf("first write sends %d to the canary, want %d", sync.Desired.CanaryWeight, wantWeight)
	}
	for i, a := range p.Actions[:p.UrgentWrites] {
		switch a.(type) {
		case SyncTraffic, SetServiceSelector:
		default:
			t.Fatalf("urgent write %d is %q, which does not move traffic", i, a.Describe())
		}
	}
}

func TestRoutedAbortWriteOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setUp shapes the routed Rollout before the update.
		setUp func(s *sim)
		// abort ends the update, returning the plan that does it.
		abort func(s *sim) Plan
		// weight is the canary weight of the abort's first write.
		weight int32
		// stableDuring is the stable's replicas while the canary runs.
		stableDuring int32
	}{{
		name:  "a person aborts at 25%",
		setUp: func(*sim) {},
		abort: func(s *sim) Plan {
			s.ro.Status.Abort = true
			return s.reconcile()
		},
		weight: 0, stableDuring: 10,
	}, {
		name: "setCanaryScale keeps the stable full",
		setUp: func(s *sim) {
			c := s.ro.Spec.Strategy.Canary
			c.Steps = append([]v1alpha1.CanaryStep{{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr(int32(2))}}}, c.Steps...)
		},
		abort: func(s *sim) Plan {
			s.ro.Status.Abort = true
			return s.reconcile()
		},
		weight: 0, stableDuring: 10,
	}, {
		name: "dynamicStableScale: the weight follows the stable's available Pods",
		setUp: func(s *sim) {
			s.ro.Spec.Strategy.Canary.DynamicStableScale = true
		},
		abort: func(s *sim) Plan {
			s.ro.Status.Abort = true
			return s.reconcile()
		},
		weight: 20, stableDuring: 8,
	}, {
		name: "a failed background analysis aborts",
		setUp: func(s *sim) {
			s.templates.Templates["smoke"] = webTemplate("smoke")
			s.ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: v1alpha1.RolloutAnalysis{
				Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "smoke"}},
			}}
		},
		abort: func(s *sim) Plan {
			run := s.runOf(v1alpha1.RolloutTypeBackgroundRunLabel)
			run.Status.Phase = v1alpha1.AnalysisPhaseFailed
			return s.reconcile()
		},
		weight: 0, stableDuring: 10,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, v1, v2 := routedAt25(t, tc.setUp)
			if got := specReplicas(s.rsByHash(v1)); got != tc.stableDuring {
				t.Fatalf("stable has %d replicas during the canary, want %d", got, tc.stableDuring)
			}
			wantTrafficFirst(t, tc.abort(s), tc.weight)

			// Until the canary is gone, every later plan keeps traffic
			// writes first, and the canary never has fewer Pods than the
			// traffic the routers showed before the plan needs: none are
			// removed while it gets any, except with dynamicStableScale and
			// no abortScaleDownDelaySeconds, where (as in the reference) it
			// shrinks with its share.
			dynamic := s.ro.Spec.Strategy.Canary.DynamicStableScale
			for i := 0; i < 60 && specReplicas(s.rsByHash(v2)) > 0; i++ {
				s.tick(time.Second)
				applied := s.traffic.CanaryWeight
				p := s.reconcile()
				for _, a := range p.Actions {
					sc, ok := a.(ScaleReplicaSet)
					if !ok || sc.Name != s.rsByHash(v2).Name || sc.To >= sc.From || applied == 0 {
						continue
					}
					if needed := (10*applied + 99) / 100; !dynamic || sc.To < needed {
						t.Fatalf("canary scaled down (%s) while the routers sent it %d%%", sc.Describe(), applied)
					}
				}
			}
			wantWeight(t, s, 0)
			wantCounts(t, s, []string{v2, v1}, 0, 10)
			wantSelectors(t, s, v1, v1)
		})
	}
}

func TestRoutineRoutedPlansHaveNoUrgentWrites(t *testing.T) {
	s := routedSim(t)
	s.setImage("rails:6.1")
	for i := 0; i < 10; i++ {
		if p := s.reconcile(); p.UrgentWrites != 0 {
			t.Fatalf("a routine plan marks %d urgent writes: %v", p.UrgentWrites, describeAll(p.Actions))
		}
		s.tick(time.Second)
	}
}
