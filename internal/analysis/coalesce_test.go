package analysis

import (
	"maps"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// measured returns a copy of st with each phase recorded on metric name at
// one-second steps after at, trimmed to the default retention, as the
// reconciler records measurements.
func measured(st *v1alpha1.AnalysisRunStatus, name string, at time.Time, phases ...v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRunStatus {
	next := st.DeepCopy()
	r := findResult(next, name)
	for i, p := range phases {
		recordMeasurement(r, done(p, at.Add(time.Duration(i)*time.Second)), false)
		trim(r, defaultMeasurementRetention)
	}
	return next
}

func TestRoutineAddition(t *testing.T) {
	later := t0.Add(time.Hour)
	base := func(phases ...v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRunStatus {
		return &newRun([]v1alpha1.Metric{{Name: "m"}, {Name: "n"}}, nil,
			map[string][]v1alpha1.AnalysisPhase{"m": phases, "n": {successful}}).Status
	}
	S, F, E, I := successful, failed, errored, inconclusive
	tests := []struct {
		name string
		prev *v1alpha1.AnalysisRunStatus
		next func(prev *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus
		want map[string]int
		ok   bool
	}{
		{name: "nothing added", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus { return p.DeepCopy() },
			want: map[string]int{}, ok: true},
		{name: "one success", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus { return measured(p, "m", later, S) },
			want: map[string]int{"m": 1}, ok: true},
		{name: "three successes", prev: base(S, S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus {
			return measured(p, "m", later, S, S, S)
		},
			want: map[string]int{"m": 3}, ok: true},
		{name: "successes on two metrics", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus {
			return measured(measured(p, "m", later, S), "n", later, S, S)
		}, want: map[string]int{"m": 1, "n": 2}, ok: true},
		{name: "successes that trim the oldest kept ones", prev: base(repeat(S, 10)...), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus {
			return measured(p, "m", later, S, S, S)
		}, want: map[string]int{"m": 3}, ok: true},
		{name: "a success after a failure", prev: base(S, F), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus { return measured(p, "m", later, S) },
			want: map[string]int{"m": 1}, ok: true},
		{name: "a failure within the limit", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus { return measured(p, "m", later, S, F) }},
		{name: "an error", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus { return measured(p, "m", later, E) }},
		{name: "an inconclusive result", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus { return measured(p, "m", later, I) }},
		// Losing this success in a crash would leave the errors counting
		// towards consecutiveErrorLimit.
		{name: "a success that resets consecutive errors", prev: base(S, E, E), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus { return measured(p, "m", later, S) }},
		{name: "a measurement in flight", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus {
			next := p.DeepCopy()
			recordMeasurement(findResult(next, "m"), v1alpha1.Measurement{Phase: running, StartedAt: mtime(later)}, false)
			return next
		}},
		{name: "a metric's verdict", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus {
			next := measured(p, "m", later, S)
			findResult(next, "m").Phase = successful
			return next
		}},
		{name: "the run's message", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus {
			next := measured(p, "m", later, S)
			next.Message = "terminated"
			return next
		}},
		{name: "the run's summary", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus {
			next := measured(p, "m", later, S)
			next.RunSummary.Count = 2
			return next
		}},
		{name: "an older measurement rewritten", prev: base(S, S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus {
			next := measured(p, "m", later, S)
			findResult(next, "m").Measurements[0].Value = "changed"
			return next
		}},
		{name: "a counter moved without a measurement", prev: base(S), next: func(p *v1alpha1.AnalysisRunStatus) *v1alpha1.AnalysisRunStatus {
			next := p.DeepCopy()
			findResult(next, "m").Successful++
			findResult(next, "m").Count++
			findResult(next, "m").ConsecutiveSuccess++
			return next
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := routineAddition(tc.prev, tc.next(tc.prev), func(string) int { return defaultMeasurementRetention })
			if ok != tc.ok || (ok && !maps.Equal(got, tc.want)) {
				t.Fatalf("routineAddition = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestPlanStatusWrite(t *testing.T) {
	now := t0.Add(time.Hour)
	metric := func(interval string) []v1alpha1.Metric {
		return []v1alpha1.Metric{{Name: "m", Interval: v1alpha1.DurationString(interval)}}
	}
	prev := &newRun(metric("1s"), nil, map[string][]v1alpha1.AnalysisPhase{"m": {successful}}).Status
	succ := func(n int) *v1alpha1.AnalysisRunStatus {
		return measured(prev, "m", now.Add(-time.Minute), repeat(successful, n)...)
	}
	tests := []struct {
		name      string
		metrics   []v1alpha1.Metric
		next      *v1alpha1.AnalysisRunStatus
		window    time.Duration
		retention int
		since     time.Time
		wantHold  bool
		wantWhy   string
		wantSince time.Time
	}{
		{name: "a first success is held", metrics: metric("1s"), next: succ(1), window: 5 * time.Second, wantHold: true, wantSince: now},
		{name: "later successes keep the oldest's time", metrics: metric("1s"), next: succ(3), window: 5 * time.Second,
			since: now.Add(-4 * time.Second), wantHold: true, wantSince: now.Add(-4 * time.Second)},
		{name: "the window is over", metrics: metric("1s"), next: succ(5), window: 5 * time.Second,
			since: now.Add(-5 * time.Second), wantWhy: flushWindow, wantSince: now.Add(-5 * time.Second)},
		{name: "batching off", metrics: metric("1s"), next: succ(1), wantWhy: flushOff},
		{name: "interval as long as the window", metrics: metric("5s"), next: succ(1), window: 5 * time.Second, wantWhy: flushInterval},
		{name: "interval longer than the window", metrics: metric("30s"), next: succ(1), window: 5 * time.Second, wantWhy: flushInterval},
		{name: "no interval", metrics: metric(""), next: succ(1), window: 5 * time.Second, wantWhy: flushInterval},
		{name: "an unreadable interval", metrics: metric("soon"), next: succ(1), window: 5 * time.Second, wantWhy: flushInterval},
		{name: "held ones one short of the retention", metrics: metric("1s"), next: succ(2), window: time.Minute, retention: 3,
			since: now.Add(-time.Second), wantHold: true, wantSince: now.Add(-time.Second)},
		{name: "held ones reach the retention", metrics: metric("1s"), next: succ(3), window: time.Minute, retention: 3,
			since: now.Add(-time.Second), wantWhy: flushRetention},
		{name: "a failure", metrics: metric("1s"), next: measured(prev, "m", now, successful, failed), window: 5 * time.Second,
			since: now.Add(-time.Second), wantWhy: flushNotRoutine},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keep := tc.retention
			if keep == 0 {
				keep = defaultMeasurementRetention
			}
			next := tc.next.DeepCopy()
			trim(findResult(next, "m"), keep)
			got := planStatusWrite(batchInput{persisted: prev, next: next, metrics: tc.metrics,
				retention: func(string) int { return keep }, window: tc.window, since: tc.since, now: now})
			if got.hold != tc.wantHold || got.reason != tc.wantWhy {
				t.Fatalf("plan = hold %v (%q), want hold %v (%q)", got.hold, got.reason, tc.wantHold, tc.wantWhy)
			}
			if !tc.wantSince.IsZero() && !got.since.Equal(tc.wantSince) {
				t.Errorf("since = %v, want %v", got.since, tc.wantSince)
			}
		})
	}
}

func TestHeldBatchesExtendOnlyTheirBase(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "run"}
	persisted := newRun([]v1alpha1.Metric{{Name: "m", Interval: "1s"}}, nil, map[string][]v1alpha1.AnalysisPhase{"m": {successful}})
	next := measured(&persisted.Status, "m", t0.Add(time.Hour), successful, successful)
	since := t0.Add(time.Hour)
	held := func() *heldBatches {
		h := &heldBatches{}
		h.hold(key, persisted.UID, &persisted.Status, next, since)
		return h
	}

	t.Run("the persisted status it extends", func(t *testing.T) {
		h := held()
		run := persisted.DeepCopy()
		gotSince, dropped := h.resume(key, persisted, run)
		if !gotSince.Equal(since) || dropped != 0 || findResult(&run.Status, "m").Count != 3 {
			t.Fatalf("resume = %v, %d dropped, count %d; want the batch laid over: %v, 0, 3",
				gotSince, dropped, findResult(&run.Status, "m").Count, since)
		}
	})
	t.Run("a status someone else wrote", func(t *testing.T) {
		h := held()
		moved := persisted.DeepCopy()
		moved.Status = *measured(&persisted.Status, "m", t0.Add(2*time.Hour), successful)
		run := moved.DeepCopy()
		gotSince, dropped := h.resume(key, moved, run)
		if !gotSince.IsZero() || dropped != 2 || findResult(&run.Status, "m").Count != 2 {
			t.Fatalf("resume = %v, %d dropped, count %d; want nothing laid over the other writer's status, 2 dropped, count 2",
				gotSince, dropped, findResult(&run.Status, "m").Count)
		}
		if again, _ := h.resume(key, persisted, persisted.DeepCopy()); !again.IsZero() {
			t.Fatal("a dropped batch came back")
		}
	})
	t.Run("a run created again under the same name", func(t *testing.T) {
		h := held()
		other := persisted.DeepCopy()
		other.UID = "uid-2"
		if _, dropped := h.resume(key, other, other.DeepCopy()); dropped != 2 {
			t.Fatalf("%d dropped, want the 2 measurements of the deleted run", dropped)
		}
	})
}
