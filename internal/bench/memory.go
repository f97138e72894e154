package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
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

// settleReadEvery is how far apart the idle readings after the create are.
// Go forces a collection at least every two minutes and its background
// scavenger returns freed pages over minutes, so readings a minute apart
// show the memory coming down without loading an idle controller.
const settleReadEvery = time.Minute

// The Go runtime's memory classes and collector figures, as controller-
// runtime's Go collector exposes runtime/metrics on the controller's
// /metrics page.
const (
	metricHeapLive      = "go_gc_heap_live_bytes"
	metricHeapGoal      = "go_gc_heap_goal_bytes"
	metricHeapObjects   = "go_memory_classes_heap_objects_bytes"
	metricHeapUnused    = "go_memory_classes_heap_unused_bytes"
	metricHeapFree      = "go_memory_classes_heap_free_bytes"
	metricHeapReleased  = "go_memory_classes_heap_released_bytes"
	metricHeapStacks    = "go_memory_classes_heap_stacks_bytes"
	metricOSStacks      = "go_memory_classes_os_stacks_bytes"
	metricTotal         = "go_memory_classes_total_bytes"
	metricGCCycles      = "go_gc_cycles_total_gc_cycles_total"
	metricGOGC          = "go_gc_gogc_percent"
	metricMetadataPrefx = "go_memory_classes_metadata_"
	metricOther         = "go_memory_classes_other_bytes"
	metricProfiling     = "go_memory_classes_profiling_buckets_bytes"
)

// RuntimeMemory is the Go runtime's own account of the controller's memory
// at one point, read from its /metrics. Every figure is in bytes but the
// cycle count and GOGC.
type RuntimeMemory struct {
	// HeapLiveBytes is what the last completed collection found reachable.
	HeapLiveBytes int64 `json:"heapLiveBytes"`
	// HeapObjectsBytes is the heap's objects now, reachable or not yet
	// collected.
	HeapObjectsBytes int64 `json:"heapObjectsBytes"`
	// HeapGoalBytes is the heap size at which the next collection ends.
	HeapGoalBytes int64 `json:"heapGoalBytes"`
	// HeapUnusedBytes is memory of spans in use that holds no object:
	// fragmentation.
	HeapUnusedBytes int64 `json:"heapUnusedBytes"`
	// HeapFreeBytes is free heap memory still mapped (resident or not yet
	// touched), which the runtime keeps for reuse.
	HeapFreeBytes int64 `json:"heapFreeBytes"`
	// HeapReleasedBytes is free heap memory returned to the system.
	HeapReleasedBytes int64 `json:"heapReleasedBytes"`
	// StacksBytes is goroutine and system stacks.
	StacksBytes int64 `json:"stacksBytes"`
	// MetadataBytes is the runtime's bookkeeping (spans, caches, GC bitmaps).
	MetadataBytes int64 `json:"metadataBytes"`
	// OtherBytes is the rest the runtime mapped (profiling buckets, trace
	// buffers and such).
	OtherBytes int64 `json:"otherBytes"`
	// MappedBytes is everything the runtime mapped less what it released.
	MappedBytes int64 `json:"mappedBytes"`
	// GCCycles is how many collections have completed since the start.
	GCCycles int64 `json:"gcCycles"`
	// GOGC is the collector's target percentage; -1 when off.
	GOGC int64 `json:"gogc"`
}

