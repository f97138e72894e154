package replicas

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func num(v int) *intstr.IntOrString { x := intstr.FromInt32(int32(v)); return &x }
func str(v string) *intstr.IntOrString {
	x := intstr.FromString(v)
	return &x
}
func i32(v int32) *int32 { return &v }

func TestResolveSurgeUnavailable(t *testing.T) {
	tests := []struct {
		name              string
		surge, unav       *intstr.IntOrString
		replicas          int32
		wantSurge, wantUn int32
		wantErr           bool
	}{
		{"defaults 25% of 4", nil, nil, 4, 1, 1, false},
		{"defaults 25% of 5: surge up, unavailable down", nil, nil, 5, 2, 1, false},
		{"defaults 25% of 1", nil, nil, 1, 1, 0, false},
		{"defaults of 0 replicas", nil, nil, 0, 0, 0, false},
		{"ints", num(1), num(0), 5, 1, 0, false},
		{"33% of 10", str("33%"), str("33%"), 10, 4, 3, false},
		{"33% of 3", str("33%"), str("33%"), 3, 1, 0, false},
		{"25% of 100", str("25%"), str("25%"), 100, 25, 25, false},
		{"both zero: unavailable becomes 1", num(0), num(0), 10, 0, 1, false},
		{"both percent round to zero", str("0%"), str("5%"), 10, 0, 1, false},
		{"unavailable capped at replicas", num(0), num(7), 3, 0, 3, false},
		{"string without percent sign is a percentage", str("50"), num(0), 4, 2, 0, false},
		{"surge may exceed 100%", str("200%"), num(0), 3, 6, 0, false},
		{"garbage surge", str("abc"), nil, 4, 0, 0, true},
		{"garbage unavailable", nil, str("x%"), 4, 0, 0, true},
		{"negative int", num(-1), nil, 4, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, u, err := ResolveSurgeUnavailable(tc.surge, tc.unav, tc.replicas)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && (s != tc.wantSurge || u != tc.wantUn) {
				t.Fatalf("got surge %d unavailable %d, want %d %d", s, u, tc.wantSurge, tc.wantUn)
			}
		})
	}
}

func TestBoundsFallBackToDefaultsOnInvalidValues(t *testing.T) {
	s, u := bounds(Input{MaxSurge: str("junk"), MaxUnavailable: num(0)}, 8)
	if s != 2 || u != 0 {
		t.Fatalf("got %d/%d, want default surge 2 and unavailable 0", s, u)
	}
}

func TestWeightFromCounts(t *testing.T) {
	tests := []struct{ canary, stable, want int32 }{
		{0, 0, 0},
		{0, 5, 0},
		{5, 0, 100},
		{1, 5, 17}, // 16.67
		{1, 4, 20},
		{3, 3, 50},
		{1, 2, 33},
		{2, 1, 67},
		{1, 7, 13}, // 12.5 rounds half up
		{1, 99, 1},
		{99, 1, 99},
		{1, 199, 1}, // 0.5 rounds up
		{-1, 3, 0},
	}
	for _, tc := range tests {
		if got := WeightFromCounts(tc.canary, tc.stable); got != tc.want {
			t.Errorf("WeightFromCounts(%d, %d) = %d, want %d", tc.canary, tc.stable, got, tc.want)
		}
	}
}

// Expected values here are Argo Rollouts' published fixtures for its weight
// approximation, plus the cases from Kanaria's users.
func TestDesiredWeightedCounts(t *testing.T) {
	tests := []struct{ replicas, weight, surge, canary, stable int32 }{
		{0, 50, 1, 0, 0},
		{1, 0, 0, 0, 1},
		{1, 1, 0, 0, 1},
		{1, 49, 0, 0, 1},
		{1, 50, 0, 1, 0},
		{1, 99, 0, 1, 0},
		{1, 100, 0, 1, 0},
		{1, 1, 1, 1, 1},
		{1, 99, 1, 1, 1},
		{1, 100, 1, 1, 0},
		{2, 1, 0, 1, 1},
		{2, 99, 0, 1, 1},
		{2, 1, 1, 1, 2},
		{2, 50, 1, 1, 1},
		{2, 99, 1, 2, 1},
		{3, 10, 0, 1, 2},
		{3, 33, 0, 1, 2},
		{3, 50, 0, 2, 1},
		{3, 10, 1, 1, 3},
		{3, 33, 1, 1, 2},
		{3, 49, 1, 2, 2},
		{3, 50, 1, 2, 2},
		{5, 10, 1, 1, 5}, // 1 of 6 is nearer 10% than 1 of 5
		{5, 50, 1, 3, 3}, // exactly 50% using the surge Pod
		{5, 100, 1, 5, 0},
		{10, 1, 0, 1, 9}, // never zero canary Pods for 1..99
		{10, 15, 0, 2, 8},
		{10, 99, 0, 9, 1},
		{10, 1, 1, 1, 10},
		{10, 24, 1, 3, 8},
		{10, 33, 1, 3, 7},
		{10, 99, 1, 10, 1},
		{10, 0, 3, 0, 10},
		{100, 1, 25, 1, 99},
		{100, 33, 25, 33, 67},
		{100, 99, 25, 99, 1},
		{5, 150, 1, 5, 0}, // out-of-range weights are clamped
		{5, -3, 1, 0, 5},
	}
	for _, tc := range tests {
		c, s := DesiredWeightedCounts(tc.replicas, tc.weight, tc.surge)
		if c != tc.canary || s != tc.stable {
			t.Errorf("DesiredWeightedCounts(%d, %d, %d) = %d/%d, want %d/%d",
				tc.replicas, tc.weight, tc.surge, c, s, tc.canary, tc.stable)
		}
	}
}

// TestDesiredWeightedCountsMatchesExhaustiveSearch checks the closed form
// against a brute force over every possible split.
func TestDesiredWeightedCountsMatchesExhaustiveSearch(t *testing.T) {
	for replicas := int32(1); replicas <= 40; replicas++ {
		for weight := int32(0); weight <= 100; weight++ {
			for _, surge := range []int32{0, 1, 3} {
				wc, ws := bruteForceSplit(replicas, weight, surge)
				c, s := DesiredWeightedCounts(replicas, weight, surge)
				if c != wc || s != ws {
					t.Fatalf("r=%d w=%d surge=%d: got %d/%d, brute force %d/%d", replicas, weight, surge, c, s, wc, ws)
				}
				if weight > 0 && weight < 100 && (replicas > 1 || surge > 0) && (c == 0 || s == 0) {
					t.Fatalf("r=%d w=%d surge=%d: empty side %d/%d", replicas, weight, surge, c, s)
				}
			}
		}
	}
}

func bruteForceSplit(replicas, weight, surge int32) (int32, int32) {
	maxTotal := replicas
	if surge > 0 {
		maxTotal++
	}
	onlyOne := replicas == 1 && surge == 0
	bestC, bestT, bestD := int32(-1), int32(0), 1e9
	for total := replicas; total <= maxTotal; total++ {
		for c := total; c >= 0; c-- {
			if weight > 0 && weight < 100 && !onlyOne && (c == 0 || c == total) {
				continue
			}
			d := float64(c)*100/float64(total) - float64(weight)
			if d < 0 {
				d = -d
			}
			if d < bestD-1e-9 {
				bestC, bestT, bestD = c, total, d
			}
		}
	}
	return bestC, bestT - bestC
}

func ExampleDesiredWeightedCounts() {
	c, s := DesiredWeightedCounts(5, 10, 1)
	fmt.Println(c, s, WeightFromCounts(c, s))
	// Output: 1 5 17
}
