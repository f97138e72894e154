package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []int64
		want int64
	}{
		{nil, 0},
		{[]int64{7}, 7},
		{[]int64{5, 1, 3}, 3},
		// A GC spike or trough among five readings does not move the median.
		{[]int64{100, 100, 900, 101, 10}, 100},
		{[]int64{4, 1, 3, 2}, 2}, // (2+3)/2 rounds down
		{[]int64{10, 20}, 15},
		{[]int64{1 << 62, 1<<62 + 2}, 1<<62 + 1}, // no overflow
	} {
		in := slices.Clone(tc.in)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %d, want %d", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("median reordered its input: %v", in)
		}
	}
}

func TestMemoryPerRollout(t *testing.T) {
	m := memoryPerRollout(procPoint{rss: 40 << 20, anon: 30 << 20}, procPoint{rss: 50 << 20, anon: 35 << 20}, 200)
	if m.DeltaBytes != 10<<20 || m.BytesPerRollout != float64(10<<20)/200 || m.RSSBeforeBytes != 40<<20 || m.RSSAfterBytes != 50<<20 {
		t.Errorf("got %+v", m)
	}
	if m.AnonBeforeBytes != 30<<20 || m.AnonAfterBytes != 35<<20 || m.AnonBytesPerRollout != float64(5<<20)/200 {
		t.Errorf("anonymous RSS: %+v", m)
	}
	if m.SamplesPerPoint != 5 || m.SampleIntervalSeconds != 0.2 {
		t.Errorf("sampling %d every %vs, want 5 every 0.2s", m.SamplesPerPoint, m.SampleIntervalSeconds)
	}
	// The GC can return more than the Rollouts took; that is reported, not hidden.
	if m := memoryPerRollout(procPoint{rss: 50 << 20}, procPoint{rss: 49 << 20}, 4); m.DeltaBytes != -1<<20 || m.BytesPerRollout != -(1<<18) {
		t.Errorf("shrink: %+v", m)
	}
	if m := memoryPerRollout(procPoint{rss: 50 << 20}, procPoint{rss: 49 << 20}, 4); m.AnonAfterBytes != 0 || m.AnonBytesPerRollout != 0 {
		t.Errorf("no RssAnon reported, yet %+v", m)
	}
	if m := memoryPerRollout(procPoint{rss: 1}, procPoint{rss: 2}, 0); m.BytesPerRollout != 0 {
		t.Errorf("no Rollouts: %+v", m)
	}
}

func TestGrowth(t *testing.T) {
	for _, tc := range []struct {
		start, end int64
		bytes      int64
		pct        float64
	}{
		{100, 150, 50, 50},
		{200, 150, -50, -25},
		{100, 100, 0, 0},
		{0, 10, 10, 0},
	} {
		b, pct := growth(tc.start, tc.end)
		if b != tc.bytes || pct != tc.pct {
			t.Errorf("growth(%d, %d) = %d, %v%%; want %d, %v%%", tc.start, tc.end, b, pct, tc.bytes, tc.pct)
		}
	}
}

// scriptedProc returns its readings in turn, then fails.
type scriptedProc struct{ rss []int64 }

func (p *scriptedProc) Read() (ProcSample, error) {
	if len(p.rss) == 0 {
		return ProcSample{}, context.Canceled
	}
	r := p.rss[0]
	p.rss = p.rss[1:]
	return ProcSample{RSSBytes: r, HWMBytes: r * 2, CPUSeconds: float64(r)}, nil
}

func TestSampleProc(t *testing.T) {
	clock := &fakeClock{}
	x := &run{Runner: &Runner{Process: &scriptedProc{rss: []int64{30, 10, 900, 20, 25}}}, clock: clock, noted: map[string]bool{}, res: &Result{}}
	start := clock.Now()
	pt, ok := x.sampleProc(context.Background())
	if !ok || pt.rss != 25 || pt.hwm != 1800 || pt.cpu != 25 {
		t.Errorf("got %+v %v, want median 25, highest HWM 1800, last CPU 25", pt, ok)
	}
	if d := clock.Now().Sub(start); d != 4*rssSampleGap {
		t.Errorf("sampling took %s, want 4 gaps of %s", d, rssSampleGap)
	}
	// Failed readings are skipped and noted; none at all is no point.
	x.Process = &scriptedProc{rss: []int64{7, 9}}
	if pt, ok := x.sampleProc(context.Background()); !ok || pt.rss != 8 {
		t.Errorf("two of five readings: %+v %v, want median 8", pt, ok)
	}
	if _, ok := x.sampleProc(context.Background()); ok {
		t.Error("no readings gave a point")
	}
	if len(x.res.Notes) != 1 || !strings.Contains(x.res.Notes[0], "not measured") {
		t.Errorf("notes %q", x.res.Notes)
	}
	x.Process = nil
	if _, ok := x.sampleProc(context.Background()); ok {
		t.Error("no process gave a point")
	}
}

