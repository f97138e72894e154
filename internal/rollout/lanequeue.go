package rollout

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
)

// timedPriority is the routine priority of a requeue for a time the
// decision itself set: the clock alone moves that Rollout's release on
// (a pause ends), and its pass scales ReplicaSets whose Pods the release
// then waits for, so it goes ahead of routine work queued by watch events.
// It stays below urgentPriority: aborts go first.
const timedPriority = 1

// lane is one of the three queues of a laneQueue.
type lane int

const (
	// laneRoutine holds the items below urgentPriority.
	laneRoutine lane = iota
	// laneUrgent holds the items at urgentPriority: the rest of aborts
	// whose traffic already moved.
	laneUrgent
	// laneFirst holds the items at firstMovePriority: Rollouts whose
	// traffic has to move back to stable.
	laneFirst
	lanes
)

// handout is an item a lane's fetcher took out of its queue for a worker.
type handout[T comparable] struct {
	key      T
	priority int
	from     lane
}

// pendingAdd is an add that arrived while its key was being reconciled; it
// is queued when the worker is done with the key.
type pendingAdd struct {
	priority int
	readyAt  time.Time
}

// waitingAdd is an add that waits for its time.
type waitingAdd struct {
	priority int
	at       time.Time
	timer    *time.Timer
}

// laneQueue is the Rollout controller's work queue when the priority lane
// is on. First moves (priority firstMovePriority or more: an abort, a
// rollback, a failed run, whose traffic has to go back to stable), the
// rest of aborts whose traffic moved (urgentPriority) and routine items
// wait in three priority queues, and only routineLimit workers may hold or
// wait for a routine item or the rest of an abort at once: the remaining
// workers wait for first moves only, so an abort's traffic write never
// waits for a routine reconcile, nor for the several writes that finish
// other aborts, to end. Under a burst of aborts those finishing passes
// held every worker for a second or more each on a busy API server while
// later aborts' traffic still went to their canaries. The choice is made
// in Get, before a worker takes an item, so a reserved worker never holds
// an item it may not run.
//
// A key is handed to at most one worker at a time, as controller-runtime's
// queue guarantees: each lane's own queue keeps a key it handed out from
// being handed out again until Done, and across the lanes an add for a
// key being reconciled is held here and queued at Done. A key queued in
// both lanes (routine work queued, then an abort) may be reconciled once
// more, from the second lane, after the first pass; a reconcile is level
// based, so the extra pass only finds nothing left to do.
type laneQueue[T comparable] struct {
	lanes        [lanes]priorityqueue.PriorityQueue[T]
	rateLimiter  workqueue.TypedRateLimiter[T]
	routineLimit int
	// settled are the keys whose last reconcile finished their urgent work;
	// their requeue goes back to the routine lane.
	settled *settledKeys[T]
	// continued are the keys whose last reconcile made only an abort's
	// traffic writes; their requeue is queued at once in the urgent lane.
	continued *settledKeys[T]
	// timed are the keys whose last reconcile waits for a time its
	// decision set (a pause's end); their requeue comes due at
	// timedPriority, ahead of the routine items queued without a delay,
	// which are mostly Pod counts that move no step. Nil marks none.
	timed *settledKeys[T]
	now   func() time.Time

	// out carries each lane's next item from its fetcher to a worker.
	out [lanes]chan handout[T]

	mu sync.Mutex
	// waiting are the adds that wait for their time (a requeue's delay, a
	// rate limiter's back-off). A lane gets each when it is due, behind
	// the items queued before then and ahead of those queued after, as
	// client-go's delaying queue does. Given to a lane with its delay, an
	// item would sort behind every item queued without one, even those
	// queued after it was due: under a steady flow of watch events a timed
	// step (a pause's end) then waits until the flow dries up.
	waiting map[T]*waitingAdd
	// active maps a key a worker holds to the lane it came from.
	active map[T]lane
	// deferred are the adds for active keys.
	deferred map[T]pendingAdd
	// routineSlots counts the workers that hold or wait for a routine item.
	routineSlots int
	// slotFreed is closed, and replaced, whenever a routine slot frees, so
	// workers waiting for urgent items only look again.
	slotFreed chan struct{}
	// urgentOnly counts the workers waiting for first moves only.
	urgentOnly int
	// queued are, for the urgent and first lanes, the keys given to the
	// lane and not yet taken by a worker, including the one its fetcher
	// may be carrying. A worker takes from a lower lane only while the
	// higher ones have none: a lane hands an added item to its fetcher a
	// few goroutine switches after it is added, and on a loaded machine a
	// worker that looked in between found only the routine lane ready and
	// took a routine item while aborts waited.
	queued [lanes]map[T]struct{}
	// taken is closed, and replaced, whenever a lane's queued empties, so
	// workers waiting for an item of that lane that another worker took
	// look again.
	taken [lanes]chan struct{}

	stopOnce sync.Once
	stopped  chan struct{}
}

