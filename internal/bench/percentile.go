package bench

import (
	"math"
	"slices"
	"time"
)

// Summary is the distribution of the per-object completion latencies of a
// phase, in seconds.
type Summary struct {
	// Count is how many latencies the summary describes.
	Count int `json:"count"`
	// P50 is the median latency.
	P50 float64 `json:"p50Seconds"`
	// P90 is the 90th percentile latency.
	P90 float64 `json:"p90Seconds"`
	// P99 is the 99th percentile latency.
	P99 float64 `json:"p99Seconds"`
	// Max is the slowest object's latency.
	Max float64 `json:"maxSeconds"`
}

// Summarize returns the percentiles of latencies. It sorts a copy, so the
// caller's order is kept. An empty input gives a zero Summary.
func Summarize(latencies []time.Duration) Summary {
	if len(latencies) == 0 {
		return Summary{}
	}
	s := make([]float64, len(latencies))
	for i, d := range latencies {
		s[i] = d.Seconds()
	}
	slices.Sort(s)
	return Summary{
		Count: len(s),
		P50:   Percentile(s, 50),
		P90:   Percentile(s, 90),
		P99:   Percentile(s, 99),
		Max:   s[len(s)-1],
	}
}

// Percentile returns the p-th percentile (0-100) of sorted by the
// nearest-rank method. Nearest rank always answers with a value that was
// measured, never an interpolation between two Rollouts, which is what a
// reader of "p99 = 12s" expects from a benchmark of a few hundred objects.
// It returns 0 for an empty input and clamps p to [0, 100].
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 || math.IsNaN(p) {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}
