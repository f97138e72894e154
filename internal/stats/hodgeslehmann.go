package stats

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Shift is the Hodges-Lehmann estimate of how far x lies above y, with a
// distribution-free confidence interval.
type Shift struct {
	// Estimate is the median of all n1·n2 differences x_i - y_j.
	Estimate float64
	// Low and High bound the interval.
	Low, High float64
	// Confidence is the level asked for; Achieved is the level the chosen
	// order statistics give, at least Confidence for Exact (U is discrete,
	// so the exact level rarely matches) and approximately it otherwise.
	Confidence, Achieved float64
	// Method is the one used (never Auto).
	Method Method
	// Unreachable says the samples are too small for any interval at
	// Confidence: the widest one, from the smallest difference to the
	// largest, is returned with its lower Achieved level, as R does
	// with a warning.
	Unreachable bool
}

// HodgesLehmann estimates the shift of x against y and its interval at
// the given confidence (e.g. 0.95), with the semantics of R's
// wilcox.test(x, y, conf.int = TRUE):
//
//   - Exact (the default below ExactLimit without ties): with k the
//     smallest u with P(U <= u) >= (1-confidence)/2 under the exact
//     distribution of U (at least 1), the interval runs from the k-th
//     smallest difference to the k-th largest.
//   - Asymptotic: k is mn/2 - z·σ rounded to the nearest integer, z the
//     normal quantile and σ the tie-corrected standard deviation of U.
//     R instead inverts the continuity-corrected statistic numerically;
//     both land on or next to the same order statistics.
func HodgesLehmann(x, y []float64, confidence float64, method Method) (Shift, error) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return Shift{}, ErrEmpty
	}
	if !(confidence > 0 && confidence < 1) {
		return Shift{}, fmt.Errorf("confidence %v is not between 0 and 1", confidence)
	}
	diffs := make([]float64, 0, n1*n2)
	for _, a := range x {
		for _, b := range y {
			d := a - b
			if math.IsNaN(d) {
				return Shift{}, errors.New("a sample holds NaN or infinities of the same sign")
			}
			diffs = append(diffs, d)
		}
	}
	sort.Float64s(diffs)
	mn := len(diffs)
	s := Shift{Estimate: median(diffs), Confidence: confidence}
	_, tieTerm := rank(x, y)
	method, err := choose(method, tieTerm > 0, n1, n2)
	if err != nil {
		return Shift{}, err
	}
	s.Method = method
	alpha := 1 - confidence
	var k int
	if method == Exact {
		d := NewUDistribution(n1, n2)
		k = d.Quantile(alpha / 2)
		if k == 0 {
			k = 1
		}
		s.Achieved = 1 - 2*d.CDF(float64(k-1))
		s.Unreachable = s.Achieved < confidence*(1-1e-12)
	} else {
		n := float64(n1 + n2)
		sigma := math.Sqrt(float64(mn) / 12 * ((n + 1) - tieTerm/(n*(n-1))))
		z := normalQuantile(1 - alpha/2)
		k = int(math.Round(float64(mn)/2 - z*sigma))
		if k < 1 {
			k, s.Unreachable = 1, true
		}
		if sigma > 0 {
			s.Achieved = 1 - 2*normalSF((float64(mn)/2-(float64(k)-0.5))/sigma)
		}
	}
	if k > (mn+1)/2 {
		// Too few pairs for any narrower interval.
		k = (mn + 1) / 2
	}
	s.Low, s.High = diffs[k-1], diffs[mn-k]
	return s, nil
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Median of values, which it does not modify; NaN for none.
func Median(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	return median(s)
}

// Quantile of values by linear interpolation between order statistics
// (the method numpy and R call type 7); NaN for none.
func Quantile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	h := p * float64(len(s)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}

// Mean of values; NaN for none.
func Mean(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, v := range values {
		sum += v
	}
	return sum / float64(len(values))
}