// parseRuntimeMemory reads the runtime's memory figures from one scrape. A
// page without go_gc_heap_live_bytes is an error: that controller does not
// expose runtime/metrics (or is not a Go program), and zeros would read as
// an empty heap. The pages of several replicas scraped as one
// (Replicas.Scraper) carry each figure once per replica: they add up, as
// their RSS does, but for GOGC, a setting, which is the largest.
func parseRuntimeMemory(text []byte) (*RuntimeMemory, error) {
	v := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "go_") {
			continue
		}
		end := strings.IndexAny(line, "{ \t")
		if end < 0 {
			continue
		}
		s, err := parseSampleLine(line[end:])
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", line[:end], err)
		}
		if name := line[:end]; name == metricGOGC {
			v[name] = max(v[name], s.Value)
		} else {
			v[name] += s.Value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	if _, ok := v[metricHeapLive]; !ok {
		return nil, fmt.Errorf("no %s on the page: the controller does not expose Go's runtime/metrics", metricHeapLive)
	}
	var meta float64
	for name, x := range v {
		if strings.HasPrefix(name, metricMetadataPrefx) && strings.HasSuffix(name, "_bytes") {
			meta += x
		}
	}
	return &RuntimeMemory{
		HeapLiveBytes:     int64(v[metricHeapLive]),
		HeapObjectsBytes:  int64(v[metricHeapObjects]),
		HeapGoalBytes:     int64(v[metricHeapGoal]),
		HeapUnusedBytes:   int64(v[metricHeapUnused]),
		HeapFreeBytes:     int64(v[metricHeapFree]),
		HeapReleasedBytes: int64(v[metricHeapReleased]),
		StacksBytes:       int64(v[metricHeapStacks] + v[metricOSStacks]),
		MetadataBytes:     int64(meta),
		OtherBytes:        int64(v[metricOther] + v[metricProfiling]),
		MappedBytes:       int64(v[metricTotal] - v[metricHeapReleased]),
		GCCycles:          int64(v[metricGCCycles]),
		GOGC:              int64(v[metricGOGC]),
	}, nil
}

// readRuntimeMemory scrapes the controller's runtime memory figures; nil
// when there is no metrics page or it has none, which is noted once.
func (x *run) readRuntimeMemory(ctx context.Context) *RuntimeMemory {
	if x.ControllerMetrics == nil {
		return nil
	}
	text, err := x.ControllerMetrics.Scrape(ctx)
	if err == nil {
		var rm *RuntimeMemory
		if rm, err = parseRuntimeMemory(text); err == nil {
			return rm
		}
	}
	x.note(fmt.Sprintf("the controller's Go runtime memory not read: %v", err))
	return nil
}

// settleMemory keeps the N Rollouts idle for Settle after the create and reads
// the controller's memory right away and then every settleReadEvery, so
// the report shows what the creation burst left behind and what stays
// once the collector and the scavenger have caught up. An ended ctx keeps
// the readings so far.
func (x *run) settleMemory(ctx context.Context, before procPoint, rtBefore *RuntimeMemory, after procPoint) {
	if x.cfg.Settle <= 0 || x.res.Memory == nil {
		return
	}
	s := &SettledMemory{
		IdleSeconds:      x.cfg.Settle.Seconds(),
		ReadEverySeconds: settleReadEvery.Seconds(),
		BeforeRuntime:    rtBefore,
		Readings:         []IdleReading{{RSSBytes: after.rss, AnonBytes: after.anon, CPUSeconds: after.cpu, Runtime: x.readRuntimeMemory(ctx)}},
	}
	x.res.Memory.Settled = s
	x.logf("settle: %d Rollouts idle for %s, memory read every %s", x.cfg.Rollouts, x.cfg.Settle, settleReadEvery)
	// The controller stays scraped as a Prometheus server would scrape
	// it: each scrape is garbage that moves the heap between collections,
	// and an idle controller without one would look smaller than any
	// monitored one.
	q := x.sampleQueue(ctx)
	defer q.stop()
	if x.QueueSampleInterval > 0 && x.ControllerMetrics != nil {
		s.ScrapeEverySeconds = x.QueueSampleInterval.Seconds()
	}
	start := x.clock.Now()
	for at := settleReadEvery; ; at += settleReadEvery {
		at = min(at, x.cfg.Settle)
		if ctx.Err() != nil {
			s.settledPerRollout(before, rtBefore, x.cfg.Rollouts)
			return
		}
		select {
		case <-ctx.Done():
			s.settledPerRollout(before, rtBefore, x.cfg.Rollouts)
			return
		case <-x.clock.After(start.Add(at).Sub(x.clock.Now())):
		}
		pt, ok := x.sampleProc(ctx)
		if ok {
			r := IdleReading{Seconds: at.Seconds(), RSSBytes: pt.rss, AnonBytes: pt.anon, CPUSeconds: pt.cpu, Runtime: x.readRuntimeMemory(ctx)}
			s.Readings = append(s.Readings, r)
			x.logf("settle: %s idle, RSS %s", at, iec(float64(pt.rss)))
		}
		if at >= x.cfg.Settle {
			break
		}
	}
	s.settledPerRollout(before, rtBefore, x.cfg.Rollouts)
	scraped := "only by the readings"
	if s.ScrapeEverySeconds > 0 {
		scraped = fmt.Sprintf("every %s, as a Prometheus server would", asDuration(s.ScrapeEverySeconds))
	}
	x.note(fmt.Sprintf("settled memory per Rollout is the last idle reading (%s after all were Healthy) less the reading before the create, divided by N; "+
		"RSS as above, heap live is what the controller's last garbage collection kept (go_gc_heap_live_bytes; Go forces a collection at least every 2 minutes); "+
		"the controller's /metrics was scraped %s", x.cfg.Settle, scraped))
}

