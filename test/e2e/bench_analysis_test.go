package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestBenchAnalysisRuns measures the AnalysisRun engine: N concurrent runs,
// each measuring a local web target every second. It reports measurements
// per second and the controller's CPU and memory; it asserts nothing about
// speed. It runs only with KANARIA_BENCH=1 (N from KANARIA_BENCH_RUNS,
// default 1000; extra controller flags from KANARIA_BENCH_ARGS).
func TestBenchAnalysisRuns(t *testing.T) {
	if os.Getenv("KANARIA_BENCH") != "1" {
		t.Skip("benchmark: set KANARIA_BENCH=1 to run it")
	}
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "bench")
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("KANARIA_BENCH_RUNS")); err == nil && v > 0 {
		n = v
	}
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"ok": true}`)
	}))
	defer target.Close()
	args := strings.Fields(os.Getenv("KANARIA_BENCH_ARGS"))
	p := runController(t, ns, append([]string{"--log-level", "error"}, args...)...)
	cpu0, _ := procCPU(p.cmd.Process.Pid)

	count := intstr.FromInt32(100000)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			run := &v1alpha1.AnalysisRun{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("run-%04d", i), Namespace: ns},
				Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{
					Name: "web", Interval: "1s", Count: &count, SuccessCondition: "result.ok == true",
					Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: target.URL}},
				}}},
			}
			if err := c.ctrl.Create(context.Background(), run); err != nil {
				t.Errorf("creating run %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	created := time.Since(start)
	eventually(t, 10*time.Minute, "every run to take a measurement", func() (bool, error) {
		var list v1alpha1.AnalysisRunList
		if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		started := 0
		for _, r := range list.Items {
			if len(r.Status.MetricResults) > 0 && r.Status.MetricResults[0].Count > 0 {
				started++
			}
		}
		return started == n, fmt.Errorf("%d of %d runs measured", started, n)
	})
	warm := time.Since(start)

	const window = 60 * time.Second
	h0, c0, t0 := hits.Load(), mustCPU(t, p), time.Now()
	time.Sleep(window)
	h1, c1, t1 := hits.Load(), mustCPU(t, p), time.Now()
	elapsed := t1.Sub(t0).Seconds()
	rss, hwm := procMem(p.cmd.Process.Pid)
	result := map[string]any{
		"runs":                    n,
		"controllerArgs":          args,
		"createSeconds":           created.Seconds(),
		"allMeasuringAfterSecond": warm.Seconds(),
		"measurementsPerSecond":   float64(h1-h0) / elapsed,
		"idealPerSecond":          n,
		"controllerCPUCores":      (c1 - c0) / elapsed,
		"controllerCPUSecondsAll": c1 - cpu0,
		"controllerRSSMiB":        rss / 1024,
		"controllerPeakRSSMiB":    hwm / 1024,
	}
	b, _ := json.MarshalIndent(result, "", "  ")
	t.Logf("analysis benchmark:\n%s", b)
	out := filepath.Join(repoRoot(t), "test", "output")
	_ = os.MkdirAll(out, 0o755)
	_ = os.WriteFile(filepath.Join(out, fmt.Sprintf("bench-analysis-%d.json", n)), b, 0o644)
}

func mustCPU(t *testing.T, p *controllerProcess) float64 {
	t.Helper()
	v, err := procCPU(p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// procCPU returns a process's user+system CPU seconds from /proc.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

// procMem returns a process's resident and peak resident memory in KiB.
func procMem(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}
