package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestChurnRows(t *testing.T) {
	seq := func(from, to int) []int {
		var out []int
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	for _, tc := range []struct {
		n    int
		want []int
	}{
		{0, nil},
		{1, []int{1}},
		{15, seq(1, 15)},
		{16, []int{1, 2, 3, 10, 14, 15, 16}},
		{20, []int{1, 2, 3, 10, 18, 19, 20}},
		{41, []int{1, 2, 3, 10, 20, 30, 39, 40, 41}},
		{100, []int{1, 2, 3, 10, 20, 30, 40, 50, 60, 70, 80, 90, 98, 99, 100}},
	} {
		if got := churnRows(tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("churnRows(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestRoundPatch(t *testing.T) {
	var p map[string]any
	if err := json.Unmarshal(roundPatch("12"), &p); err != nil {
		t.Fatal(err)
	}
	got := p["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)
	if len(got) != 1 || got[AnnotationRound] != "12" {
		t.Errorf("annotations %v", got)
	}
}

func TestCheckChurnAccepts(t *testing.T) {
	for _, cfg := range []Config{
		{Scenario: ScenarioAbort, Rollouts: 1, Replicas: 1},
		{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, Churn: 29 * time.Minute},
		{Scenario: ScenarioBlueGreen, Rollouts: 1, Replicas: 1, Churn: time.Hour, Timeout: 2 * time.Hour},
	} {
		if _, err := cfg.withDefaults(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func TestRunChurn(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 3, Replicas: 1, Baseline: true, Churn: 5 * time.Second})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	// The churn's phases stay out of the per-phase table and the ratios.
	wantPhases(t, res.Baseline, "Deployment", "create", "update")
	wantPhases(t, res.Phases, "Rollout", "create", "update")
	c := res.Churn
	if c == nil {
		t.Fatal("no churn result")
	}
	// A round is 1.5s of releases and 0.8s of memory readings on the
	// virtual clock: rounds end at 2.3s and 4.6s, both under 5s, and the
	// third, started at 4.6s, finishes although it ends after 5s.
	if len(c.Rounds) != 3 || c.RequestedSeconds != 5 || c.Seconds < 6.8 || c.Seconds > 7 {
		t.Fatalf("%d rounds in %vs of %vs, want 3 in 6.9s", len(c.Rounds), c.Seconds, c.RequestedSeconds)
	}
	var lastRSS int64
	var lastCPU float64
	for i, r := range c.Rounds {
		if r.Round != i+1 || r.Completions != 3 || r.Seconds != 1.5 || r.Latency != threeTicks {
			t.Errorf("round %+v", r)
		}
		if u := r.Controller; u == nil || u.RSSBytes <= lastRSS || u.CPUSeconds <= lastCPU {
			t.Errorf("round %d: controller %+v after RSS %d, CPU %v", r.Round, u, lastRSS, lastCPU)
		} else {
			lastRSS, lastCPU = u.RSSBytes, u.CPUSeconds
		}
	}
	u := c.Controller
	if u == nil || u.RSSEndBytes != lastRSS || u.CPUSeconds != lastCPU || u.HWMBytes != 100<<20 ||
		u.GrowthBytes != u.RSSEndBytes-u.RSSStartBytes || u.GrowthBytes <= 0 || u.GrowthPercent <= 0 {
		t.Errorf("churn usage %+v", u)
	}
	var ros v1alpha1.RolloutList
	if err := h.c.List(context.Background(), &ros); err != nil {
		t.Fatal(err)
	}
	for _, ro := range ros.Items {
		if ro.Spec.Template.Annotations[AnnotationRound] != "3" || ro.Status.StableRS != hashOf(DefaultUpdateImage)+"3" {
			t.Errorf("rollout %s: annotations %v, stable %s", ro.Name, ro.Spec.Template.Annotations, ro.Status.StableRS)
		}
	}
	// The baseline does not churn: its Deployments were gone before.
	var deps appsv1.DeploymentList
	if err := h.c.List(context.Background(), &deps); err != nil || len(deps.Items) != 0 {
		t.Errorf("%d Deployments during the churn (%v)", len(deps.Items), err)
	}
	for _, want := range []string{"churn: releasing all 3 Rollouts round after round for 5s", "churn round 2: all 3 Healthy after 1.5s",
		"churn: round 3 done, 7s of 5s, controller RSS", "churn: 3 rounds in 7s"} {
		if !strings.Contains(h.progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, h.progress)
		}
	}
	if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, "median of 5 readings 200ms apart") }) {
		t.Errorf("no note on the memory readings: %q", res.Notes)
	}
}

func TestRunMemoryPerRollout(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioBlueGreen, Rollouts: 3, Replicas: 1})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	m := res.Memory
	// fakeProc grows by 1 MiB a reading, so the after point is above the
	// before point by however many readings the create phase took.
	if m == nil || m.DeltaBytes <= 0 || m.DeltaBytes != m.RSSAfterBytes-m.RSSBeforeBytes ||
		m.BytesPerRollout != float64(m.DeltaBytes)/3 || m.DeltaBytes%(1<<20) != 0 {
		t.Errorf("memory per Rollout %+v", m)
	}
	// The readings stay outside the timed create phase.
	if p := res.Phase("create"); p.Seconds != 1.5 {
		t.Errorf("create took %vs, want 1.5s", p.Seconds)
	}
	if res.Churn != nil {
		t.Errorf("churn ran without --churn: %+v", res.Churn)
	}

	h = newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, Churn: time.Second})
	h.runner.Process = nil
	// Without readings a round of one Rollout is one 0.5s tick: two fit in 1s.
	res, err = h.runner.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Memory != nil || res.Churn == nil || res.Churn.Controller != nil || len(res.Churn.Rounds) != 2 || res.Churn.Rounds[1].Controller != nil {
		t.Errorf("without a process: memory %+v, churn %+v", res.Memory, res.Churn)
	}
}

