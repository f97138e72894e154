package requeue

import (
	"testing"
	"time"
)

// TestRequeueCountsFromTheDecision: a delay the plan asks for (a 1 s pause)
// runs from the snapshot's time, so the time the writes took is taken off
// it, and a delay already over still brings the object back.
func TestRequeueCountsFromTheDecision(t *testing.T) {
	decided := time.Unix(100, 0)
	for _, tc := range []struct {
		name  string
		delay time.Duration
		now   time.Time
		want  time.Duration
	}{
		{"no delay asked", 0, decided.Add(time.Second), 0},
		{"writes took 700ms of a 1s pause", time.Second, decided.Add(700 * time.Millisecond), 300 * time.Millisecond},
		{"writes took longer than the pause", time.Second, decided.Add(1500 * time.Millisecond), time.Millisecond},
		{"no time passed", time.Second, decided, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := UntilDue(At(decided, tc.delay), tc.now); got != tc.want {
				t.Fatalf("UntilDue = %v, want %v", got, tc.want)
			}
		})
	}
	if got := At(decided, -time.Second); !got.IsZero() {
		t.Fatalf("At(t, -1s) = %v, want none", got)
	}
	if got := Earliest(time.Time{}, decided); !got.Equal(decided) {
		t.Fatalf("Earliest(none, t) = %v", got)
	}
	if got := Earliest(decided.Add(time.Second), decided); !got.Equal(decided) {
		t.Fatalf("Earliest picked %v", got)
	}
	if got := Earliest(decided, time.Time{}); !got.Equal(decided) {
		t.Fatalf("Earliest(t, none) = %v", got)
	}
}
