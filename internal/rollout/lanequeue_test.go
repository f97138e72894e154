package rollout

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
)

// got is what one GetWithPriority returned.
type got struct {
	key      string
	priority int
}

func testLaneQueue(t *testing.T, workers, reserved int) *laneQueue[string] {
	t.Helper()
	q := newLaneQueue("", workqueue.DefaultTypedControllerRateLimiter[string](), workers, reserved, nil, nil)
	t.Cleanup(q.ShutDown)
	return q
}

// getAsync starts a worker's Get and returns where its item arrives.
func getAsync(q *laneQueue[string]) <-chan got {
	ch := make(chan got, 1)
	go func() {
		key, priority, _ := q.GetWithPriority()
		ch <- got{key, priority}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan got) got {
	t.Helper()
	select {
	case g := <-ch:
		return g
	case <-time.After(10 * time.Second):
		t.Fatal("no item handed out")
		return got{}
	}
}

// waitUntil polls cond, failing the test when it stays false.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (q *laneQueue[T]) waitingForUrgentOnly() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.urgentOnly
}

// reservedWorkerWaiting returns a queue of two workers, one reserved,
// with routine items r1 and r2 queued, the first worker holding r1 and the
// reserved one (second) waiting for first moves only.
func reservedWorkerWaiting(t *testing.T) (q *laneQueue[string], second <-chan got) {
	t.Helper()
	q = testLaneQueue(t, 2, 1)
	q.Add("r1")
	q.Add("r2")
	if g := receive(t, getAsync(q)); g.key != "r1" {
		t.Fatalf("first worker got %q, want r1", g.key)
	}
	second = getAsync(q)
	waitUntil(t, "the second worker waits for first moves only", func() bool { return q.waitingForUrgentOnly() == 1 })
	return q, second
}

// A reserved worker waits for urgent work while routine work is queued,
// and takes the abort the moment it is queued.
func TestLaneQueueReservedWorkerTakesOnlyUrgentItems(t *testing.T) {
	q, second := reservedWorkerWaiting(t)
	q.AddWithOpts(priorityqueue.AddOpts{Priority: firstMovePriority}, "abort")
	if g := receive(t, second); g != (got{"abort", firstMovePriority}) {
		t.Fatalf("reserved worker got %v, want the abort at firstMovePriority", g)
	}
	// Once the routine slot is free again, the routine item goes out.
	third := getAsync(q)
	q.Done("r1")
	if g := receive(t, third); g.key != "r2" {
		t.Fatalf("after the routine slot freed a worker got %q, want r2", g.key)
	}
}

// A reserved worker leaves the rest of an abort whose traffic moved
// (urgentPriority) to the workers that may take routine items, and stays
// free for the next abort's traffic write: under a burst, passes that
// finish aborts held every worker while later aborts' traffic still went
// to their canaries.
func TestLaneQueueReservedWorkerLeavesTheRestOfAnAbort(t *testing.T) {
	q, second := reservedWorkerWaiting(t)
	q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "rest")
	q.AddWithOpts(priorityqueue.AddOpts{Priority: firstMovePriority}, "abort")
	if g := receive(t, second); g != (got{"abort", firstMovePriority}) {
		t.Fatalf("reserved worker got %v, want the abort, not the rest of another", g)
	}
	// The worker that may take routine items takes the rest of the abort
	// before routine work.
	third := getAsync(q)
	q.Done("r1")
	if g := receive(t, third); g != (got{"rest", urgentPriority}) {
		t.Fatalf("after the routine slot freed a worker got %v, want the rest of the abort", g)
	}
	q.Done("rest")
	if g := receive(t, getAsync(q)); g.key != "r2" {
		t.Fatalf("then %v, want r2", g)
	}
}

// A key being reconciled is never handed to a second worker, whichever
// lane its new add goes to; the add is queued when the first worker is
// done, at the highest priority it was given.
func TestLaneQueueOneWorkerPerKey(t *testing.T) {
	q := testLaneQueue(t, 3, 1)
	q.Add("k")
	if g := receive(t, getAsync(q)); g.key != "k" {
		t.Fatalf("got %q, want k", g.key)
	}
	q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "k")
	q.Add("k")
	q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "other")
	if g := receive(t, getAsync(q)); g.key != "other" {
		t.Fatalf("got %q while k was being reconciled, want other", g.key)
	}
	next := getAsync(q)
	q.Done("k")
	if g := receive(t, next); g != (got{"k", urgentPriority}) {
		t.Fatalf("after Done got %v, want k at urgent priority", g)
	}
}

