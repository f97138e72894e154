package bench

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want RatioSpread
	}{
		{[]float64{1.2}, RatioSpread{Median: 1.2, Min: 1.2, Max: 1.2, Values: []float64{1.2}}},
		{[]float64{1.4, 0.9, 1.1}, RatioSpread{Median: 1.1, Min: 0.9, Max: 1.4, Values: []float64{1.4, 0.9, 1.1}}},
		{[]float64{1.0, 2.0, 1.25, 1.5}, RatioSpread{Median: 1.375, Min: 1.0, Max: 2.0, Values: []float64{1.0, 2.0, 1.25, 1.5}}},
	} {
		got, ok := SpreadOf(tc.in)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SpreadOf(%v) = %+v %v, want %+v", tc.in, got, ok, tc.want)
		}
	}
	if _, ok := SpreadOf(nil); ok {
		t.Error("SpreadOf(nil) has a median")
	}
}

func TestRunRepeatedAggregatesEveryRunAndStopsAtAnError(t *testing.T) {
	ratios := []map[string]float64{{"update": 1.3, "create": 1.0}, {"update": 1.1}, {"update": 0.9, "create": 1.2}}
	var calls []int
	rep, err := RunRepeated(context.Background(), 3, func(_ context.Context, i int) (*Result, error) {
		calls = append(calls, i)
		return &Result{Ratios: ratios[i]}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(calls, []int{0, 1, 2}) || len(rep.Runs) != 3 {
		t.Fatalf("calls %v, runs %d", calls, len(rep.Runs))
	}
	if got := rep.Ratios["update"]; got.Median != 1.1 || got.Min != 0.9 || got.Max != 1.3 {
		t.Errorf("update %+v", got)
	}
	if got := rep.Ratios["create"]; got.Median != 1.1 || len(got.Values) != 2 {
		t.Errorf("create counts only the runs that have it: %+v", got)
	}
	var out bytes.Buffer
	if err := WriteRepeatedSummary(&out, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "over 3 runs") || !strings.Contains(out.String(), "1.30× 1.10× 0.90×") {
		t.Errorf("summary:\n%s", out.String())
	}

	boom := errors.New("timed out")
	rep, err = RunRepeated(context.Background(), 3, func(_ context.Context, i int) (*Result, error) {
		if i == 1 {
			return &Result{Ratios: map[string]float64{"update": 5}}, boom
		}
		return &Result{Ratios: map[string]float64{"update": 1}}, nil
	})
	if !errors.Is(err, boom) || len(rep.Runs) != 2 {
		t.Fatalf("err %v, runs %d: a failed run ends the repetition and keeps what it measured", err, len(rep.Runs))
	}
}