// cancelOn cancels a context when a progress line contains a string.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	when   string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if strings.Contains(string(b), w.when) {
		w.cancel()
	}
	return w.buf.Write(b)
}

func TestRunChurnInterruptedKeepsRounds(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 2, Replicas: 1, Churn: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelOn{when: "churn round 3: 2 Rollouts", cancel: cancel}
	h.runner.Progress = w
	res, err := h.runner.Run(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "churn round 3") {
		t.Fatalf("err = %v, want round 3 canceled\nprogress:\n%s", err, &w.buf)
	}
	// The two finished rounds, and the one the interruption ended, marked.
	c := res.Churn
	if c == nil || len(c.Rounds) != 3 || c.Controller == nil || c.Controller.RSSEndBytes != c.Rounds[1].Controller.RSSBytes {
		t.Fatalf("partial churn %+v", c)
	}
	if c.Rounds[0].Interrupted || c.Rounds[1].Interrupted || !c.Rounds[2].Interrupted || c.Rounds[2].Round != 3 {
		t.Errorf("rounds %+v, want rounds 1 and 2 finished and round 3 interrupted", c.Rounds)
	}
}

func TestRunChurnAnalysisCountsWholeRun(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioAnalysis, Rollouts: 3, Replicas: 1, Churn: time.Second})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	// One measurement per Rollout and release: the update's 3, then 3 in
	// each churn round.
	a, rounds := res.Analysis, len(res.Churn.Rounds)
	if rounds < 1 || a.Measurements != 3 || a.Total != int64(3+3*rounds) {
		t.Errorf("analysis %+v after %d churn rounds, want 3 in the update and %d in total", a, rounds, 3+3*rounds)
	}
}

// anonProc is fakeProc with an RssAnon 2 MiB under its RSS.
type anonProc struct{ fakeProc }

func (p *anonProc) Read() (ProcSample, error) {
	s, err := p.fakeProc.Read()
	s.AnonBytes = s.RSSBytes - 2<<20
	return s, err
}

func TestRunChurnRecordsAnonAndHeapLive(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 2, Replicas: 1, Churn: 3 * time.Second})
	h.runner.Process = &anonProc{}
	// Every scrape finds 1 MiB more kept by the collector, and the
	// request counter the phases read beside it.
	var mu sync.Mutex
	scrapes := int64(0)
	h.runner.ControllerMetrics = ScraperFunc(func(context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		scrapes++
		page := fmt.Appendf(nil, "%s{code=\"200\",host=\"h\",method=\"GET\"} %d\n", ControllerRequestsMetric, 10*scrapes)
		return append(page, runtimePage((40+scrapes)<<20, (50+scrapes)<<20, int(scrapes))...), nil
	})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	c := res.Churn
	if c == nil || c.Controller == nil || len(c.Rounds) < 2 {
		t.Fatalf("churn %+v, want at least 2 measured rounds", c)
	}
	u := c.Controller
	if u.AnonStartBytes != u.RSSStartBytes-2<<20 || u.HeapLiveStartBytes <= 40<<20 {
		t.Errorf("start: RSS %d, RssAnon %d, heap live %d", u.RSSStartBytes, u.AnonStartBytes, u.HeapLiveStartBytes)
	}
	prevHeap := u.HeapLiveStartBytes
	for _, r := range c.Rounds {
		ru := r.Controller
		if ru == nil {
			t.Fatalf("round %d not measured", r.Round)
		}
		if ru.AnonBytes != ru.RSSBytes-2<<20 || ru.HeapLiveBytes <= prevHeap {
			t.Errorf("round %d: RSS %d, RssAnon %d, heap live %d after %d", r.Round, ru.RSSBytes, ru.AnonBytes, ru.HeapLiveBytes, prevHeap)
		}
		prevHeap = ru.HeapLiveBytes
	}
	last := c.Rounds[len(c.Rounds)-1].Controller
	if u.AnonEndBytes != last.AnonBytes || u.HeapLiveEndBytes != last.HeapLiveBytes {
		t.Errorf("end: RssAnon %d, heap live %d; the last round read %d and %d", u.AnonEndBytes, u.HeapLiveEndBytes, last.AnonBytes, last.HeapLiveBytes)
	}
	if !strings.Contains(h.progress.String(), "churn: round 1 done") || !strings.Contains(h.progress.String(), ", heap live ") {
		t.Errorf("progress lacks the round's heap live:\n%s", h.progress)
	}
	// The readings reach the JSON.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"rssAnonBytes":`, `"heapLiveBytes":`, `"rssAnonStartBytes":`, `"heapLiveEndBytes":`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
}
