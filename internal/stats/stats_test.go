package stats

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"sort"
	"testing"
)

// recorded is testdata/mannwhitney.json, written by mannwhitney.py from
// scipy.stats.mannwhitneyu.
type recorded struct {
	Scipy       string `json:"scipy"`
	EmptyRaises bool   `json:"emptyRaises"`
	Cases       []struct {
		Name    string    `json:"name"`
		X       []float64 `json:"x"`
		Y       []float64 `json:"y"`
		Ties    bool      `json:"ties"`
		Results []struct {
			Method      string   `json:"method"`
			Alternative string   `json:"alternative"`
			U           float64  `json:"u"`
			P           *float64 `json:"p"`
		} `json:"results"`
		HL *struct {
			Confidence float64 `json:"confidence"`
			Estimate   float64 `json:"estimate"`
			Low        float64 `json:"low"`
			High       float64 `json:"high"`
		} `json:"hl"`
	} `json:"cases"`
}

func load(t *testing.T) recorded {
	t.Helper()
	raw, err := os.ReadFile("testdata/mannwhitney.json")
	if err != nil {
		t.Fatal(err)
	}
	var r recorded
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) == 0 {
		t.Fatal("no recorded cases")
	}
	return r
}

func near(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(1e-300, math.Max(math.Abs(a), math.Abs(b))) || math.Abs(a-b) < 1e-15
}

func TestMannWhitneyUMatchesScipy(t *testing.T) {
	r := load(t)
	alts := map[string]Alternative{"two-sided": TwoSided, "greater": Greater, "less": Less}
	methods := map[string]Method{"exact": Exact, "asymptotic": Asymptotic}
	checked := 0
	for _, c := range r.Cases {
		for _, want := range c.Results {
			got, err := MannWhitneyU(c.X, c.Y, alts[want.Alternative], methods[want.Method])
			if err != nil {
				t.Errorf("%s %s %s: %v", c.Name, want.Method, want.Alternative, err)
				continue
			}
			if got.U != want.U {
				t.Errorf("%s: U = %v, scipy %v", c.Name, got.U, want.U)
			}
			if want.P == nil {
				t.Errorf("%s %s %s: scipy gave no p-value", c.Name, want.Method, want.Alternative)
				continue
			}
			if !near(got.P, *want.P, 1e-9) {
				t.Errorf("%s %s %s: p = %.17g, scipy %.17g", c.Name, want.Method, want.Alternative, got.P, *want.P)
			}
			if got.Ties != c.Ties {
				t.Errorf("%s: ties = %v, want %v", c.Name, got.Ties, c.Ties)
			}
			checked++
		}
	}
	if checked < 50 {
		t.Fatalf("only %d recorded results checked", checked)
	}
}

func TestMannWhitneyUAutoMethod(t *testing.T) {
	small := []float64{1, 2, 3}
	tied := []float64{1, 1, 2}
	large := make([]float64, ExactLimit)
	for i := range large {
		large[i] = float64(i) + 0.5
	}
	for _, tc := range []struct {
		name string
		x, y []float64
		want Method
	}{
		{"small without ties", small, []float64{4, 5}, Exact},
		{"ties", tied, []float64{4, 5}, Asymptotic},
		{"one sample at the limit", large, []float64{-1, -2}, Asymptotic},
	} {
		got, err := MannWhitneyU(tc.x, tc.y, TwoSided, Auto)
		if err != nil {
			t.Fatal(err)
		}
		if got.Method != tc.want {
			t.Errorf("%s: method %v, want %v", tc.name, got.Method, tc.want)
		}
	}
}

func TestMannWhitneyURefuses(t *testing.T) {
	r := load(t)
	if !r.EmptyRaises {
		t.Fatal("recorded scipy accepted an empty sample; the refusal below mirrors its error")
	}
	if _, err := MannWhitneyU(nil, []float64{1, 2}, TwoSided, Auto); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty x: %v, want ErrEmpty", err)
	}
	if _, err := MannWhitneyU([]float64{1}, []float64{}, TwoSided, Auto); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty y: %v, want ErrEmpty", err)
	}
	if _, err := MannWhitneyU([]float64{1, 1}, []float64{2}, TwoSided, Exact); err == nil {
		t.Error("exact with ties: no error")
	}
	if _, err := MannWhitneyU([]float64{math.NaN()}, []float64{2}, TwoSided, Auto); err == nil {
		t.Error("NaN: no error")
	}
}

