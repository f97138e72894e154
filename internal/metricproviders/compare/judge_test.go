package compare

import (
	"math"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// seq returns n values start, start+step, ...
func seq(n int, start, step float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = start + float64(i)*step
	}
	return out
}

func ptr(f float64) *float64 { return &f }

func TestClassify(t *testing.T) {
	base := seq(20, 100, 1) // 100..119, median 109.5
	for _, tc := range []struct {
		name   string
		m      Metric
		s      Samples
		want   Class
		failed bool
	}{
		{"identical samples pass", Metric{}, Samples{base, base}, Pass, false},
		{"constant equal series pass", Metric{}, Samples{seq(10, 5, 0), seq(10, 5, 0)}, Pass, false},
		{"constant higher series is high", Metric{}, Samples{seq(10, 6, 0), seq(10, 5, 0)}, High, true},
		{"clearly higher is high", Metric{Direction: Increase}, Samples{seq(20, 150, 1), base}, High, true},
		{"clearly higher passes when only decreases are bad", Metric{Direction: Decrease}, Samples{seq(20, 150, 1), base}, Pass, false},
		{"clearly lower is low", Metric{Direction: Either}, Samples{seq(20, 50, 1), base}, Low, true},
		{"clearly lower passes when only increases are bad", Metric{Direction: Increase}, Samples{seq(20, 50, 1), base}, Pass, false},
		// +30 on a median of 109.5 is 27%: within 1.5, beyond 1.2.
		{"higher within allowedIncrease passes", Metric{Direction: Increase, AllowedIncrease: 1.5}, Samples{seq(20, 130, 1), base}, Pass, false},
		{"higher beyond allowedIncrease is high", Metric{Direction: Increase, AllowedIncrease: 1.2}, Samples{seq(20, 130, 1), base}, High, true},
		{"lower within allowedDecrease passes", Metric{Direction: Decrease, AllowedDecrease: 0.5}, Samples{seq(20, 70, 1), base}, Pass, false},
		{"overlapping samples pass", Metric{}, Samples{seq(20, 101, 1), base}, Pass, false},
		{"tiny samples cannot show a difference at 95%", Metric{}, Samples{[]float64{200}, []float64{100}}, Pass, false},
		{"empty canary is no data", Metric{}, Samples{nil, base}, NoData, false},
		{"only NaN is no data", Metric{}, Samples{[]float64{math.NaN(), math.NaN()}, base}, NoData, false},
		{"no data fails a metric that must have data", Metric{MustHaveData: true}, Samples{base, nil}, NoData, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.Name = "m"
			got := Classify(tc.m, tc.s)
			if got.Class != tc.want || got.Failing != tc.failed {
				t.Fatalf("class %s failing %v, want %s %v (%+v)", got.Class, got.Failing, tc.want, tc.failed, got)
			}
			if got.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}

func TestClassifyRecordsNumbers(t *testing.T) {
	got := Classify(Metric{Name: "latency", Direction: Increase}, Samples{seq(10, 20, 1), seq(10, 10, 1)})
	// Canary 20..29 against 10..19: every difference is 1..19, median 10.
	if got.Estimate != 10 || got.U != 100 || got.Canary != 10 || got.Baseline != 10 || got.Method != "exact" {
		t.Fatalf("%+v", got)
	}
	if !(got.Low > 0 && got.High < 19 && got.Low < 10 && got.High > 10) || got.P > 0.001 {
		t.Fatalf("interval [%v, %v] p %v", got.Low, got.High, got.P)
	}
	// Baseline median 14.5; canary location 24.5.
	if math.Abs(got.Effect-24.5/14.5) > 1e-12 {
		t.Errorf("effect %v", got.Effect)
	}
	zero := Classify(Metric{Name: "errors"}, Samples{[]float64{0, 0, 1}, []float64{0, 0, 0}})
	if !math.IsNaN(zero.Effect) {
		t.Errorf("effect over a zero baseline = %v, want NaN", zero.Effect)
	}
}

func TestRemoveOutliers(t *testing.T) {
	values := append(seq(19, 10, 0.1), 1000)
	kept, removed := RemoveOutliers(values, 3)
	if removed != 1 || len(kept) != 19 {
		t.Fatalf("removed %d, kept %d", removed, len(kept))
	}
	if _, removed := RemoveOutliers(seq(20, 0, 1), 3); removed != 0 {
		t.Errorf("removed %d from a spread without outliers", removed)
	}
	if _, removed := RemoveOutliers([]float64{1, 2, 1000}, 3); removed != 0 {
		t.Errorf("removed %d from three values", removed)
	}
	// One spike in the canary makes it High when kept, and passes when
	// removed.
	canary := append(seq(19, 100, 1), 1e6)
	spikes := Samples{canary, append(seq(19, 100, 1), 110)}
	if got := Classify(Metric{Name: "m", Direction: Increase, Outliers: OutliersRemove}, spikes); got.Class != Pass || got.Removed != 1 {
		t.Errorf("removed: %+v", got)
	}
}

func TestJudge(t *testing.T) {
	same := Samples{seq(20, 100, 1), seq(20, 100, 1)}
	high := Samples{seq(20, 200, 1), seq(20, 100, 1)}
	none := Samples{nil, seq(20, 100, 1)}
	cfg := func(scoring *Scoring, ms ...Metric) *Config { return &Config{Metrics: ms, Scoring: scoring} }
	for _, tc := range []struct {
		name    string
		c       *Config
		s       map[string]Samples
		phase   v1alpha1.AnalysisPhase
		score   float64
		message string
	}{
		{"all pass", cfg(nil, Metric{Name: "a"}, Metric{Name: "b"}),
			map[string]Samples{"a": same, "b": same}, v1alpha1.AnalysisPhaseSuccessful, 100, "score 100"},
		{"one of two fails: 50 is below marginal", cfg(nil, Metric{Name: "a"}, Metric{Name: "b"}),
			map[string]Samples{"a": same, "b": high}, v1alpha1.AnalysisPhaseFailed, 50, "b High"},
		{"weights: a light failure is marginal", cfg(nil, Metric{Name: "a", Weight: ptr(4)}, Metric{Name: "b", Weight: ptr(1)}),
			map[string]Samples{"a": same, "b": high}, v1alpha1.AnalysisPhaseInconclusive, 80, "score 80"},
		{"thresholds of its own", cfg(&Scoring{Pass: 80, Marginal: 50}, Metric{Name: "a", Weight: ptr(4)}, Metric{Name: "b"}),
			map[string]Samples{"a": same, "b": high}, v1alpha1.AnalysisPhaseSuccessful, 80, "score 80"},
		{"critical failure fails whatever the score", cfg(&Scoring{Pass: 10, Marginal: 5}, Metric{Name: "a", Weight: ptr(99)}, Metric{Name: "b", Critical: true}),
			map[string]Samples{"a": same, "b": high}, v1alpha1.AnalysisPhaseFailed, 0, "critical metric b failed"},
		{"no data leaves a metric out", cfg(nil, Metric{Name: "a"}, Metric{Name: "b"}, Metric{Name: "c"}),
			map[string]Samples{"a": same, "b": same, "c": none}, v1alpha1.AnalysisPhaseSuccessful, 100, "score 100"},
		{"half without data is inconclusive", cfg(nil, Metric{Name: "a"}, Metric{Name: "b"}),
			map[string]Samples{"a": same, "b": none}, v1alpha1.AnalysisPhaseInconclusive, 100, "1 of 2 metrics had no data"},
		{"must have data counts as failing", cfg(nil, Metric{Name: "a"}, Metric{Name: "b", MustHaveData: true}),
			map[string]Samples{"a": same, "b": none}, v1alpha1.AnalysisPhaseFailed, 50, "b NoData"},
		{"critical without data it must have fails", cfg(nil, Metric{Name: "a"}, Metric{Name: "b", MustHaveData: true, Critical: true}),
			map[string]Samples{"a": same}, v1alpha1.AnalysisPhaseFailed, 0, "critical metric b failed"},
		{"critical without data it may lack is left out", cfg(nil, Metric{Name: "a"}, Metric{Name: "b", Critical: true}, Metric{Name: "c"}),
			map[string]Samples{"a": same, "c": same}, v1alpha1.AnalysisPhaseSuccessful, 100, "score 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := Judge(tc.c, tc.s)
			if j.Phase != tc.phase || j.Score != tc.score || !strings.Contains(j.Message, tc.message) {
				t.Fatalf("phase %s score %v message %q, want %s %v %q", j.Phase, j.Score, j.Message, tc.phase, tc.score, tc.message)
			}
			if len(j.Metrics) != len(tc.c.Metrics) {
				t.Fatalf("%d results for %d metrics", len(j.Metrics), len(tc.c.Metrics))
			}
		})
	}
}
