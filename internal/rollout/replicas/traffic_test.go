package replicas

import (
	"slices"
	"testing"
)

func TestTrafficRoutedCanary(t *testing.T) {
	tests := []struct {
		name           string
		in             Input
		canary, stable int32
	}{
		{"w10 of 10: canary 1, stable stays full",
			Input{Replicas: 10, Weight: 10, Stable: st(10, 10)}, 1, 10},
		{"w0", Input{Replicas: 10, Weight: 0, Stable: st(10, 10)}, 0, 10},
		{"w1 of 10 rounds up", Input{Replicas: 10, Weight: 1, Stable: st(10, 10)}, 1, 10},
		{"w25 of 10 rounds up", Input{Replicas: 10, Weight: 25, Stable: st(10, 10)}, 3, 10},
		{"w33 of 10", Input{Replicas: 10, Weight: 33, Stable: st(10, 10)}, 4, 10},
		{"w99 of 10", Input{Replicas: 10, Weight: 99, Stable: st(10, 10)}, 10, 10},
		{"w100 of 10", Input{Replicas: 10, Weight: 100, Stable: st(10, 10)}, 10, 10},
		{"w50 of 1", Input{Replicas: 1, Weight: 50, Stable: st(1, 1)}, 1, 1},
		{"w33 of 100", Input{Replicas: 100, Weight: 33, Stable: st(100, 100)}, 33, 100},
		{"surge/unavailable do not limit a routed canary",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: num(1), Weight: 50, Stable: st(10, 10)}, 5, 10},
		{"setCanaryScale replicas overrides weight",
			Input{Replicas: 1, Weight: 100, CanaryScale: &Scale{Replicas: i32(9)}, Stable: st(1, 1)}, 9, 1},
		{"setCanaryScale weight may exceed 100",
			Input{Replicas: 4, Weight: 100, CanaryScale: &Scale{Weight: i32(200)}, Stable: st(4, 4)}, 8, 4},
		{"setCanaryScale weight rounds up",
			Input{Replicas: 10, Weight: 0, CanaryScale: &Scale{Weight: i32(25)}, Stable: st(10, 10)}, 3, 10},
		{"empty setCanaryScale falls back to weight",
			Input{Replicas: 10, Weight: 20, CanaryScale: &Scale{}, Stable: st(10, 10)}, 2, 10},
		{"abort ignores setCanaryScale",
			Input{Replicas: 1, Aborted: true, CanaryScale: &Scale{Replicas: i32(1)}, Stable: st(1, 1)}, 0, 1},
		{"abort: canary to zero",
			Input{Replicas: 10, Weight: 50, Aborted: true, Canary: rs(5, 5), Stable: st(10, 10)}, 0, 10},
		{"minPods raises canary",
			Input{Replicas: 10, Weight: 5, MinPodsPerReplicaSet: i32(2), Stable: st(10, 10)}, 2, 10},
		{"minPods leaves zero alone",
			Input{Replicas: 10, Weight: 0, MinPodsPerReplicaSet: i32(2), Stable: st(10, 10)}, 0, 10},
		{"minPods raises a small stable",
			Input{Replicas: 1, Weight: 50, MinPodsPerReplicaSet: i32(2), Stable: st(1, 1)}, 2, 2},
		{"minPods raises setCanaryScale replicas",
			Input{Replicas: 10, CanaryScale: &Scale{Replicas: i32(1)}, MinPodsPerReplicaSet: i32(3), Stable: st(10, 10)}, 3, 10},
		{"dynamic: stable follows traffic",
			Input{Replicas: 10, Weight: 10, DynamicStableScale: true, Traffic: &Weights{Canary: 10, Stable: 90}, Stable: st(10, 10)}, 1, 9},
		{"dynamic: stable kept while router still sends it 90%",
			Input{Replicas: 10, Weight: 20, DynamicStableScale: true, Traffic: &Weights{Canary: 10, Stable: 90}, Stable: st(10, 10)}, 2, 9},
		{"dynamic: traffic unknown uses desired share",
			Input{Replicas: 10, Weight: 30, DynamicStableScale: true, Stable: st(10, 10)}, 3, 7},
		{"dynamic: w33 shares round up on both sides",
			Input{Replicas: 10, Weight: 33, DynamicStableScale: true, Stable: st(10, 10)}, 4, 7},
		{"dynamic: w100 stable to zero",
			Input{Replicas: 10, Weight: 100, DynamicStableScale: true, Traffic: &Weights{Canary: 100}, Stable: st(1, 1)}, 10, 0},
		{"dynamic abort: canary kept while it still gets traffic",
			Input{Replicas: 10, Weight: 20, Aborted: true, DynamicStableScale: true, Traffic: &Weights{Canary: 20, Stable: 80}, Stable: st(8, 8)}, 2, 10},
		{"dynamic abort: canary follows shrinking traffic",
			Input{Replicas: 10, Weight: 20, Aborted: true, DynamicStableScale: true, Traffic: &Weights{Canary: 10, Stable: 90}, Stable: st(9, 9)}, 1, 10},
		{"dynamic with setCanaryScale: stable sized by traffic weight",
			Input{Replicas: 10, Weight: 50, CanaryScale: &Scale{Replicas: i32(1)}, DynamicStableScale: true, Stable: st(10, 10)}, 1, 5},
		{"dynamic with minPods",
			Input{Replicas: 10, Weight: 95, DynamicStableScale: true, MinPodsPerReplicaSet: i32(2), Stable: st(10, 10)}, 10, 2},
		{"no separate stable: canary takes all",
			Input{Replicas: 10, Weight: 10}, 10, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := TrafficRoutedCanary(tc.in)
			if got.Canary != tc.canary || got.Stable != tc.stable {
				t.Fatalf("got canary %d stable %d, want %d %d", got.Canary, got.Stable, tc.canary, tc.stable)
			}
		})
	}
}

func TestTrafficRoutedCanaryScalesOthersToZero(t *testing.T) {
	got := TrafficRoutedCanary(Input{Replicas: 4, Weight: 50, Stable: st(4, 4),
		Others: []RSState{rs(4, 4), rs(0, 0), rs(2, 1)}})
	if !slices.Equal(got.Others, []int32{0, 0, 0}) {
		t.Fatalf("others = %v", got.Others)
	}
}