// bruteCDF enumerates every way to choose which of n1+n2 distinct ranks
// belong to x and counts U, independently of the Gaussian binomial
// recurrence.
func bruteCDF(n1, n2 int) []float64 {
	n := n1 + n2
	counts := make([]float64, n1*n2+1)
	total := 0.0
	for mask := 0; mask < 1<<n; mask++ {
		if popcount(mask) != n1 {
			continue
		}
		// U counts pairs (x, y) with x ranked above y.
		u, ysBelow := 0, 0
		for r := 0; r < n; r++ {
			if mask&(1<<r) != 0 {
				u += ysBelow
			} else {
				ysBelow++
			}
		}
		counts[u]++
		total++
	}
	cdf := make([]float64, len(counts))
	acc := 0.0
	for u, c := range counts {
		acc += c
		cdf[u] = acc / total
	}
	return cdf
}

func popcount(v int) int {
	c := 0
	for ; v != 0; v &= v - 1 {
		c++
	}
	return c
}

func TestUDistributionMatchesEnumeration(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {1, 4}, {2, 3}, {3, 3}, {4, 5}, {5, 4}, {6, 7}, {3, 10}} {
		want := bruteCDF(size[0], size[1])
		d := NewUDistribution(size[0], size[1])
		for u := range want {
			if got := d.CDF(float64(u)); !near(got, want[u], 1e-12) {
				t.Errorf("n=%v: CDF(%d) = %v, enumeration %v", size, u, got, want[u])
			}
		}
		if d.CDF(-1) != 0 || d.CDF(float64(len(want))) != 1 {
			t.Errorf("n=%v: CDF outside the support", size)
		}
	}
}

// bruteShift is the Hodges-Lehmann interval computed from scratch: every
// pairwise difference sorted, the median, and the order statistics the
// enumerated distribution of U selects.
func bruteShift(x, y []float64, confidence float64) (est, lo, hi float64) {
	var diffs []float64
	for _, a := range x {
		for _, b := range y {
			diffs = append(diffs, a-b)
		}
	}
	sort.Float64s(diffs)
	m := len(diffs)
	if m%2 == 1 {
		est = diffs[m/2]
	} else {
		est = (diffs[m/2-1] + diffs[m/2]) / 2
	}
	cdf := bruteCDF(len(x), len(y))
	k := 0
	for cdf[k] < (1-confidence)/2 {
		k++
	}
	if k == 0 {
		k = 1
	}
	return est, diffs[k-1], diffs[m-k]
}

