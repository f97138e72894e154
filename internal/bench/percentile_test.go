package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"empty", nil, 50, 0},
		{"one value, any percentile", []float64{7}, 99, 7},
		{"one value, p0", []float64{7}, 0, 7},
		{"median of ten is the fifth", ten, 50, 5},
		{"p90 of ten is the ninth", ten, 90, 9},
		{"p99 of ten is the largest", ten, 99, 10},
		{"p100 is the largest", ten, 100, 10},
		{"above 100 clamps", ten, 150, 10},
		{"negative clamps to the smallest", ten, -5, 1},
		{"p1 of ten is the smallest", ten, 1, 1},
		{"median of two is the lower", []float64{1, 2}, 50, 1},
		{"p51 of two is the upper", []float64{1, 2}, 51, 2},
		{"p99 of 200 is the 198th", seq(200), 99, 198},
		{"p90 of 3", []float64{0.5, 1, 1.5}, 90, 1.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []time.Duration{1500 * time.Millisecond}, Summary{Count: 1, P50: 1.5, P90: 1.5, P99: 1.5, Max: 1.5}},
		{"unsorted input", []time.Duration{3 * time.Second, time.Second, 2 * time.Second, 4 * time.Second},
			Summary{Count: 4, P50: 2, P90: 4, P99: 4, Max: 4}},
		{"ties", []time.Duration{time.Second, time.Second, time.Second}, Summary{Count: 3, P50: 1, P90: 1, P99: 1, Max: 1}},
		{"zero latency", []time.Duration{0, 0}, Summary{Count: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.in...)
			if got := Summarize(in); got != tc.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("Summarize reordered its input: %v", in)
				}
			}
		})
	}
}

func TestRatios(t *testing.T) {
	for _, tc := range []struct {
		name           string
		base, rollouts []Phase
		want           map[string]float64
	}{
		{"no baseline", nil, []Phase{{Name: "create", Seconds: 3}}, map[string]float64{}},
		{"matching phases",
			[]Phase{{Name: "create", Seconds: 2}, {Name: "update", Seconds: 4}},
			[]Phase{{Name: "create", Seconds: 3}, {Name: "update", Seconds: 10}},
			map[string]float64{"create": 1.5, "update": 2.5}},
		{"phases without a counterpart are left out",
			[]Phase{{Name: "create", Seconds: 2}, {Name: "update", Seconds: 4}},
			[]Phase{{Name: "create", Seconds: 1}, {Name: "pause", Seconds: 5}, {Name: "abort", Seconds: 1}},
			map[string]float64{"create": 0.5}},
		{"a zero baseline gives no ratio",
			[]Phase{{Name: "create", Seconds: 0}},
			[]Phase{{Name: "create", Seconds: 1}},
			map[string]float64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Ratios(tc.base, tc.rollouts)
			if len(got) != len(tc.want) {
				t.Fatalf("Ratios = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("ratio %s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
	if _, ok := Ratio(1, -1); ok {
		t.Error("Ratio with a negative baseline reported a ratio")
	}
	if _, ok := Ratio(-1, 1); ok {
		t.Error("Ratio with a negative time reported a ratio")
	}
}