// runtimePage is a controller's /metrics page as controller-runtime's Go
// collector writes it, with a few unrelated series around.
func runtimePage(live, objects int64, cycles int) []byte {
	return fmt.Appendf(nil, `# HELP go_gc_heap_live_bytes Heap memory occupied by live objects that were marked by the previous GC.
# TYPE go_gc_heap_live_bytes gauge
go_gc_heap_live_bytes %d
go_gc_heap_goal_bytes 2.5e+07
go_gc_gogc_percent 100
go_gc_cycles_total_gc_cycles_total %d
go_memory_classes_heap_objects_bytes %d
go_memory_classes_heap_unused_bytes 3000
go_memory_classes_heap_free_bytes 4000
go_memory_classes_heap_released_bytes 5000
go_memory_classes_heap_stacks_bytes 600
go_memory_classes_os_stacks_bytes 0
go_memory_classes_metadata_mcache_free_bytes 10
go_memory_classes_metadata_mcache_inuse_bytes 20
go_memory_classes_metadata_mspan_free_bytes 30
go_memory_classes_metadata_mspan_inuse_bytes 40
go_memory_classes_metadata_other_bytes 50
go_memory_classes_other_bytes 7
go_memory_classes_profiling_buckets_bytes 3
go_memory_classes_total_bytes 1e+08
go_memstats_heap_alloc_bytes 1.234e+06
workqueue_depth{controller="rollout",name="rollout"} 3
rest_client_requests_total{code="200",host="127.0.0.1:1",method="GET"} 9
`, live, cycles, objects)
}

func TestParseRuntimeMemory(t *testing.T) {
	rm, err := parseRuntimeMemory(runtimePage(12_000_000, 20_000_000, 42))
	if err != nil {
		t.Fatal(err)
	}
	want := RuntimeMemory{
		HeapLiveBytes: 12_000_000, HeapObjectsBytes: 20_000_000, HeapGoalBytes: 25_000_000,
		HeapUnusedBytes: 3000, HeapFreeBytes: 4000, HeapReleasedBytes: 5000,
		StacksBytes: 600, MetadataBytes: 150, OtherBytes: 10,
		MappedBytes: 100_000_000 - 5000, GCCycles: 42, GOGC: 100,
	}
	if *rm != want {
		t.Errorf("got %+v\nwant %+v", *rm, want)
	}
	// Replicas scraped as one page: every figure adds up but GOGC.
	two := append(runtimePage(12_000_000, 20_000_000, 42), runtimePage(3_000_000, 5_000_000, 8)...)
	rm, err = parseRuntimeMemory(two)
	if err != nil {
		t.Fatal(err)
	}
	if rm.HeapLiveBytes != 15_000_000 || rm.HeapGoalBytes != 50_000_000 || rm.MetadataBytes != 300 ||
		rm.MappedBytes != 200_000_000-10_000 || rm.GCCycles != 50 || rm.GOGC != 100 {
		t.Errorf("two replicas: got %+v, want the figures added up and GOGC 100", *rm)
	}
	// A page without the runtime's figures is no reading, not an empty heap.
	if _, err := parseRuntimeMemory([]byte("go_memstats_heap_alloc_bytes 5\nworkqueue_depth 1\n")); err == nil {
		t.Error("a page without go_gc_heap_live_bytes parsed")
	}
	if _, err := parseRuntimeMemory([]byte("go_gc_heap_live_bytes lots\n")); err == nil {
		t.Error("an unreadable value parsed")
	}
}

