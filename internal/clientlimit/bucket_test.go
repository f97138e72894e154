package clientlimit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// waitTimeout bounds how long a test waits for a goroutine it started to
// reach a state; it is never a measure of speed.
const waitTimeout = 10 * time.Second

// started is a Wait running in its own goroutine.
type started struct {
	name string
	done chan error
}

// start calls b.Wait in a goroutine and returns once the call waits in
// the bucket, so calls started one after the other queue in that order.
func start(t *testing.T, b *Bucket, ctx context.Context, name string) *started {
	t.Helper()
	u0, r0 := b.waiting()
	s := &started{name: name, done: make(chan error, 1)}
	go func() { s.done <- b.Wait(ctx) }()
	eventually(t, name+" to wait", func() bool {
		u, r := b.waiting()
		return u+r > u0+r0
	})
	return s
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// stepWhenDue advances clk by d once the bucket has set its next
// dispatch: a grant and the timer for the next one are made together, but
// the granted caller may return before the timer is set, and a step taken
// in between would pass it by.
func stepWhenDue(t *testing.T, clk *clocktesting.FakeClock, d time.Duration) {
	t.Helper()
	eventually(t, "the next token's dispatch to be due", clk.HasWaiters)
	clk.Step(d)
}

// granted waits for s to return and checks it got its token.
func granted(t *testing.T, s *started) {
	t.Helper()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("%s: Wait returned %v, want a token", s.name, err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("%s never got its token", s.name)
	}
}

// stillWaiting checks that s has not returned.
func stillWaiting(t *testing.T, s *started) {
	t.Helper()
	select {
	case err := <-s.done:
		t.Fatalf("%s returned (%v) before its turn", s.name, err)
	default:
	}
}

func TestBucketServesUrgentWaitersFirst(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	b := NewBucket(10, 1, clk)
	ctx := context.Background()
	if err := b.Wait(ctx); err != nil {
		t.Fatalf("the burst's token: %v", err)
	}
	r1 := start(t, b, ctx, "routine 1")
	r2 := start(t, b, ctx, "routine 2")
	u1 := start(t, b, Urgent(ctx), "urgent 1")
	u2 := start(t, b, Urgent(ctx), "urgent 2")

	// One token every 100ms: the urgent waiters first, in their order,
	// then the routine ones in theirs, though these came first.
	for i, next := range []*started{u1, u2, r1, r2} {
		stepWhenDue(t, clk, 100*time.Millisecond)
		granted(t, next)
		for _, later := range []*started{u1, u2, r1, r2}[i+1:] {
			stillWaiting(t, later)
		}
		if u, r := b.waiting(); u+r != 3-i {
			t.Fatalf("after token %d: %d urgent and %d routine waiting, want %d in all", i+1, u, r, 3-i)
		}
	}
}

func TestBucketServesRoutineWaitersOnceNoUrgentOneWaits(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	b := NewBucket(10, 1, clk)
	ctx := context.Background()
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	r := start(t, b, ctx, "routine")
	// Urgent requests keep coming, one per token: each goes first.
	for i := range 3 {
		u := start(t, b, Urgent(ctx), fmt.Sprintf("urgent %d", i))
		stepWhenDue(t, clk, 100*time.Millisecond)
		granted(t, u)
		stillWaiting(t, r)
	}
	// None waits any more: the next token is the routine request's.
	stepWhenDue(t, clk, 100*time.Millisecond)
	granted(t, r)
}

func TestBucketKeepsItsRate(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	const qps, burst = 20, 5
	b := NewBucket(qps, burst, clk)
	ctx := context.Background()
	// The burst goes at once.
	for i := range burst {
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("burst token %d: %v", i, err)
		}
	}
	// Forty waiters, urgent and routine mixed, get one token per 1/qps
	// between them: never more however many are urgent.
	var all []*started
	for i := range 40 {
		c, kind := ctx, "routine"
		if i%3 == 0 {
			c, kind = Urgent(ctx), "urgent"
		}
		all = append(all, start(t, b, c, fmt.Sprintf("%s %d", kind, i)))
	}
	returned := 0
	countReturned := func() {
		for _, s := range all {
			select {
			case err := <-s.done:
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				returned++
			default:
			}
		}
	}
	for step := 1; step <= 40; step++ {
		stepWhenDue(t, clk, time.Second/qps)
		eventually(t, fmt.Sprintf("token %d", step), func() bool {
			u, r := b.waiting()
			return u+r == 40-step
		})
		// The 14 urgent waiters had the first 14 tokens.
		if u, _ := b.waiting(); u != max(0, 14-step) {
			t.Fatalf("after token %d, %d urgent waiting, want %d", step, u, max(0, 14-step))
		}
		countReturned()
	}
	eventually(t, "every waiter to return", func() bool { countReturned(); return returned == 40 })
	// Idle for a long while, the bucket holds no more than its burst.
	clk.Step(time.Hour)
	for i := range burst {
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("token %d after the pause: %v", i, err)
		}
	}
	late := start(t, b, Urgent(ctx), "beyond the burst")
	stillWaiting(t, late)
	stepWhenDue(t, clk, time.Second/qps)
	granted(t, late)
}

func TestBucketWaiterGivesUpWhenItsContextEnds(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	b := NewBucket(10, 1, clk)
	bg := context.Background()
	if err := b.Wait(bg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(Urgent(bg))
	gaveUp := start(t, b, ctx, "cancelled")
	next := start(t, b, bg, "routine")
	cancel()
	select {
	case err := <-gaveUp.done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiter returned %v, want context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the cancelled waiter never returned")
	}
	if u, r := b.waiting(); u != 0 || r != 1 {
		t.Fatalf("after the cancel %d urgent and %d routine waiting, want 0 and 1", u, r)
	}
	// The token the cancelled waiter would have had goes to the next one.
	stepWhenDue(t, clk, 100*time.Millisecond)
	granted(t, next)

	// A context that has already ended gets no token, and takes none.
	done, cancelDone := context.WithCancel(bg)
	cancelDone()
	clk.Step(100 * time.Millisecond) // no waiter: nothing to dispatch
	if err := b.Wait(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended context returned %v, want context.Canceled", err)
	}
	if err := b.Wait(bg); err != nil {
		t.Fatalf("the token the ended context left: %v", err)
	}
}
