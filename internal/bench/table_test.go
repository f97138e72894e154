package bench

import (
	"bytes"
	"fmt"
	"slices"
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
		{iec(0), "0 B"}, {iec(1023), "1023 B"}, {iec(64 << 10), "64.0 KiB"}, {iec(-1.5 * (1 << 20)), "-1.5 MiB"}, {iec(3 << 30), "3.00 GiB"},
		{signed(2048), "+2.0 KiB"}, {signed(-2048), "-2.0 KiB"}, {signed(0), "0 B"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestWriteTableMemoryAndChurn(t *testing.T) {
	res := sampleResult()
	res.Memory = memoryPerRollout(procPoint{rss: 40 << 20}, procPoint{rss: 52 << 20}, 2)
	c := &Churn{RequestedSeconds: 300, Seconds: 302, Change: "pod-template annotation " + AnnotationRound + " set to the round number",
		Controller: &ChurnUsage{RSSStartBytes: 52 << 20, RSSEndBytes: 60 << 20, HWMBytes: 70 << 20, GrowthBytes: 8 << 20, GrowthPercent: 15.38, CPUSeconds: 42.5,
			AnonStartBytes: 40 << 20, AnonEndBytes: 50 << 20, HeapLiveStartBytes: 20 << 20, HeapLiveEndBytes: 21 << 20}}
	for i := 1; i <= 23; i++ {
		c.Rounds = append(c.Rounds, ChurnRound{Round: i, Seconds: 12.5, Completions: 2, Latency: Summary{P50: 8, Max: 12.4},
			Controller: &RoundUsage{RSSBytes: 52<<20 + int64(i)<<20, AnonBytes: 40<<20 + int64(i)<<20, HeapLiveBytes: 20 << 20, CPUSeconds: float64(i)}})
	}
	// A round read without the controller's /metrics.
	c.Rounds[21].Controller.HeapLiveBytes = 0
	c.Rounds[22].Controller = nil
	res.Churn = c
	var b bytes.Buffer
	if err := WriteTable(&b, res); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	for _, want := range []string{
		"Controller memory per Rollout (median RSS of 5 readings 200ms apart at each point)",
		"RSS before create 40.0 MiB", "RSS after all 2 Healthy 52.0 MiB", "difference +12.0 MiB", "per Rollout +6.0 MiB",
		"Churn: 23 rounds in 302s (--churn 5m0s), each changing the pod-template annotation kanaria.dev/bench-round set to the round number",
		"controller RSS at churn start 52.0 MiB", "controller RSS at churn end 60.0 MiB", "growth +8.0 MiB (+15.4%)",
		"peak RSS since start (VmHWM) 70.0 MiB", "CPU during churn 42.50s",
		"RssAnon at churn start, end, growth 40.0 MiB, 50.0 MiB, +10.0 MiB (+25.0%)",
		"heap live at churn start, end, growth 20.0 MiB, 21.0 MiB, +1.0 MiB (+5.0%)",
		"ROUND TIME DONE P50 MAX RSS RSSANON HEAP LIVE CPU SINCE CHURN START",
		"3 12.5s 2 8.00s 12.4s 55.0 MiB 43.0 MiB 20.0 MiB 3.00s", "10 12.5s 2 8.00s 12.4s 62.0 MiB 50.0 MiB 20.0 MiB 10.00s",
		"22 12.5s 2 8.00s 12.4s 74.0 MiB 62.0 MiB n/a 22.00s", "23 12.5s 2 8.00s 12.4s n/a n/a n/a n/a",
		"(15 more rounds in --json)",
		// The churn's peak is the highest VmHWM of the run.
		"Controller peak RSS since it started (VmHWM): 70 MiB",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("no line %q in:\n%s", want, b.String())
		}
	}
	var rows []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && (f[0] == "..." || len(f) >= 7 && f[1] == "12.5s") {
			rows = append(rows, f[0])
		}
	}
	if want := []string{"1", "2", "3", "...", "10", "...", "20", "21", "22", "23"}; !slices.Equal(rows, want) {
		t.Errorf("round rows %v, want %v", rows, want)
	}
	// The gap rows keep the columns aligned: every round's P50 starts in
	// the same column.
	col := -1
	for _, l := range strings.Split(b.String(), "\n") {
		if f := strings.Fields(l); len(f) >= 7 && f[1] == "12.5s" {
			if i := strings.Index(l, "8.00s"); col < 0 {
				col = i
			} else if i != col {
				t.Errorf("misaligned round row %q", l)
			}
		}
	}
}

func TestWriteTableSettledMemory(t *testing.T) {
	res := sampleResult()
	rt := func(live int64) *RuntimeMemory {
		return &RuntimeMemory{HeapLiveBytes: live, HeapObjectsBytes: live + 1<<20, HeapGoalBytes: 2 * live, GCCycles: 7}
	}
	res.Memory = &MemoryPerRollout{RSSBeforeBytes: 60 << 20, RSSAfterBytes: 180 << 20, DeltaBytes: 120 << 20, BytesPerRollout: 61440,
		SamplesPerPoint: 5, SampleIntervalSeconds: 0.2,
		Settled: &SettledMemory{IdleSeconds: 300, ReadEverySeconds: 60, ScrapeEverySeconds: 15, BeforeRuntime: rt(9 << 20),
			Readings:            []IdleReading{{RSSBytes: 180 << 20, Runtime: rt(60 << 20)}, {Seconds: 300, RSSBytes: 110 << 20, CPUSeconds: 12.5, Runtime: rt(40 << 20)}},
			SettledAfterSeconds: 300, RSSBytesPerRollout: 25600, HeapLiveBytesPerRollout: 15872, HeapObjectsBytesPerRollout: 15872}}
	var b bytes.Buffer
	if err := WriteTable(&b, res); err != nil {
		t.Fatal(err)
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"(--settle 5m0s, /metrics scraped every 15s;",
		"before create 60.0 MiB 0 B 9.0 MiB 10.0 MiB 0 B 0 B 0 B 18.0 MiB 0 B 0 B 7",
		"5m0s 12.50s 110.0 MiB 0 B 40.0 MiB 41.0 MiB",
		"settled per Rollout after 5m0s idle (less before the create, / N) RSS +25.0 KiB, RssAnon 0 B, heap live +15.5 KiB, heap objects +15.5 KiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, b.String())
		}
	}
}
