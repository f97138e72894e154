package decide

import (
	"testing"
	"time"
)

// BenchmarkDecideCanaryMidStep measures one decision for a canary paused at a
// step with two ReplicaSets and their Pods: the controller's CPU cost per
// reconcile before any API call.
func BenchmarkDecideCanaryMidStep(b *testing.B) {
	s := newManualGatesSim(b)
	s.settle()
	s.setImage("rails:6.1")
	s.settle()
	snap := s.snapshot()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		snap.Now = snap.Now.Add(time.Millisecond)
		Decide(snap)
	}
}

// BenchmarkDecideSteadyState measures the decision for a Healthy Rollout with
// nothing to do, the common case at thousands of Rollouts.
func BenchmarkDecideSteadyState(b *testing.B) {
	s := newManualGatesSim(b)
	s.settle()
	snap := s.snapshot()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Decide(snap)
	}
}
