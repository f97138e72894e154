package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Repeated is a benchmark run K times on the same cluster, each run the
// Deployment baseline followed by the Rollouts, so the two alternate and a
// slow moment of the machine falls on both rather than on one. One run's
// ratio swings with the baseline; the median over the runs does not.
type Repeated struct {
	// Runs are the runs' results, in order.
	Runs []*Result `json:"runs"`
	// Ratios are, per Rollout phase with a Deployment counterpart, the
	// median and the spread of its ratio across the runs.
	Ratios map[string]RatioSpread `json:"ratios,omitempty"`
}

// RatioSpread is one phase's ratio to the Deployment baseline over several
// runs.
type RatioSpread struct {
	// Median of the ratios; with an even count, the mean of the middle two.
	Median float64 `json:"median"`
	// Min and Max are the smallest and largest ratio.
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// Values are the runs' ratios in run order.
	Values []float64 `json:"values"`
}

// SpreadOf returns the median and spread of ratios, or false for none.
func SpreadOf(ratios []float64) (RatioSpread, bool) {
	if len(ratios) == 0 {
		return RatioSpread{}, false
	}
	sorted := append([]float64(nil), ratios...)
	sort.Float64s(sorted)
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return RatioSpread{Median: median, Min: sorted[0], Max: sorted[n-1], Values: append([]float64(nil), ratios...)}, true
}

// Aggregate gathers the runs' ratios per phase. A phase missing from a run
// (one that timed out before it) counts only in the runs that have it.
func Aggregate(runs []*Result) *Repeated {
	rep := &Repeated{Runs: runs}
	byPhase := map[string][]float64{}
	for _, r := range runs {
		if r == nil {
			continue
		}
		for name, v := range r.Ratios {
			byPhase[name] = append(byPhase[name], v)
		}
	}
	for name, vs := range byPhase {
		if s, ok := SpreadOf(vs); ok {
			if rep.Ratios == nil {
				rep.Ratios = map[string]RatioSpread{}
			}
			rep.Ratios[name] = s
		}
	}
	return rep
}

// RunRepeated calls run k times, stopping at the first error, and
// aggregates the results it got; the error, if any, is returned with them.
func RunRepeated(ctx context.Context, k int, run func(ctx context.Context, i int) (*Result, error)) (*Repeated, error) {
	var runs []*Result
	for i := 0; i < k; i++ {
		if err := ctx.Err(); err != nil {
			return Aggregate(runs), fmt.Errorf("before run %d of %d: %w", i+1, k, err)
		}
		res, err := run(ctx, i)
		if res != nil {
			runs = append(runs, res)
		}
		if err != nil {
			return Aggregate(runs), fmt.Errorf("run %d of %d: %w", i+1, k, err)
		}
	}
	return Aggregate(runs), nil
}

// WriteRepeatedSummary prints the median ratio of each phase with its
// spread and every run's value.
func WriteRepeatedSummary(w io.Writer, rep *Repeated) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nRatios to the Deployment baseline over %d runs (baseline and Rollouts alternating)\n", len(rep.Runs))
	fmt.Fprintf(tw, "PHASE\tMEDIAN\tMIN\tMAX\tRUNS\n")
	names := make([]string, 0, len(rep.Ratios))
	for name := range rep.Ratios {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := rep.Ratios[name]
		vals := make([]string, len(s.Values))
		for i, v := range s.Values {
			vals[i] = fmt.Sprintf("%.2f×", v)
		}
		fmt.Fprintf(tw, "%s\t%.2f×\t%.2f×\t%.2f×\t%s\n", name, s.Median, s.Min, s.Max, strings.Join(vals, " "))
	}
	if len(names) == 0 {
		fmt.Fprintf(tw, "(no phase has a ratio: was the baseline off?)\n")
	}
	return tw.Flush()
}