// newLaneQueue builds a laneQueue whose lanes' metrics are named name (the
// routine lane), name_urgent and name_first. workers is the controller's
// worker count and reserved how many of them take first moves only; at
// least one worker always may take routine items. settled and continued are where
// the reconciler marks keys (nil: none are marked).
func newLaneQueue[T comparable](name string, rl workqueue.TypedRateLimiter[T], workers, reserved int, settled, continued *settledKeys[T]) *laneQueue[T] {
	if settled == nil {
		settled = &settledKeys[T]{}
	}
	if continued == nil {
		continued = &settledKeys[T]{}
	}
	q := &laneQueue[T]{
		rateLimiter:  rl,
		routineLimit: max(1, workers-max(0, reserved)),
		settled:      settled,
		continued:    continued,
		now:          time.Now,
		waiting:      map[T]*waitingAdd{},
		active:       map[T]lane{},
		deferred:     map[T]pendingAdd{},
		slotFreed:    make(chan struct{}),
		stopped:      make(chan struct{}),
	}
	// An empty name keeps a queue's metrics off.
	names := [lanes]string{laneRoutine: name}
	if name != "" {
		names[laneUrgent] = name + "_urgent"
		names[laneFirst] = name + "_first"
	}
	for l := range lanes {
		q.queued[l] = map[T]struct{}{}
		q.taken[l] = make(chan struct{})
		pq := priorityqueue.New[T](names[l])
		q.lanes[l] = &stoppableQueue[T]{PriorityQueue: pq, stopped: make(chan struct{})}
		q.out[l] = make(chan handout[T])
		go q.fetch(l)
	}
	return q
}

// fetch hands the items of one lane to the workers, one at a time.
func (q *laneQueue[T]) fetch(l lane) {
	for {
		key, priority, shutdown := q.lanes[l].GetWithPriority()
		if shutdown {
			return
		}
		select {
		case q.out[l] <- handout[T]{key: key, priority: priority, from: l}:
		case <-q.stopped:
			return
		}
	}
}

// laneOf is the lane an item of the given priority waits in.
func laneOf(priority int) lane {
	switch {
	case priority >= firstMovePriority:
		return laneFirst
	case priority >= urgentPriority:
		return laneUrgent
	default:
		return laneRoutine
	}
}

// AddWithOpts queues items. A requeue (After or RateLimited, which only the
// controller's own requeues use) of a key whose urgent work is done goes
// back to the routine priority. The requeue of a key whose pass made only
// its traffic writes is queued at once at the urgent priority, whatever
// lane the pass came from and whatever priority it was handed out with:
// in the urgent lane it waits behind the items already there and behind
// every Rollout the urgent handlers queue later (firstMovePriority), whose
// traffic still goes to the canary, and ahead of the other continuations
// queued later, since a delay would sort it after every item queued
// without one, and a routine lane may be long. An add with a delay waits for its
// time outside the lanes (see waiting).
func (q *laneQueue[T]) AddWithOpts(o priorityqueue.AddOpts, items ...T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, key := range items {
		priority, after, rateLimited := o.Priority, o.After, o.RateLimited
		requeue := after > 0 || rateLimited
		if requeue && q.settled.take(key) {
			priority = 0
		}
		if after > 0 && !rateLimited && q.timed.take(key) {
			priority = max(priority, timedPriority)
		}
		if requeue && q.continued.take(key) {
			// Not the priority the pass was handed out with: a first
			// move's requeue would otherwise keep firstMovePriority and go
			// ahead of aborts whose traffic has not moved yet.
			priority = urgentPriority
			after, rateLimited = 0, false
		}
		if rateLimited {
			if rl := q.rateLimiter.When(key); after == 0 || rl < after {
				after = rl
			}
		}
		if _, busy := q.active[key]; busy {
			q.deferLocked(key, pendingAdd{priority: priority, readyAt: q.now().Add(after)})
			continue
		}
		q.queueLocked(key, priority, after)
	}
}

// queueLocked gives key to its lane now, or once after has passed.
func (q *laneQueue[T]) queueLocked(key T, priority int, after time.Duration) {
	if after <= 0 {
		q.addToLaneLocked(key, priority)
		return
	}
	at := q.now().Add(after)
	if w, ok := q.waiting[key]; ok {
		// One wait per key, as a priority queue keeps one item per key:
		// the higher priority and the earlier time win.
		w.priority = max(w.priority, priority)
		if at.Before(w.at) {
			w.at = at
			w.timer.Reset(after)
		}
		return
	}
	w := &waitingAdd{priority: priority, at: at}
	w.timer = time.AfterFunc(after, func() { q.due(key, w) })
	q.waiting[key] = w
}