func TestSettle(t *testing.T) {
	const mib = 1 << 20
	clock := &fakeClock{}
	start := clock.Now()
	// Five readings per point: right after the create (taken by the
	// caller), then at 1, 2 and 2.5 minutes.
	var rss []int64
	for _, v := range []int64{300, 250, 220} {
		for range rssSamples {
			rss = append(rss, v*mib)
		}
	}
	var scrapes []time.Duration
	live := []int64{80 * mib, 60 * mib, 50 * mib, 50 * mib}
	x := &run{
		Runner: &Runner{
			Process: &scriptedProc{rss: rss},
			ControllerMetrics: ScraperFunc(func(context.Context) ([]byte, error) {
				i := len(scrapes)
				scrapes = append(scrapes, clock.Now().Sub(start))
				return runtimePage(live[i], live[i]+10*mib, 10+i), nil
			}),
		},
		cfg:      Config{Settle: 150 * time.Second, Rollouts: 1000},
		clock:    clock,
		progress: io.Discard,
		noted:    map[string]bool{},
		res:      &Result{Memory: &MemoryPerRollout{}},
	}
	before := procPoint{rss: 100 * mib}
	rtBefore := &RuntimeMemory{HeapLiveBytes: 10 * mib, HeapObjectsBytes: 15 * mib}
	x.settleMemory(context.Background(), before, rtBefore, procPoint{rss: 350 * mib, cpu: 3})
	s := x.res.Memory.Settled
	if s == nil {
		t.Fatal("no settled memory")
	}
	var at []float64
	for _, r := range s.Readings {
		at = append(at, r.Seconds)
	}
	if !slices.Equal(at, []float64{0, 60, 120, 150}) {
		t.Errorf("readings at %v s idle, want 0, 60, 120 and 150 (the last at --settle)", at)
	}
	if s.Readings[0].RSSBytes != 350*mib || s.Readings[0].Runtime.HeapLiveBytes != 80*mib || s.Readings[0].CPUSeconds != 3 {
		t.Errorf("first reading %+v, want the caller's RSS and a scrape", s.Readings[0])
	}
	// Each wait makes up for the time the readings took.
	if !slices.Equal(scrapes, []time.Duration{0, 60*time.Second + 4*rssSampleGap, 120*time.Second + 4*rssSampleGap, 150*time.Second + 4*rssSampleGap}) {
		t.Errorf("scraped at %v", scrapes)
	}
	// Settled is the last reading (220 MiB RSS, 50 MiB live, 60 MiB of
	// objects) less the one before the create.
	if s.SettledAfterSeconds != 150 {
		t.Errorf("settled after %v s, want 150", s.SettledAfterSeconds)
	}
	if got, want := s.RSSBytesPerRollout, float64(120*mib)/1000; got != want {
		t.Errorf("RSS per Rollout %v, want %v", got, want)
	}
	if got, want := s.HeapLiveBytesPerRollout, float64(40*mib)/1000; got != want {
		t.Errorf("heap live per Rollout %v, want %v", got, want)
	}
	if got, want := s.HeapObjectsBytesPerRollout, float64(45*mib)/1000; got != want {
		t.Errorf("heap objects per Rollout %v, want %v", got, want)
	}
	if s.AnonBytesPerRollout != 0 {
		t.Errorf("RssAnon per Rollout %v without RssAnon readings", s.AnonBytesPerRollout)
	}
}

func TestSettleEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	x := &run{
		Runner:   &Runner{Process: &scriptedProc{rss: []int64{1, 1, 1, 1, 1}}},
		cfg:      Config{Settle: 5 * time.Minute, Rollouts: 10},
		clock:    &fakeClock{},
		progress: io.Discard,
		noted:    map[string]bool{},
		res:      &Result{Memory: &MemoryPerRollout{}},
	}
	x.settleMemory(ctx, procPoint{rss: 100}, nil, procPoint{rss: 1100})
	s := x.res.Memory.Settled
	// The reading right after the create is kept and is what settled.
	if s == nil || len(s.Readings) != 1 || s.RSSBytesPerRollout != 100 || s.SettledAfterSeconds != 0 {
		t.Errorf("settled %+v, want the one reading at 0 s, 100 B per Rollout", s)
	}
	x.res.Memory.Settled = nil
	x.cfg.Settle = 0
	x.settleMemory(context.Background(), procPoint{}, nil, procPoint{})
	if x.res.Memory.Settled != nil {
		t.Error("settled without --settle")
	}
}