// A key queued in the routine lane and then made urgent is reconciled
// from the urgent lane; the routine copy, handed out while the urgent pass
// runs, waits until that pass is done.
func TestLaneQueueKeyInBothLanes(t *testing.T) {
	q := testLaneQueue(t, 3, 0)
	q.Add("k")
	waitUntil(t, "the routine copy is out of its queue", func() bool { return q.lanes[laneRoutine].Len() == 0 })
	q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "k")
	first := receive(t, getAsync(q))
	second := getAsync(q)
	q.Add("r")
	g := receive(t, second)
	if first.key != "k" || g.key != "r" {
		t.Fatalf("workers got %v and %v, want k once and then r", first, g)
	}
	next := getAsync(q)
	q.Done("k")
	if g := receive(t, next); g.key != "k" {
		t.Fatalf("after Done got %v, want the held copy of k", g)
	}
}

// An urgent key's requeue stays urgent while its urgent work is not done
// (a stale cache, a failed write), and goes back to routine once a pass
// acted on its decision.
func TestLaneQueueRequeueLeavesUrgentLaneOnceSettled(t *testing.T) {
	for name, tc := range map[string]struct {
		settle bool
		want   int
	}{
		"urgent work not done yet": {false, urgentPriority},
		"urgent work done":         {true, 0},
	} {
		t.Run(name, func(t *testing.T) {
			q := testLaneQueue(t, 2, 1)
			q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "k")
			g := receive(t, getAsync(q))
			if g != (got{"k", urgentPriority}) {
				t.Fatalf("got %v, want k at urgent priority", g)
			}
			if tc.settle {
				q.settled.mark("k")
			}
			// What the controller does with a RequeueAfter result.
			q.AddWithOpts(priorityqueue.AddOpts{After: time.Millisecond, Priority: g.priority}, "k")
			q.Done("k")
			if g := receive(t, getAsync(q)); g != (got{"k", tc.want}) {
				t.Fatalf("requeue came back as %v, want priority %d", g, tc.want)
			}
		})
	}
}

// An event during a settled key's pass is not a requeue: an abort that
// arrives meanwhile stays urgent.
func TestLaneQueueUrgentEventDuringSettledPassStaysUrgent(t *testing.T) {
	q := testLaneQueue(t, 2, 1)
	q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "k")
	g := receive(t, getAsync(q))
	q.settled.mark("k")
	q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "k")
	q.AddWithOpts(priorityqueue.AddOpts{After: time.Hour, Priority: g.priority}, "k")
	q.Done("k")
	if g := receive(t, getAsync(q)); g != (got{"k", urgentPriority}) {
		t.Fatalf("got %v, want k at urgent priority", g)
	}
}

// The settled mark is cleared when the key is next handed out, so a mark
// left by a pass without a requeue does not demote a later urgent pass.
func TestLaneQueueSettledMarkClearedAtNextHandout(t *testing.T) {
	q := testLaneQueue(t, 2, 1)
	q.settled.mark("k")
	q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "k")
	g := receive(t, getAsync(q))
	q.AddWithOpts(priorityqueue.AddOpts{RateLimited: true, Priority: g.priority}, "k")
	q.Done("k")
	if g := receive(t, getAsync(q)); g != (got{"k", urgentPriority}) {
		t.Fatalf("got %v, want the retry at urgent priority", g)
	}
}

// Reserving every worker still leaves one for routine work.
func TestLaneQueueKeepsOneRoutineWorker(t *testing.T) {
	q := testLaneQueue(t, 2, 5)
	if q.routineLimit != 1 {
		t.Fatalf("routine limit %d, want 1", q.routineLimit)
	}
	q.Add("r")
	if g := receive(t, getAsync(q)); g.key != "r" {
		t.Fatalf("got %q, want r", g.key)
	}
}