// due gives a waiting add to its lane; an add for a key a worker holds is
// queued when the worker is done with it.
func (q *laneQueue[T]) due(key T, w *waitingAdd) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.waiting[key] != w || q.ShuttingDown() {
		// Handed out or replaced meanwhile.
		return
	}
	if wait := w.at.Sub(q.now()); wait > 0 {
		// Reset to an earlier time raced with this call of the later one.
		w.timer.Reset(wait)
		return
	}
	delete(q.waiting, key)
	if _, busy := q.active[key]; busy {
		q.deferLocked(key, pendingAdd{priority: w.priority, readyAt: q.now()})
		return
	}
	q.addToLaneLocked(key, w.priority)
}

// addToLaneLocked gives key to the lane of its priority now.
func (q *laneQueue[T]) addToLaneLocked(key T, priority int) {
	l := laneOf(priority)
	q.queued[l][key] = struct{}{}
	q.lanes[l].AddWithOpts(priorityqueue.AddOpts{Priority: priority}, key)
}

// takenLocked records that a worker took key out of lane l.
func (q *laneQueue[T]) takenLocked(key T, l lane) {
	if _, ok := q.queued[l][key]; !ok {
		return
	}
	delete(q.queued[l], key)
	if len(q.queued[l]) == 0 {
		close(q.taken[l])
		q.taken[l] = make(chan struct{})
	}
}

// deferLocked merges an add for an active key into the one already held:
// the higher priority and the earlier time win, as in a priority queue.
func (q *laneQueue[T]) deferLocked(key T, p pendingAdd) {
	if prev, ok := q.deferred[key]; ok {
		p.priority = max(p.priority, prev.priority)
		if prev.readyAt.Before(p.readyAt) {
			p.readyAt = prev.readyAt
		}
	}
	q.deferred[key] = p
}

// Add queues item at the routine priority.
func (q *laneQueue[T]) Add(item T) { q.AddWithOpts(priorityqueue.AddOpts{}, item) }

// AddAfter queues item at the routine priority after d.
func (q *laneQueue[T]) AddAfter(item T, d time.Duration) {
	q.AddWithOpts(priorityqueue.AddOpts{After: d}, item)
}

// AddRateLimited queues item once the rate limiter allows it.
func (q *laneQueue[T]) AddRateLimited(item T) {
	q.AddWithOpts(priorityqueue.AddOpts{RateLimited: true}, item)
}

// Forget clears item's rate-limiter history.
func (q *laneQueue[T]) Forget(item T) { q.rateLimiter.Forget(item) }

// NumRequeues is how often item was requeued through the rate limiter.
func (q *laneQueue[T]) NumRequeues(item T) int { return q.rateLimiter.NumRequeues(item) }

// Len counts the items ready in both lanes.
func (q *laneQueue[T]) Len() int { return q.lanes[laneRoutine].Len() + q.lanes[laneUrgent].Len() }

// ShuttingDown reports whether ShutDown was called.
func (q *laneQueue[T]) ShuttingDown() bool {
	select {
	case <-q.stopped:
		return true
	default:
		return false
	}
}

// ShutDown stops both lanes and releases every waiting worker.
func (q *laneQueue[T]) ShutDown() {
	q.stopOnce.Do(func() { close(q.stopped) })
	q.mu.Lock()
	for key, w := range q.waiting {
		w.timer.Stop()
		delete(q.waiting, key)
	}
	q.mu.Unlock()
	for _, l := range q.lanes {
		l.ShutDown()
	}
}

// ShutDownWithDrain is ShutDown: controller-runtime does not drain.
func (q *laneQueue[T]) ShutDownWithDrain() { q.ShutDown() }

// Get waits for the next item a worker may take, or for the shutdown.
func (q *laneQueue[T]) Get() (T, bool) {
	key, _, shutdown := q.GetWithPriority()
	return key, shutdown
}