// settledPerRollout fills the per-Rollout figures from the last reading.
func (s *SettledMemory) settledPerRollout(before procPoint, rtBefore *RuntimeMemory, n int) {
	if len(s.Readings) == 0 || n <= 0 {
		return
	}
	last := s.Readings[len(s.Readings)-1]
	s.SettledAfterSeconds = last.Seconds
	s.RSSBytesPerRollout = float64(last.RSSBytes-before.rss) / float64(n)
	if last.AnonBytes > 0 && before.anon > 0 {
		s.AnonBytesPerRollout = float64(last.AnonBytes-before.anon) / float64(n)
	}
	if rt := last.Runtime; rt != nil && rtBefore != nil {
		s.HeapLiveBytesPerRollout = float64(rt.HeapLiveBytes-rtBefore.HeapLiveBytes) / float64(n)
		s.HeapObjectsBytesPerRollout = float64(rt.HeapObjectsBytes-rtBefore.HeapObjectsBytes) / float64(n)
	}
}

// SettledMemory is the controller's memory while the N Rollouts stay idle
// after the create (--settle): what the creation burst left behind at
// first, and what remains once the collector and the scavenger have caught
// up.
type SettledMemory struct {
	// IdleSeconds is --settle: how long the Rollouts were left idle.
	IdleSeconds float64 `json:"idleSeconds"`
	// ReadEverySeconds is the time between readings.
	ReadEverySeconds float64 `json:"readEverySeconds"`
	// ScrapeEverySeconds is how often the controller's /metrics was
	// scraped meanwhile besides the readings (the queue depth's interval);
	// 0 when only the readings scraped it.
	ScrapeEverySeconds float64 `json:"scrapeEverySeconds,omitempty"`
	// BeforeRuntime is the runtime's figures just before the create; nil
	// when they could not be read.
	BeforeRuntime *RuntimeMemory `json:"beforeCreateRuntime,omitempty"`
	// Readings are the idle readings, the first right after all were
	// Healthy.
	Readings []IdleReading `json:"readings"`
	// SettledAfterSeconds is how long idle the last reading was taken.
	SettledAfterSeconds float64 `json:"settledAfterSeconds"`
	// RSSBytesPerRollout is the last reading's RSS less the RSS before
	// the create, divided by N.
	RSSBytesPerRollout float64 `json:"rssBytesPerRollout"`
	// AnonBytesPerRollout is the same for RssAnon; 0 when not reported.
	AnonBytesPerRollout float64 `json:"rssAnonBytesPerRollout,omitempty"`
	// HeapLiveBytesPerRollout is the same for the heap the last
	// collection kept; 0 without the runtime's figures.
	HeapLiveBytesPerRollout float64 `json:"heapLiveBytesPerRollout,omitempty"`
	// HeapObjectsBytesPerRollout is the same for the heap's objects,
	// collected or not.
	HeapObjectsBytesPerRollout float64 `json:"heapObjectsBytesPerRollout,omitempty"`
}

// IdleReading is the controller's memory at one point of the settle.
type IdleReading struct {
	// Seconds is how long the Rollouts had been idle.
	Seconds float64 `json:"idleSeconds"`
	// RSSBytes and AnonBytes are the median RSS and RssAnon of a few
	// readings, as elsewhere in the report.
	RSSBytes  int64 `json:"rssBytes"`
	AnonBytes int64 `json:"rssAnonBytes,omitempty"`
	// CPUSeconds is the controller's CPU time since it started.
	CPUSeconds float64 `json:"cpuSeconds"`
	// Runtime is the Go runtime's account; nil when not read.
	Runtime *RuntimeMemory `json:"runtime,omitempty"`
}