// A pass that made only its traffic writes is requeued urgently even when
// it came from the routine lane, at once rather than after its delay: it
// goes behind the Rollouts already waiting in the urgent lane, behind those
// the urgent handlers queue later (their traffic has not moved yet), ahead
// of the continuations queued later, and ahead of routine work. Its next
// requeue is routine again.
func TestLaneQueueContinuedKeyGoesBehindWaitingAborts(t *testing.T) {
	continued := &settledKeys[string]{}
	q := newLaneQueue("", workqueue.DefaultTypedControllerRateLimiter[string](), 2, 1, nil, continued)
	t.Cleanup(q.ShutDown)
	q.Add("k")
	if g := receive(t, getAsync(q)); g != (got{"k", 0}) {
		t.Fatalf("got %v, want k from the routine lane", g)
	}
	q.Add("routine")
	q.AddWithOpts(priorityqueue.AddOpts{Priority: firstMovePriority}, "abort1")
	q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "rest1")
	// What the controller does with the pass's result.
	continued.mark("k")
	q.AddWithOpts(priorityqueue.AddOpts{After: time.Hour}, "k")
	q.Done("k")
	q.AddWithOpts(priorityqueue.AddOpts{Priority: urgentPriority}, "rest2")
	q.AddWithOpts(priorityqueue.AddOpts{Priority: firstMovePriority}, "abort2")

	// The lanes hand out concurrently, so only the order within each lane
	// is certain.
	var urgent, routine []got
	for range 6 {
		g := receive(t, getAsync(q))
		if g.priority >= urgentPriority {
			urgent = append(urgent, g)
		} else {
			routine = append(routine, g)
		}
		q.Done(g.key)
	}
	want := []got{{"abort1", firstMovePriority}, {"abort2", firstMovePriority},
		{"rest1", urgentPriority}, {"k", urgentPriority}, {"rest2", urgentPriority}}
	if !slices.Equal(urgent, want) || len(routine) != 1 || routine[0].key != "routine" {
		t.Fatalf("urgent lane handed out %v and routine lane %v, want %v and the routine item", urgent, routine, want)
	}
	// The mark is spent: a later requeue of k waits its delay at the
	// priority it is given.
	q.AddWithOpts(priorityqueue.AddOpts{After: time.Hour}, "k")
	if n := q.Len(); n != 0 {
		t.Fatalf("%d items ready, want k waiting out its delay", n)
	}
}

// The first pass of an abort is handed out at firstMovePriority, and
// controller-runtime requeues a key at the priority it was handed out
// with. When that pass made only its traffic writes, the rest of the abort
// still goes behind the aborts whose watch events arrive meanwhile: kept at
// firstMovePriority it went ahead of them, and under a burst such passes
// held the workers while aborts whose traffic still went to the canary
// waited.
func TestLaneQueueContinuationOfAFirstMoveGoesBehindLaterAborts(t *testing.T) {
	continued := &settledKeys[string]{}
	q := newLaneQueue("", workqueue.DefaultTypedControllerRateLimiter[string](), 1, 0, nil, continued)
	t.Cleanup(q.ShutDown)
	q.AddWithOpts(priorityqueue.AddOpts{Priority: firstMovePriority}, "first")
	if g := receive(t, getAsync(q)); g != (got{"first", firstMovePriority}) {
		t.Fatalf("got %v, want the abort at firstMovePriority", g)
	}
	continued.mark("first")
	q.AddWithOpts(priorityqueue.AddOpts{After: continueAfter, Priority: firstMovePriority}, "first")
	q.Done("first")
	q.AddWithOpts(priorityqueue.AddOpts{Priority: firstMovePriority}, "later")

	var order []got
	for range 2 {
		g := receive(t, getAsync(q))
		order = append(order, g)
		q.Done(g.key)
	}
	want := []got{{"later", firstMovePriority}, {"first", urgentPriority}}
	if !slices.Equal(order, want) {
		t.Fatalf("handed out %v, want %v", order, want)
	}
}

// A requeue that has come due goes behind the items queued before its time
// and ahead of those queued after: a pause's end waits for the work that
// was there when it came due, not for every watch event that arrives
// later. A priority queue given the delay would hand out every item queued
// without one first.
func TestLaneQueueDueRequeueGoesAheadOfLaterAdds(t *testing.T) {
	q := testLaneQueue(t, 2, 0)
	q.Add("before")
	q.AddAfter("pause-end", 10*time.Millisecond)
	waitUntil(t, "the requeue is due", func() bool { return q.waitingAdds() == 0 })
	q.Add("later")
	var order []string
	for range 3 {
		g := receive(t, getAsync(q))
		order = append(order, g.key)
		q.Done(g.key)
	}
	if want := []string{"before", "pause-end", "later"}; !slices.Equal(order, want) {
		t.Fatalf("handed out %v, want %v", order, want)
	}
}

