// Package stats holds the distribution-free statistics the canary judge
// relies on: the Mann-Whitney U test and the Hodges-Lehmann estimate of the
// shift between two samples with its confidence interval. It is pure: no
// I/O, no clocks, no randomness.
package stats

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Alternative is the hypothesis a test weighs against "both samples come
// from the same distribution".
type Alternative int

const (
	// TwoSided: x tends to be greater or less than y.
	TwoSided Alternative = iota
	// Greater: x tends to be greater than y.
	Greater
	// Less: x tends to be less than y.
	Less
)

// String names the alternative the way scipy and R spell it.
func (a Alternative) String() string {
	switch a {
	case Greater:
		return "greater"
	case Less:
		return "less"
	}
	return "two-sided"
}

// Method is how a p-value or an interval is computed.
type Method int

const (
	// Auto picks Exact for small samples without ties and Asymptotic
	// otherwise; see ExactLimit.
	Auto Method = iota
	// Exact uses the permutation distribution of U, valid without ties.
	Exact
	// Asymptotic uses the normal approximation with tie and continuity
	// corrections.
	Asymptotic
)

// String names the method as scipy does.
func (m Method) String() string {
	switch m {
	case Exact:
		return "exact"
	case Asymptotic:
		return "asymptotic"
	}
	return "auto"
}

// ExactLimit is the sample size below which Auto uses the exact
// distribution, when neither sample has ties: R's wilcox.test draws the
// same line. Below it the normal approximation is coarse for the tails a
// judge cares about, and the exact distribution costs at most a few
// hundred thousand additions.
const ExactLimit = 50

// ErrEmpty is returned when a sample has no values: there is nothing to
// rank.
var ErrEmpty = errors.New("a sample is empty")

// UResult is the outcome of a Mann-Whitney U test.
type UResult struct {
	// U is the statistic of the first sample: the number of pairs (x, y)
	// with x > y, ties counting one half.
	U float64
	// P is the p-value for the alternative asked.
	P float64
	// Method is the one actually used (never Auto).
	Method Method
	// Ties says whether any value occurs more than once in the pooled
	// samples.
	Ties bool
}

// MannWhitneyU tests whether x and y come from the same distribution.
// With Exact, ties make the permutation distribution wrong, so the exact
// method is refused for tied samples rather than silently misreporting.
func MannWhitneyU(x, y []float64, alt Alternative, method Method) (UResult, error) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return UResult{}, ErrEmpty
	}
	for _, v := range append(append([]float64(nil), x...), y...) {
		if math.IsNaN(v) {
			return UResult{}, errors.New("a sample holds NaN, which has no rank")
		}
	}
	ranks, tieTerm := rank(x, y)
	r1 := 0.0
	for _, r := range ranks[:n1] {
		r1 += r
	}
	u1 := r1 - float64(n1*(n1+1))/2
	ties := tieTerm > 0
	method, err := choose(method, ties, n1, n2)
	if err != nil {
		return UResult{}, err
	}
	res := UResult{U: u1, Ties: ties, Method: method}
	mn := float64(n1 * n2)
	u2 := mn - u1
	if method == Exact {
		d := NewUDistribution(n1, n2)
		switch alt {
		case Greater:
			res.P = d.SF(u1)
		case Less:
			res.P = d.CDF(u1)
		default:
			res.P = math.Min(1, 2*d.SF(math.Max(u1, u2)))
		}
		return res, nil
	}
	n := float64(n1 + n2)
	sigma := math.Sqrt(mn / 12 * ((n + 1) - tieTerm/(n*(n-1))))
	mu := mn / 2
	var u float64
	switch alt {
	case Greater:
		u = u1
	case Less:
		u = u2
	default:
		u = math.Max(u1, u2)
	}
	var p float64
	if sigma == 0 {
		// Every value is the same: nothing suggests a difference.
		p = 1
	} else {
		p = normalSF((u - mu - 0.5) / sigma)
	}
	if alt == TwoSided {
		p = math.Min(1, 2*p)
	}
	res.P = p
	return res, nil
}

