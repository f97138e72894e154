package bench

import (
	"context"
	"slices"
	"strings"
	"testing"
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
