package analysis

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// DefaultStatusBatch is how long a run's routine successful measurements may
// wait in the controller's memory before they are written together. A run
// measured every second then costs one status write per few seconds instead
// of one per measurement, while failures, errors, inconclusive results and
// every verdict are still written at once.
const DefaultStatusBatch = 5 * time.Second

// paceRetry is how soon a run whose batch window is over, but whose write
// the measurement pace refused, looks again when no measurement is due
// earlier.
const paceRetry = 500 * time.Millisecond

// Why a status write carries the measurements it does. A held batch is
// written for the first reason that applies.
const (
	flushNotRoutine = "verdict or measurement other than a routine success"
	flushOff        = "batching off"
	flushInterval   = "interval not shorter than the batch window"
	flushRetention  = "measurementRetention reached"
	flushWindow     = "batch window over"
)

// batch is what the reconciler measured for one run but has not written:
// the persisted status it extends and that status with the held
// measurements recorded.
type batch struct {
	uid types.UID
	// base is the run's status as the API server held it when the batch
	// began; a cached run whose status differs was written by someone else,
	// and the batch would overwrite that write's news with a stale copy.
	base v1alpha1.AnalysisRunStatus
	// status is base with every held measurement recorded and judged.
	status v1alpha1.AnalysisRunStatus
	// since is when the oldest held measurement was taken.
	since time.Time
}

// heldBatches keeps each run's batch between its reconciles, by the run's
// namespace and name; the UID in the batch tells a run deleted and created
// again under the same name, and a deleted run's entry goes with its
// NotFound. One run is reconciled by one worker at a time, so the lock
// guards only the map.
type heldBatches struct {
	mu   sync.Mutex
	runs map[types.NamespacedName]*batch
}

// resume lays the batch of run key over run's status when it still extends
// the persisted status, and returns when its oldest measurement was taken
// and how many measurements it held. A batch that no longer fits (another
// replica or a user wrote the status, the run was created again) is
// dropped: its measurements are taken again when due.
func (h *heldBatches) resume(key types.NamespacedName, persisted, run *v1alpha1.AnalysisRun) (since time.Time, dropped int) {
	h.mu.Lock()
	b := h.runs[key]
	h.mu.Unlock()
	if b == nil {
		return time.Time{}, 0
	}
	if b.uid != persisted.UID || !equality.Semantic.DeepEqual(b.base, persisted.Status) {
		h.drop(key)
		return time.Time{}, total(measurementsAdded(&b.base, &b.status))
	}
	run.Status = *b.status.DeepCopy()
	return b.since, 0
}

// hold keeps next as run key's batch on top of persisted.
func (h *heldBatches) hold(key types.NamespacedName, uid types.UID, persisted, next *v1alpha1.AnalysisRunStatus, since time.Time) {
	b := &batch{uid: uid, base: *persisted.DeepCopy(), status: *next.DeepCopy(), since: since}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.runs == nil {
		h.runs = map[types.NamespacedName]*batch{}
	}
	h.runs[key] = b
}

// drop forgets run key's batch, once it is written or can no longer be.
func (h *heldBatches) drop(key types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.runs, key)
}

// writePlan is what to do with a status that differs from the persisted
// one: write it now, or hold it in memory.
type writePlan struct {
	hold bool
	// reason says why the status is written now.
	reason string
	// since is when the oldest measurement the status adds was taken.
	since time.Time
}

// batchInput is what planStatusWrite judges.
type batchInput struct {
	// persisted is the status the API server holds; next is the status
	// after this reconcile, held measurements included.
	persisted, next *v1alpha1.AnalysisRunStatus
	metrics         []v1alpha1.Metric
	// retention is the measurementRetention of a metric.
	retention func(metric string) int
	window    time.Duration
	// since is when the oldest held measurement was taken; zero when none
	// is held.
	since, now time.Time
}

