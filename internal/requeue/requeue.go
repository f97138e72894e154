// Package requeue turns the delays a decision asks for into the requeue a
// reconcile returns. A decision's delays count from its snapshot's time,
// while the writes that follow it take a while; a reconciler keeps the
// delay as a time of day and asks, when it returns, only for what is left
// of it, so a timed pause or deadline is not stretched by the write time.
package requeue

import "time"

// At is the time of day a delay asked for at from falls due; the zero time
// (no requeue) when the delay is not positive.
func At(from time.Time, delay time.Duration) time.Time {
	if delay <= 0 {
		return time.Time{}
	}
	return from.Add(delay)
}

// Earliest is the earlier of two due times, a zero time meaning none.
func Earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// UntilDue is the requeue delay that brings an object back at due: none
// for a zero time, and at least a millisecond once due has passed (a zero
// delay would mean no requeue at all).
func UntilDue(due, now time.Time) time.Duration {
	if due.IsZero() {
		return 0
	}
	return max(due.Sub(now), time.Millisecond)
}
