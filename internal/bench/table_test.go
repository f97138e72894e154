package bench

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func sampleResult() *Result {
	ctrl := func(total float64) *RequestCounts {
		return &RequestCounts{Total: total, PerRevision: total / 2, ByVerb: map[string]float64{"GET": total - 4, "PATCH": 4}}
	}
	return &Result{
		Scenario: ScenarioCanary, Rollouts: 2, Replicas: 3, Namespace: "bench",
		Baseline: []Phase{
			{Name: "create", Workload: "Deployment", Waited: "available", Seconds: 2, Completions: 2,
				Latency: Summary{Count: 2, P50: 1.5, P90: 2, P99: 2, Max: 2}, BenchRequests: 9},
			{Name: "update", Workload: "Deployment", Waited: "available", Seconds: 4, Completions: 2,
				Latency: Summary{Count: 2, P50: 3, P90: 4, P99: 4, Max: 4}},
		},
		Phases: []Phase{
			{Name: "create", Workload: "Rollout", Waited: "Healthy", Seconds: 3, Completions: 2,
				Latency:            Summary{Count: 2, P50: 2.5, P90: 3, P99: 3, Max: 3},
				ControllerRequests: ctrl(20),
				APIServerRequests: &RequestCounts{Total: 50, ByVerbResource: map[string]float64{
					"POST replicasets": 2, "PATCH rollouts/status": 30, "LIST rollouts": 18}},
				Controller: &ProcessUsage{CPUSeconds: 0.6, CPUCores: 0.2, RSSStartMiB: 40, RSSEndMiB: 48, RSSPeakMiB: 50, HWMMiB: 55}},
			{Name: "update", Workload: "Rollout", Waited: "Healthy", Seconds: 123.4, Completions: 2,
				Latency:            Summary{Count: 2, P50: 100, P90: 123.4, P99: 123.4, Max: 123.4},
				ControllerRequests: ctrl(31)},
		},
		Ratios:   map[string]float64{"create": 1.5, "update": 30.85},
		Analysis: &AnalysisStats{URL: "http://127.0.0.1:1234/", Measurements: 42, Seconds: 10.5, PerSecond: 4, Total: 50},
		Notes:    []string{"counts include every client"},
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sampleResult()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	row := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(strings.Join(strings.Fields(l), " "), prefix) {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("no row starting %q in:\n%s", prefix, out)
		return ""
	}
	for _, tc := range []struct{ prefix, want string }{
		{"kanaria bench:", "kanaria bench: scenario canary, 2 × 3 replicas, namespace bench"},
		{"Deployment create", "Deployment create available 2.00s - 2/2 1.50s 2.00s 2.00s 2.00s n/a n/a n/a 9 n/a n/a"},
		{"Rollout create", "Rollout create Healthy 3.00s 1.50× 2/2 2.50s 3.00s 3.00s 3.00s 20 10.0 50 0 0.60s (0.20 cores) 40/48/50 MiB"},
		{"Rollout update", "Rollout update Healthy 123s 30.85× 2/2 100s 123s 123s 123s 31 15.5 n/a 0 n/a n/a"},
		{"GET", "GET - - 16 27"},
		{"PATCH rollouts/status", "PATCH rollouts/status - - 30 -"},
		{"Analysis endpoint", "Analysis endpoint http://127.0.0.1:1234/: 42 measurements in 10.5s of update = 4.0/s (50 in the whole run)"},
		{"- counts", "- counts include every client"},
		{"Controller peak RSS", "Controller peak RSS since it started (VmHWM): 55 MiB"},
	} {
		if got := row(tc.prefix); got != tc.want {
			t.Errorf("row %q:\n got %q\nwant %q", tc.prefix, got, tc.want)
		}
	}
	// The API server breakdown is sorted busiest first.
	if i, j := strings.Index(out, "PATCH rollouts/status"), strings.Index(out, "LIST rollouts"); i < 0 || j < 0 || i > j {
		t.Errorf("API server rows not sorted by count:\n%s", out)
	}
}

func TestWriteTableWithoutMeasurements(t *testing.T) {
	var b bytes.Buffer
	res := &Result{Scenario: ScenarioAbort, Rollouts: 1, Replicas: 1, Namespace: "x",
		Phases: []Phase{{Name: "abort", Workload: "Rollout", Waited: "restored", Seconds: 0.5, Completions: 1,
			Latency: Summary{Count: 1, P50: 0.5, P90: 0.5, P99: 0.5, Max: 0.5}}}}
	if err := WriteTable(&b, res); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"Controller requests by method", "API server requests", "Analysis endpoint", "Notes:", "VmHWM"} {
		if strings.Contains(b.String(), absent) {
			t.Errorf("table mentions %q with nothing to show:\n%s", absent, b.String())
		}
	}
}

func TestBreakdownLimit(t *testing.T) {
	m := map[string]float64{}
	for i := range 20 {
		m[strings.Repeat("x", i+1)] = float64(i)
	}
	var b bytes.Buffer
	breakdown(func(f string, a ...any) {
		b.WriteString(strings.TrimSpace(strings.ReplaceAll(fmt.Sprintf(f, a...), "\t", " ")) + "\n")
	},
		[]Phase{{Name: "update", Workload: "Rollout", APIServerRequests: &RequestCounts{ByVerbResource: m}}},
		func(ph Phase) map[string]float64 { return byVerbResource(ph.APIServerRequests) }, 3)
	want := "update\n" + strings.Repeat("x", 20) + " 19\n" + strings.Repeat("x", 19) + " 18\n" + strings.Repeat("x", 18) + " 17\n(17 more rows in --json)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFormatNumbers(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{secs(0), "0s"}, {secs(0.123), "0.12s"}, {secs(9.999), "10.00s"}, {secs(12.34), "12.3s"}, {secs(456.7), "457s"},
		{count(0), "0"}, {count(1234), "1234"}, {count(2.5), "2.5"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
