package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The controller's memory is read this many times, this far apart, at each
// point where the report compares memory (before and after the create, and
// around every churn round). A Go process's RSS moves by megabytes as its
// garbage collector runs, so a single reading can be a GC cycle's top or
// bottom; the median of a few spread over about a second is steadier.
const (
	rssSamples   = 5
	rssSampleGap = 200 * time.Millisecond
)

// procPoint is the controller at one point of the run, from a few readings.
type procPoint struct {
	// rss is the median resident memory of the readings.
	rss int64
	// anon is the median anonymous resident memory of the readings.
	anon int64
	// hwm is the highest VmHWM of the readings.
	hwm int64
	// cpu is the CPU time of the last reading.
	cpu float64
}

// sampleProc reads the controller rssSamples times, rssSampleGap apart.
// It reports false when there is no process to read or no reading worked;
// readProc has noted why. An ended ctx cuts the sampling short and the
// readings so far count.
func (x *run) sampleProc(ctx context.Context) (procPoint, bool) {
	if x.Process == nil {
		return procPoint{}, false
	}
	var (
		pt        procPoint
		rss, anon []int64
	)
	for i := range rssSamples {
		if i > 0 {
			select {
			case <-ctx.Done():
				return pt.withMedian(rss, anon)
			case <-x.clock.After(rssSampleGap):
			}
		}
		if p := x.readProc(); p != nil {
			rss = append(rss, p.RSSBytes)
			anon = append(anon, p.AnonBytes)
			pt.hwm = max(pt.hwm, p.HWMBytes)
			pt.cpu = p.CPUSeconds
		}
	}
	return pt.withMedian(rss, anon)
}

func (pt procPoint) withMedian(rss, anon []int64) (procPoint, bool) {
	if len(rss) == 0 {
		return procPoint{}, false
	}
	pt.rss = median(rss)
	pt.anon = median(anon)
	return pt, true
}

// median returns the middle value of xs, or the mean of the two middle
// values for an even count; 0 for none. It sorts a copy.
func median(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	// Halving the difference rather than the sum cannot overflow.
	return s[mid-1] + (s[mid]-s[mid-1])/2
}

// memoryPerRollout is what the controller's memory grew by from before to
// after creating n Rollouts, in total and per Rollout.
func memoryPerRollout(before, after procPoint, n int) *MemoryPerRollout {
	m := &MemoryPerRollout{
		RSSBeforeBytes:        before.rss,
		RSSAfterBytes:         after.rss,
		DeltaBytes:            after.rss - before.rss,
		SamplesPerPoint:       rssSamples,
		SampleIntervalSeconds: rssSampleGap.Seconds(),
	}
	if n > 0 {
		m.BytesPerRollout = float64(m.DeltaBytes) / float64(n)
	}
	if before.anon > 0 && after.anon > 0 {
		m.AnonBeforeBytes, m.AnonAfterBytes = before.anon, after.anon
		if n > 0 {
			m.AnonBytesPerRollout = float64(after.anon-before.anon) / float64(n)
		}
	}
	return m
}

// growth is how much memory grew from start to end, in bytes and as a
// percentage of start; 0% when start is unknown (0).
func growth(start, end int64) (int64, float64) {
	d := end - start
	if start <= 0 {
		return d, 0
	}
	return d, float64(d) / float64(start) * 100
}

// memoryNote explains how the memory comparisons were made.
func memoryNote() string {
	return fmt.Sprintf("controller RSS before/after the create and around churn rounds is the median of %d readings %s apart at each point, "+
		"because Go's garbage collector makes a single reading noisy; memory per Rollout is (after - before) / N and includes "+
		"the growth of the controller's caches and of the GC's headroom", rssSamples, rssSampleGap)
}