// A key handed out while its requeue waits runs once: the waiting add is
// the pass that just ran, as a priority queue keeps one item per key. Its
// own requeue replaces it.
func TestLaneQueueHandoutTakesTheWaitingRequeue(t *testing.T) {
	q := testLaneQueue(t, 2, 0)
	q.AddAfter("ro", 30*time.Millisecond)
	q.Add("ro")
	g := receive(t, getAsync(q))
	q.Done(g.key)
	if q.waitingAdds() > 0 {
		t.Fatal("the requeue still waits after its key was handed out")
	}
	// An earlier requeue of a waiting key moves it up; a later one does not
	// hold it back.
	q.AddAfter("ro", time.Hour)
	q.AddAfter("ro", 10*time.Millisecond)
	q.AddAfter("ro", 2*time.Hour)
	if g := receive(t, getAsync(q)); g.key != "ro" {
		t.Fatalf("handed out %q", g.key)
	}
}

func (q *laneQueue[T]) waitingAdds() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// A requeue for a time the decision set comes due ahead of the routine
// items queued without a delay, though they were queued before it came
// due; the item a worker's fetcher already holds stays first.
func TestLaneQueueTimedRequeueGoesAheadOfRoutineEvents(t *testing.T) {
	q := testLaneQueue(t, 2, 0)
	q.timed = &settledKeys[string]{}
	q.Add("first")
	waitUntil(t, "the fetcher holds the first item", func() bool { return q.Len() == 0 })
	q.Add("event")
	q.timed.mark("pause-end")
	q.AddAfter("pause-end", 10*time.Millisecond)
	waitUntil(t, "the requeue is due", func() bool { return q.waitingAdds() == 0 })
	var order []string
	for range 3 {
		g := receive(t, getAsync(q))
		order = append(order, g.key)
		q.Done(g.key)
	}
	if want := []string{"first", "pause-end", "event"}; !slices.Equal(order, want) {
		t.Fatalf("handed out %v, want %v", order, want)
	}
}

// A worker that may take routine items takes none while an urgent item is
// on its way out of the urgent lane: the lane hands an item to its fetcher
// some goroutine switches after it is added, and a worker that looked in
// between found only the routine lane ready. Each round has a routine item
// waiting at the routine fetcher when the abort is added.
func TestLaneQueueRoutineWaitsWhileAnUrgentItemIsOnItsWay(t *testing.T) {
	q := testLaneQueue(t, 1, 0)
	for i := range 20 {
		routine, abort := fmt.Sprintf("routine%d", i), fmt.Sprintf("abort%d", i)
		q.Add(routine)
		waitUntil(t, "the routine fetcher holds the routine item", func() bool { return q.lanes[laneRoutine].Len() == 0 })
		time.Sleep(2 * time.Millisecond)
		q.AddWithOpts(priorityqueue.AddOpts{Priority: firstMovePriority}, abort)
		g := receive(t, getAsync(q))
		if g != (got{abort, firstMovePriority}) {
			t.Fatalf("round %d: the worker took %v while %s was queued", i, g, abort)
		}
		q.Done(g.key)
		if g = receive(t, getAsync(q)); g.key != routine {
			t.Fatalf("round %d: then %v, want %s", i, g, routine)
		}
		q.Done(g.key)
	}
}

// Two workers wait for one urgent item on its way: the one that does not
// get it takes the routine item instead of waiting for the next abort.
func TestLaneQueueWorkerLeftWithoutTheUrgentItemTakesRoutineWork(t *testing.T) {
	q := testLaneQueue(t, 2, 0)
	q.Add("routine")
	waitUntil(t, "the routine fetcher holds the routine item", func() bool { return q.lanes[laneRoutine].Len() == 0 })
	time.Sleep(2 * time.Millisecond)
	q.AddWithOpts(priorityqueue.AddOpts{Priority: firstMovePriority}, "abort")
	a, b := getAsync(q), getAsync(q)
	keys := []string{receive(t, a).key, receive(t, b).key}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"abort", "routine"}) {
		t.Fatalf("the workers took %v, want the abort and the routine item", keys)
	}
}
