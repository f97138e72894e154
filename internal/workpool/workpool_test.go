package workpool

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// TestRunBoundsAndDrains: every item is handed out once, never more than
// workers at a time, and Run returns once ctx has ended.
func TestRunBoundsAndDrains(t *testing.T) {
	q := workqueue.NewTyped[int]()
	const items, workers = 40, 3
	for i := range items {
		q.Add(i)
	}
	var running, peak atomic.Int32
	var mu sync.Mutex
	seen := map[int]int{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Run(ctx, q, workers, func(i int) {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Millisecond)
			mu.Lock()
			seen[i]++
			if len(seen) == items {
				cancel()
			}
			mu.Unlock()
			running.Add(-1)
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	if len(seen) != items {
		t.Errorf("%d items handed out, want %d", len(seen), items)
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("item %d handed out %d times", i, n)
		}
	}
	if p := peak.Load(); p < 2 || p > workers {
		t.Errorf("at most %d calls ran at once, want between 2 and %d", p, workers)
	}
}
