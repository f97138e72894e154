package condition

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const (
	successful   = v1alpha1.AnalysisPhaseSuccessful
	failed       = v1alpha1.AnalysisPhaseFailed
	inconclusive = v1alpha1.AnalysisPhaseInconclusive
)

func TestEvaluate(t *testing.T) {
	nan := math.NaN()
	webBody := map[string]any{"ok": true, "successPercent": 0.95, "items": []any{1.0, 2.0}}

	tests := []struct {
		name    string
		success string
		failure string
		result  any
		want    v1alpha1.AnalysisPhase
		// wantErr is a substring of the error; empty means no error.
		wantErr string
	}{
		// Combination rules.
		{name: "no conditions is successful", result: 1.0, want: successful},
		{name: "no conditions with nil result", result: nil, want: successful},
		{name: "only success, holds", success: "result > 1", result: 2.0, want: successful},
		{name: "only success, does not hold, fails", success: "result > 1", result: 0.5, want: failed},
		{name: "only failure, holds", failure: "result > 1", result: 2.0, want: failed},
		{name: "only failure, does not hold, succeeds", failure: "result > 1", result: 0.5, want: successful},
		{name: "both, success holds", success: "result > 0.9", failure: "result < 0.5", result: 0.95, want: successful},
		{name: "both, failure holds", success: "result > 0.9", failure: "result < 0.5", result: 0.1, want: failed},
		{name: "both, neither holds, inconclusive", success: "result > 0.9", failure: "result < 0.5", result: 0.7, want: inconclusive},
		{name: "both hold, failure wins", success: "result > 0", failure: "result > 0", result: 1.0, want: failed},

		// Fixture conditions.
		{name: "fixture vector success", success: "result[0] >= 0.95", result: []float64{0.991}, want: successful},
		{name: "fixture vector failure", success: "result[0] >= 0.95", result: []float64{0.5}, want: failed},
		{name: "fixture default on nil", success: "default(result, 0) < 0.05", result: nil, want: successful},
		{name: "fixture default on value", success: "default(result, 0) < 0.05", result: 0.2, want: failed},
		{name: "fixture default on typed nil slice", success: "default(result, 0) < 0.05", result: []float64(nil), want: successful},

		// Result types.
		{name: "nil equals nil", success: "result == nil", result: nil, want: successful},
		{name: "typed nil map equals nil", success: "result == nil", result: map[string]any(nil), want: successful},
		{name: "pointer is dereferenced", success: "result == 3.0", result: ptr(3.0), want: successful},
		{name: "bool result", success: "result == true", result: true, want: successful},
		{name: "bool result as the condition", success: "result", result: false, want: failed},
		{name: "string result", success: `result == "healthy"`, result: "healthy", want: successful},
		{name: "web map fields", success: "result.ok && result.successPercent >= 0.90", result: webBody, want: successful},
		{name: "missing map key is nil", success: "result.missing == nil", result: webBody, want: successful},
		{name: "nested slice in map", success: "len(result.items) == 2 && result.items[1] == 2", result: webBody, want: successful},
		{name: "slice of any", success: "result[0] == 'a'", result: []any{"a"}, want: successful},

		// expr builtins.
		{name: "builtin all", success: "all(result, # > 0.9)", result: []float64{0.95, 0.99}, want: successful},
		{name: "builtin any", success: "any(result, # < 0.5)", result: []float64{0.95, 0.1}, want: successful},
		{name: "builtin filter and len", success: "len(filter(result, # > 0.9)) == 1", result: []float64{0.95, 0.1}, want: successful},
		{name: "builtin map", success: "map(result, # * 2)[0] == 2", result: []float64{1}, want: successful},
		{name: "builtin len of empty vector", success: "len(result) == 0", result: []float64{}, want: successful},

		// Helpers.
		{name: "default keeps value", success: "default(result, 5) == 1", result: 1.0, want: successful},
		{name: "default of missing field", success: "default(result.missing, 7) == 7", result: webBody, want: successful},
		{name: "default keeps NaN", success: "isNaN(default(result, 0))", result: nan, want: successful},
		{name: "isNil on nil", success: "isNil(result)", result: nil, want: successful},
		{name: "isNil on value", success: "isNil(result)", result: 0.0, want: failed},
		{name: "isNil on empty vector is false", success: "isNil(result)", result: []float64{}, want: failed},
		{name: "isNaN true", success: "isNaN(result)", result: nan, want: successful},
		{name: "isNaN false on int", success: "isNaN(result)", result: 3, want: failed},
		{name: "isNaN on vector element", failure: "isNaN(result[0])", result: []float64{nan}, want: failed},
		{name: "isInf positive", success: "isInf(result)", result: math.Inf(1), want: successful},
		{name: "isInf negative", success: "isInf(result)", result: math.Inf(-1), want: successful},
		{name: "isInf finite", success: "isInf(result)", result: 1.0, want: failed},
		{name: "asInt string", success: `asInt(result) == 42`, result: "42", want: successful},
		{name: "asInt float truncates", success: "asInt(result) == 3", result: 3.9, want: successful},
		{name: "asFloat string", success: "asFloat(result) > 0.5", result: "0.75", want: successful},
		{name: "asFloat NaN string", success: "isNaN(asFloat(result))", result: "NaN", want: successful},
		{name: "asFloat int", success: "asFloat(result) == 2.0", result: int64(2), want: successful},

		// NaN comparisons are false either way, so with both conditions
		// the measurement is inconclusive, as upstream.
		{name: "NaN compares false, inconclusive", success: "result >= 0.95", failure: "result < 0.95", result: nan, want: inconclusive},

		// Errors.
		{name: "asInt junk", success: "asInt(result) > 0", result: "abc", wantErr: `asInt: cannot convert "abc" to an integer`},
		{name: "asInt decimal string", success: "asInt(result) > 0", result: "1.5", wantErr: "asInt"},
		{name: "asInt NaN", success: "asInt(result) > 0", result: nan, wantErr: "cannot be converted"},
		{name: "asFloat junk", success: "asFloat(result) > 0", result: "n/a", wantErr: `asFloat: cannot convert "n/a" to a number`},
		{name: "asFloat bool", success: "asFloat(result) > 0", result: true, wantErr: "asFloat: expected a number, got bool"},
		{name: "isNaN string", success: "isNaN(result)", result: "x", wantErr: "isNaN: expected a number, got string"},
		{name: "isInf nil", success: "isInf(result)", result: nil, wantErr: "isInf: expected a number, got nil"},
		{name: "string compared with number", success: "result > 0.5", result: "0.9", wantErr: `evaluating "result > 0.5"`},
		{name: "nil compared with number", success: "result < 0.05", result: nil, wantErr: `successCondition: evaluating "result < 0.05"`},
		{name: "empty vector indexed", success: "result[0] >= 0.95", result: []float64{}, wantErr: "out of range"},
		{name: "field of a string", success: "result.ok", result: "text", wantErr: `evaluating "result.ok"`},
		{name: "non-bool success", success: "result + 1", result: 1.0, wantErr: `evaluating "result + 1": expected a bool, got float64`},
		{name: "non-bool failure", failure: "result", result: "yes", wantErr: "failureCondition: evaluating \"result\": expected a bool, got string"},
		{name: "unparsable", success: "result >=", result: 1.0, wantErr: `compiling "result >="`},
		{name: "unknown identifier", success: "reslt > 1", result: 1.0, wantErr: `compiling "reslt > 1"`},
		{name: "helper arity", success: "default(result) == 1", result: 1.0, wantErr: `compiling "default(result) == 1"`},
		{name: "failure error reported even when success holds", success: "true", failure: "result >", result: 1.0, wantErr: "failureCondition: compiling"},
	}

	e := NewEvaluator()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Evaluate(tc.success, tc.failure, tc.result)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Evaluate() = %s, want error containing %q", got, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Evaluate() error = %q, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans lines, want one line: %q", err)
				}
				if got != v1alpha1.AnalysisPhaseError {
					t.Errorf("phase with error = %s, want Error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Evaluate() unexpected error: %v", err)
			}
			if got != tc.want {
				t.Errorf("Evaluate() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCompile(t *testing.T) {
	e := NewEvaluator()
	for _, ok := range []string{"result[0] >= 0.95", "default(result, 0) < 0.05", "isNaN(result) || isInf(result)", `asInt(result) == 1`} {
		if err := e.Compile(ok); err != nil {
			t.Errorf("Compile(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"result >=", "(result", "foo(result)", "isNaN()", "result ==== 1"} {
		err := e.Compile(bad)
		if err == nil {
			t.Errorf("Compile(%q) = nil, want error", bad)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("Compile(%q) error %q does not name the expression", bad, err)
		}
	}
}

func TestCacheReusesProgramsAndStaysBounded(t *testing.T) {
	e := NewEvaluator()
	p1, err := e.program("result > 1")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.program("result > 1")
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Error("second lookup compiled again, want the cached program")
	}
	for i := range maxCachedPrograms + 10 {
		if err := e.Compile(fmt.Sprintf("result > %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	e.mu.RLock()
	n := len(e.programs)
	e.mu.RUnlock()
	if n > maxCachedPrograms {
		t.Errorf("cache holds %d programs, want at most %d", n, maxCachedPrograms)
	}
}

func TestEvaluateConcurrently(t *testing.T) {
	e := NewEvaluator()
	var wg sync.WaitGroup
	errs := make(chan error, 64*50)
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				// A mix of shared and per-goroutine expressions exercises
				// both cache hits and concurrent inserts.
				threshold := fmt.Sprintf("result[0] >= 0.%d", (g+i)%10)
				v := float64((g*i)%10) / 10
				got, err := e.Evaluate(threshold, "default(result, 0)[0] < 0", []float64{v})
				if err != nil {
					errs <- err
					return
				}
				// The failure condition never holds, so a miss is Inconclusive.
				want := inconclusive
				if v >= float64((g+i)%10)/10 {
					want = successful
				}
				if got != want {
					errs <- fmt.Errorf("%s with %v = %s, want %s", threshold, v, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func ptr[T any](v T) *T { return &v }