// choose resolves Auto, and refuses Exact for tied samples, whose
// permutation distribution is not the one computed.
func choose(method Method, ties bool, n1, n2 int) (Method, error) {
	switch method {
	case Auto:
		if !ties && n1 < ExactLimit && n2 < ExactLimit {
			return Exact, nil
		}
		return Asymptotic, nil
	case Exact:
		if ties {
			return 0, errors.New("the exact distribution of U assumes no ties")
		}
		return Exact, nil
	case Asymptotic:
		return Asymptotic, nil
	}
	return 0, fmt.Errorf("unknown method %d", method)
}

// rank returns the mid-ranks (1-based) of x followed by y in the pooled
// sample, and the tie term Σ(t³ - t) over groups of t equal values.
func rank(x, y []float64) ([]float64, float64) {
	all := append(append([]float64(nil), x...), y...)
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return all[idx[a]] < all[idx[b]] })
	ranks := make([]float64, len(all))
	tieTerm := 0.0
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && all[idx[j+1]] == all[idx[i]] {
			j++
		}
		mid := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[idx[k]] = mid
		}
		if t := float64(j - i + 1); t > 1 {
			tieTerm += t*t*t - t
		}
		i = j + 1
	}
	return ranks, tieTerm
}

// normalSF is the upper tail of the standard normal distribution.
func normalSF(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// normalQuantile is the z with P(Z <= z) = p for the standard normal.
func normalQuantile(p float64) float64 {
	return math.Sqrt2 * math.Erfinv(2*p-1)
}

// UDistribution is the exact null distribution of U for samples of n1
// and n2 values without ties.
type UDistribution struct {
	n1, n2 int
	// cdf[u] is P(U <= u).
	cdf []float64
}

// NewUDistribution computes the distribution. Under the null hypothesis
// every choice of which n1 of the n1+n2 ranks belong to x is equally
// likely, and the number of choices giving U = u is the coefficient of
// q^u in the Gaussian binomial coefficient [n1+n2 choose n1]. Pascal's
// rule for it, [n k] = [n-1 k-1] + q^k [n-1 k], only ever adds
// non-negative counts, so no precision is lost to cancellation.
func NewUDistribution(n1, n2 int) *UDistribution {
	k := n1
	if n2 < k {
		k = n2
	}
	n := n1 + n2
	// row[j] holds the coefficients of [m j] for the current m.
	row := make([][]float64, k+1)
	row[0] = []float64{1}
	for m := 1; m <= n; m++ {
		top := m
		if top > k {
			top = k
		}
		for j := top; j >= 1; j-- {
			deg := j * (m - j)
			next := make([]float64, deg+1)
			// [m-1 j-1] contributes as is.
			copy(next, row[j-1])
			// q^j [m-1 j] contributes shifted by j.
			for u, c := range row[j] {
				next[u+j] += c
			}
			row[j] = next
		}
	}
	counts := row[k]
	total := 0.0
	for _, c := range counts {
		total += c
	}
	cdf := make([]float64, len(counts))
	acc := 0.0
	for u, c := range counts {
		acc += c
		cdf[u] = acc / total
	}
	return &UDistribution{n1: n1, n2: n2, cdf: cdf}
}

// CDF is P(U <= u).
func (d *UDistribution) CDF(u float64) float64 {
	i := int(math.Floor(u + 1e-9))
	switch {
	case i < 0:
		return 0
	case i >= len(d.cdf):
		return 1
	}
	return d.cdf[i]
}

// SF is P(U >= u).
func (d *UDistribution) SF(u float64) float64 {
	return 1 - d.CDF(math.Ceil(u-1e-9)-1)
}

// Quantile is the smallest u with P(U <= u) >= p, as R's qwilcox.
func (d *UDistribution) Quantile(p float64) int {
	for u, c := range d.cdf {
		// A relative tolerance keeps a probability that equals p up to
		// rounding on the side R puts it.
		if c >= p*(1-64*epsilon) {
			return u
		}
	}
	return len(d.cdf) - 1
}

const epsilon = 2.220446049250313e-16