// GetWithPriority waits for the next item this worker may take: a first
// move whenever there is one; the rest of an abort, or else a routine
// item, only while fewer than routineLimit workers hold or wait for such
// items.
func (q *laneQueue[T]) GetWithPriority() (T, int, bool) {
	var zero T
	for {
		q.mu.Lock()
		slot := q.routineSlots < q.routineLimit
		if slot {
			q.routineSlots++
		}
		freed := q.slotFreed
		// The highest lane with items on their way, and what tells this
		// worker that others took them.
		waits, taken := lanes, (chan struct{})(nil)
		for _, l := range []lane{laneFirst, laneUrgent} {
			if len(q.queued[l]) > 0 {
				waits, taken = l, q.taken[l]
				break
			}
		}
		q.mu.Unlock()

		var h handout[T]
		if slot {
			var ok, stop bool
			if h, ok, stop = q.take(waits, taken); stop {
				q.releaseSlot()
				return zero, 0, true
			}
			if !ok {
				q.releaseSlot()
				continue
			}
			if h.from == laneFirst {
				q.releaseSlot()
			}
		} else {
			q.mu.Lock()
			q.urgentOnly++
			q.mu.Unlock()
			var got, stop bool
			select {
			case h = <-q.out[laneFirst]:
				got = true
			case <-freed:
			case <-q.stopped:
				stop = true
			}
			q.mu.Lock()
			q.urgentOnly--
			q.mu.Unlock()
			if stop {
				return zero, 0, true
			}
			if !got {
				continue
			}
		}

		q.mu.Lock()
		q.takenLocked(h.key, h.from)
		if _, busy := q.active[h.key]; busy {
			// The other lane's worker holds the key: keep the add for when
			// it is done, and let this lane hand the key out again then.
			q.lanes[h.from].Done(h.key)
			q.deferLocked(h.key, pendingAdd{priority: h.priority, readyAt: q.now()})
			if h.from != laneFirst {
				q.releaseSlotLocked()
			}
			q.mu.Unlock()
			continue
		}
		q.active[h.key] = h.from
		if w, ok := q.waiting[h.key]; ok {
			// The pass about to run is the one the waiting add asked for,
			// as when a priority queue hands out a key queued both with
			// and without a delay; it asks again for what it still needs.
			w.timer.Stop()
			delete(q.waiting, h.key)
		}
		q.settled.clear(h.key)
		q.continued.clear(h.key)
		q.timed.clear(h.key)
		q.mu.Unlock()
		return h.key, h.priority, false
	}
}

// Done tells the queue the worker is through with key; an add that came
// meanwhile is queued now.
func (q *laneQueue[T]) Done(key T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	from, ok := q.active[key]
	if !ok {
		return
	}
	delete(q.active, key)
	q.lanes[from].Done(key)
	if from != laneFirst {
		q.releaseSlotLocked()
	}
	if p, ok := q.deferred[key]; ok {
		delete(q.deferred, key)
		q.queueLocked(key, p.priority, p.readyAt.Sub(q.now()))
	}
}

// take hands a worker that may take any item the highest one ready. waits
// is the highest lane with items on their way (lanes for none): the worker
// waits for that lane or a higher one rather than take a lower one's item
// meanwhile, and ok is false once other workers took them (taken closed),
// so it looks again. stop is true once the queue is shut down.
func (q *laneQueue[T]) take(waits lane, taken <-chan struct{}) (h handout[T], ok, stop bool) {
	select {
	case h = <-q.out[laneFirst]:
		return h, true, false
	default:
	}
	// A nil channel is never ready, so the lanes below the one waited for
	// drop out of the select.
	var out [lanes]<-chan handout[T]
	for l := range lanes {
		if waits == lanes || l >= waits {
			out[l] = q.out[l]
		}
	}
	select {
	case h = <-out[laneFirst]:
	case h = <-out[laneUrgent]:
	case h = <-out[laneRoutine]:
	case <-taken:
		return h, false, false
	case <-q.stopped:
		return h, false, true
	}
	return h, true, false
}

func (q *laneQueue[T]) releaseSlot() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseSlotLocked()
}

func (q *laneQueue[T]) releaseSlotLocked() {
	q.routineSlots--
	close(q.slotFreed)
	q.slotFreed = make(chan struct{})
}

// settledKeys are the keys whose last reconcile finished the work that
// made them urgent. The reconciler marks a key when a pass acted on its
// decision; the queue reads the mark for the requeue that follows and
// clears it when the key is next handed out.
type settledKeys[T comparable] struct {
	keys sync.Map
}

func (s *settledKeys[T]) mark(key T) {
	if s != nil {
		s.keys.Store(key, struct{}{})
	}
}

// take reports whether key was marked, and clears the mark.
func (s *settledKeys[T]) take(key T) bool {
	if s == nil {
		return false
	}
	_, ok := s.keys.LoadAndDelete(key)
	return ok
}

func (s *settledKeys[T]) clear(key T) {
	if s != nil {
		s.keys.Delete(key)
	}
}
