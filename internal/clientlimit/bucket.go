// Package clientlimit bounds the controller's requests to the API server on
// the client side, and lets the writes that take traffic back to stable go
// ahead of routine ones when the bound makes requests wait.
package clientlimit

import (
	"container/list"
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

type urgentKey struct{}

// Urgent marks ctx: a request made with it takes the next token of its
// bucket ahead of every routine request waiting there. The Rollout
// controller marks the writes of an abort or rollback that move traffic
// back to stable.
func Urgent(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

// IsUrgent reports whether ctx carries the urgent mark.
func IsUrgent(ctx context.Context) bool {
	v, _ := ctx.Value(urgentKey{}).(bool)
	return v
}

// Queue indexes of a Bucket's waiters.
const (
	routine = 0
	urgent  = 1
)

// tokenSlack absorbs the rounding of float arithmetic, so a token that has
// accrued by the clock is never short by a few ulps and waits again.
const tokenSlack = 1e-9

// Bucket is a token bucket whose waiters are served by priority: an urgent
// waiter takes the next token before any routine one, and waiters of one
// priority go in the order they came. Tokens accrue at qps up to burst
// whatever the mix, so the rate is a plain token bucket's; a routine waiter
// gets every token no urgent one waits for, so it is never held for ever.
type Bucket struct {
	clock clock.WithDelayedExecution
	qps   float64
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
	queues [2]list.List
	// timer dispatches once the next token accrues; nil when none is due.
	timer clock.Timer
}

// waiter is one request waiting for a token.
type waiter struct {
	ready   chan struct{}
	granted bool
	queue   int
	elem    *list.Element
}

// NewBucket returns a full bucket of burst tokens refilled at qps.
func NewBucket(qps float64, burst int, clk clock.WithDelayedExecution) *Bucket {
	return &Bucket{clock: clk, qps: qps, burst: float64(burst), tokens: float64(burst), last: clk.Now()}
}

// Wait blocks until the request whose context is ctx may go, or until ctx
// ends; a request that gives up leaves its token to the next waiter.
func (b *Bucket) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q := routine
	if IsUrgent(ctx) {
		q = urgent
	}
	b.mu.Lock()
	b.refillLocked()
	// Nobody this request must let go first is waiting: a routine request
	// lets every waiter go first, an urgent one only the urgent ones.
	ahead := b.queues[urgent].Len()
	if q == routine {
		ahead += b.queues[routine].Len()
	}
	if ahead == 0 && b.tokens >= 1-tokenSlack {
		b.tokens--
		b.mu.Unlock()
		return nil
	}
	w := &waiter{ready: make(chan struct{}), queue: q}
	w.elem = b.queues[q].PushBack(w)
	b.dispatchLocked()
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted {
		// The token came as the context ended: it goes to the next waiter.
		b.refillLocked()
		b.tokens = min(b.burst, b.tokens+1)
		b.dispatchLocked()
	} else {
		b.queues[w.queue].Remove(w.elem)
	}
	return ctx.Err()
}

// refillLocked adds the tokens accrued since the last refill.
func (b *Bucket) refillLocked() {
	now := b.clock.Now()
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed*b.qps)
	}
	b.last = now
}

// dispatchLocked hands the accrued tokens to the waiters, urgent ones
// first, and arranges to be called again when the next token accrues if
// any are left waiting.
func (b *Bucket) dispatchLocked() {
	b.refillLocked()
	for b.tokens >= 1-tokenSlack {
		w := b.nextLocked()
		if w == nil {
			break
		}
		b.tokens--
		w.granted = true
		close(w.ready)
	}
	if b.timer != nil || b.queues[urgent].Len()+b.queues[routine].Len() == 0 {
		return
	}
	wait := time.Duration((1 - b.tokens) / b.qps * float64(time.Second))
	b.timer = b.clock.AfterFunc(max(wait, time.Nanosecond), func() {
		// A fake clock runs this while it holds its own lock, and
		// dispatching reads the clock.
		go b.onTimer()
	})
}

func (b *Bucket) onTimer() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer = nil
	b.dispatchLocked()
}

// nextLocked takes the first urgent waiter, else the first routine one.
func (b *Bucket) nextLocked() *waiter {
	for _, q := range []int{urgent, routine} {
		if e := b.queues[q].Front(); e != nil {
			b.queues[q].Remove(e)
			return e.Value.(*waiter)
		}
	}
	return nil
}

// waiting counts the urgent and routine requests waiting.
func (b *Bucket) waiting() (urgentWaiters, routineWaiters int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queues[urgent].Len(), b.queues[routine].Len()
}