func TestHodgesLehmannExact(t *testing.T) {
	r := load(t)
	checked := 0
	for _, c := range r.Cases {
		if c.HL == nil {
			continue
		}
		got, err := HodgesLehmann(c.X, c.Y, c.HL.Confidence, Exact)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if !near(got.Estimate, c.HL.Estimate, 1e-12) || !near(got.Low, c.HL.Low, 1e-12) || !near(got.High, c.HL.High, 1e-12) {
			t.Errorf("%s: %v [%v, %v], recorded %v [%v, %v]", c.Name, got.Estimate, got.Low, got.High,
				c.HL.Estimate, c.HL.Low, c.HL.High)
		}
		if got.Achieved < got.Confidence && len(c.X)*len(c.Y) > 40 {
			t.Errorf("%s: achieved %v below %v", c.Name, got.Achieved, got.Confidence)
		}
		if len(c.X)+len(c.Y) <= 16 {
			est, lo, hi := bruteShift(c.X, c.Y, c.HL.Confidence)
			if got.Estimate != est || got.Low != lo || got.High != hi {
				t.Errorf("%s: %v [%v, %v], brute force %v [%v, %v]", c.Name, got.Estimate, got.Low, got.High, est, lo, hi)
			}
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d intervals checked", checked)
	}
}

// TestHodgesLehmannWorkedExample follows the permutation argument by hand
// for x = {10, 11, 12}, y = {1, 2, 3} at 80%: of the 20 equally likely
// rank choices one gives U = 0 and one U = 1, so P(U <= 0) = 0.05 and
// P(U <= 1) = 0.1. R's rule takes k = qwilcox(0.1) = 1: the interval runs
// from the smallest to the largest of the nine differences 7..11, and
// covers with probability 1 - 2·P(U <= 0) = 0.9.
func TestHodgesLehmannWorkedExample(t *testing.T) {
	got, err := HodgesLehmann([]float64{10, 11, 12}, []float64{1, 2, 3}, 0.8, Auto)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != Exact || got.Estimate != 9 || got.Low != 7 || got.High != 11 || got.Unreachable {
		t.Fatalf("got %+v, want 9 [7, 11] exact", got)
	}
	if !near(got.Achieved, 0.9, 1e-12) {
		t.Errorf("achieved %v, want 0.9 (1 - 2·P(U <= 0))", got.Achieved)
	}
}

func TestHodgesLehmannUnreachable(t *testing.T) {
	// One value a side: P(U <= 0) = 0.5, far above 0.025, so no interval
	// reaches 95%.
	got, err := HodgesLehmann([]float64{200}, []float64{100}, 0.95, Auto)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Unreachable || got.Low != 100 || got.High != 100 || got.Achieved != 0 {
		t.Fatalf("got %+v, want unreachable [100, 100] achieving 0", got)
	}
	// Three a side reach 90% (1 - 2/20) but not 95%.
	x, y := []float64{10, 11, 12}, []float64{1, 2, 3}
	if got, _ := HodgesLehmann(x, y, 0.9, Auto); got.Unreachable {
		t.Errorf("90%% with 3+3: %+v", got)
	}
	if got, _ := HodgesLehmann(x, y, 0.95, Auto); !got.Unreachable {
		t.Errorf("95%% with 3+3: %+v", got)
	}
}

func TestHodgesLehmannAsymptotic(t *testing.T) {
	// Two samples that are the same values moved by exactly 4: every
	// interval must contain 4 and the estimate must be 4.
	var x, y []float64
	for i := 0; i < 120; i++ {
		v := float64(i%17) + float64(i)/1000
		y = append(y, v)
		x = append(x, v+4)
	}
	got, err := HodgesLehmann(x, y, 0.95, Auto)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != Asymptotic || got.Estimate != 4 || !(got.Low < 4 && got.High > 4) {
		t.Fatalf("got %+v, want an asymptotic interval around 4", got)
	}
	if math.Abs(got.Achieved-0.95) > 0.01 {
		t.Errorf("achieved %v, want about 0.95", got.Achieved)
	}
	// Ties force the normal approximation; a constant pair of samples has
	// a zero-width interval at the difference.
	c, err := HodgesLehmann([]float64{2, 2, 2}, []float64{1, 1, 1, 1}, 0.95, Auto)
	if err != nil {
		t.Fatal(err)
	}
	if c.Method != Asymptotic || c.Estimate != 1 || c.Low != 1 || c.High != 1 {
		t.Errorf("constant samples: %+v, want 1 [1, 1]", c)
	}
	if _, err := HodgesLehmann(nil, []float64{1}, 0.95, Auto); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	if _, err := HodgesLehmann([]float64{1}, []float64{1}, 1, Auto); err == nil {
		t.Error("confidence 1 accepted")
	}
}

func TestQuantileAndMedian(t *testing.T) {
	v := []float64{4, 1, 3, 2}
	if Median(v) != 2.5 || Quantile(v, 0.25) != 1.75 || Quantile(v, 1) != 4 || Quantile(v, 0) != 1 {
		t.Errorf("median %v q25 %v", Median(v), Quantile(v, 0.25))
	}
	if !math.IsNaN(Median(nil)) || !math.IsNaN(Mean(nil)) || Mean(v) != 2.5 {
		t.Error("empty or mean")
	}
	if v[0] != 4 {
		t.Error("Median sorted its input")
	}
}