// planStatusWrite decides whether next may stay in memory. Only a status
// that adds nothing but successful measurements to the persisted one is
// held, and only while every metric it measured has an interval shorter
// than the window, no metric holds as many measurements as it keeps in
// status (a later one would trim a measurement nobody read), and the
// oldest is younger than the window. Everything else is written at once,
// with all held measurements in their order.
func planStatusWrite(in batchInput) writePlan {
	added, routine := routineAddition(in.persisted, in.next, in.retention)
	switch {
	case !routine:
		return writePlan{reason: flushNotRoutine}
	case in.window <= 0 || len(added) == 0:
		return writePlan{reason: flushOff}
	}
	for name, n := range added {
		m := metricNamed(in.metrics, name)
		if m == nil || m.Interval == "" {
			return writePlan{reason: flushInterval}
		}
		if d, err := m.Interval.Duration(); err != nil || d >= in.window {
			return writePlan{reason: flushInterval}
		}
		if limit := in.retention(name); limit > 0 && n >= limit {
			return writePlan{reason: flushRetention}
		}
	}
	since := in.since
	if since.IsZero() {
		since = in.now
	}
	if !in.now.Before(since.Add(in.window)) {
		return writePlan{reason: flushWindow, since: since}
	}
	return writePlan{hold: true, since: since}
}

// routineAddition reports whether next differs from prev only by
// successful measurements added to running metrics of a running run, and
// how many per metric. Such measurements change no verdict and, if a crash
// lost them, the restarted controller would take them again. A success
// that ends a run of errors is not routine: it resets consecutiveError,
// which a lost write would leave counting towards the limit. retention is
// each metric's measurementRetention, which trims the oldest kept ones.
func routineAddition(prev, next *v1alpha1.AnalysisRunStatus, retention func(metric string) int) (map[string]int, bool) {
	if !routineWrite(prev, next) {
		return nil, false
	}
	p, n := *prev, *next
	p.MetricResults, n.MetricResults = nil, nil
	if !equality.Semantic.DeepEqual(p, n) {
		return nil, false
	}
	added := map[string]int{}
	for i := range next.MetricResults {
		name := next.MetricResults[i].Name
		k, ok := successesAdded(&prev.MetricResults[i], &next.MetricResults[i], retention(name))
		if !ok {
			return nil, false
		}
		if k > 0 {
			added[name] = k
		}
	}
	return added, true
}

// successesAdded reports whether next is prev with only finished
// successful measurements appended, the oldest trimmed to keep limit, and
// how many.
func successesAdded(prev, next *v1alpha1.MetricResult, limit int) (int, bool) {
	k := next.Successful - prev.Successful
	if k < 0 || int(k) > len(next.Measurements) {
		return 0, false
	}
	want := *prev
	want.Count += k
	want.Successful += k
	want.ConsecutiveSuccess += k
	got := *next
	want.Measurements, got.Measurements = nil, nil
	// ConsecutiveError is compared as it was: a success would have reset it.
	if !equality.Semantic.DeepEqual(want, got) {
		return 0, false
	}
	// The length tells appended measurements from counters that moved
	// with the list unchanged.
	length := len(prev.Measurements) + int(k)
	if k > 0 && limit > 0 && length > limit {
		length = limit
	}
	if len(next.Measurements) != length {
		return 0, false
	}
	kept, fresh := next.Measurements[:len(next.Measurements)-int(k)], next.Measurements[len(next.Measurements)-int(k):]
	if len(kept) > len(prev.Measurements) ||
		!equality.Semantic.DeepEqual(kept, prev.Measurements[len(prev.Measurements)-len(kept):]) {
		return 0, false
	}
	for _, m := range fresh {
		if m.Phase != v1alpha1.AnalysisPhaseSuccessful || m.FinishedAt == nil {
			return 0, false
		}
	}
	return int(k), true
}

// measurementsAdded counts, per metric, the finished measurements next
// has that prev has not: what a write of next on top of prev records.
func measurementsAdded(prev, next *v1alpha1.AnalysisRunStatus) map[string]int {
	added := map[string]int{}
	for i := range next.MetricResults {
		n := &next.MetricResults[i]
		done := n.Count + n.Error
		if p := findResult(prev, n.Name); p != nil {
			done -= p.Count + p.Error
		}
		if done > 0 {
			added[n.Name] = int(done)
		}
	}
	return added
}

func total(counts map[string]int) int {
	sum := 0
	for _, n := range counts {
		sum += n
	}
	return sum
}

func metricNamed(metrics []v1alpha1.Metric, name string) *v1alpha1.Metric {
	for i := range metrics {
		if metrics[i].Name == name {
			return &metrics[i]
		}
	}
	return nil
}
