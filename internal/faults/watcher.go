package faults

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// reorderWindow is how long the watcher holds an event before replaying
// it. Each kind arrives on its own watch, and the checker must see the
// changes in the order the API server made them (resource versions of one
// etcd are totally ordered), so an event waits until every watch has had
// the time to deliver the changes made before it.
const reorderWindow = 2 * time.Second

// controllerWriteMargin separates a killed controller's writes still in
// flight from the first write of its successor when timing a recovery.
// Once the process is reaped its connections are closed, and a write it had
// already sent shows on the watches within milliseconds on a local cluster.
const controllerWriteMargin = 100 * time.Millisecond

// span is a stretch of time; a zero end is still open.
type span struct{ from, to time.Time }

func (s span) holds(t time.Time) bool {
	return !t.Before(s.from) && (s.to.IsZero() || !t.After(s.to))
}

type pending struct {
	ev event
	at time.Time
}

// Watcher watches the suite's namespace and feeds every change, in the API
// server's write order, to the checker; it also notes when the controller
// writes, to time recoveries.
type Watcher struct {
	mu      sync.Mutex
	chk     *checker
	buf     []pending
	maxRV   int64
	doneRV  int64
	armAt   int64
	late    int
	lastObj map[string]runtime.Object
	// writes are the arrival times of the controller's writes, in order.
	writes []time.Time
	// blind are the spans in which the watches may be reconnecting after
	// an API server restart; what arrives then is applied, not judged.
	blind []span

	rc        *rest.Config
	scheme    *runtime.Scheme
	ns        string
	gen       int
	listed    map[string]bool
	stopCache context.CancelFunc
}

// newWatcher starts informers on the namespace's Pods, Services,
// Ingresses, ReplicaSets, AnalysisRuns and Rollouts and returns once they
// have synced.
func newWatcher(ctx context.Context, rc *rest.Config, scheme *runtime.Scheme, ns string, replicas int) (*Watcher, error) {
	w := &Watcher{chk: newChecker(replicas), lastObj: map[string]runtime.Object{}, rc: rc, scheme: scheme, ns: ns}
	if err := w.startCache(ctx); err != nil {
		return nil, err
	}
	go w.replayLoop(ctx)
	return w, nil
}

// startCache starts a new generation of informers and waits until they
// have listed everything; notifications of older generations are dropped.
func (w *Watcher) startCache(ctx context.Context) error {
	c, err := cache.New(w.rc, cache.Options{
		Scheme:            w.scheme,
		DefaultNamespaces: map[string]cache.Config{w.ns: {}},
		DefaultTransform:  cache.TransformStripManagedFields(),
	})
	if err != nil {
		return fmt.Errorf("watcher cache: %w", err)
	}
	w.mu.Lock()
	w.gen++
	gen := w.gen
	w.listed = map[string]bool{}
	w.mu.Unlock()
	kinds := []struct {
		obj  client.Object
		kind eventKind
	}{
		{&corev1.Pod{}, kindPod},
		{&corev1.Service{}, kindService},
		{&networkingv1.Ingress{}, kindIngress},
		{&appsv1.ReplicaSet{}, kindReplicaSet},
		{&v1alpha1.AnalysisRun{}, kindAnalysisRun},
		{&v1alpha1.Rollout{}, kindRollout},
	}
	cctx, cancel := context.WithCancel(ctx)
	for _, k := range kinds {
		inf, err := c.GetInformer(cctx, k.obj)
		if err != nil {
			cancel()
			return fmt.Errorf("watcher informer for %T: %w", k.obj, err)
		}
		kind := k.kind
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { w.receive(gen, kind, o, false) },
			UpdateFunc: func(_, o any) { w.receive(gen, kind, o, false) },
			DeleteFunc: func(o any) { w.receive(gen, kind, o, true) },
		}); err != nil {
			cancel()
			return fmt.Errorf("watcher handler for %T: %w", k.obj, err)
		}
	}
	go func() { _ = c.Start(cctx) }()
	if !c.WaitForCacheSync(cctx) {
		cancel()
		return fmt.Errorf("watcher: caches did not sync: %w", ctx.Err())
	}
	w.mu.Lock()
	old := w.stopCache
	w.stopCache = cancel
	w.mu.Unlock()
	if old != nil {
		old()
	}
	return nil
}

// refresh replaces the informers with new ones that list everything
// again, and treats what the old ones knew but the new lists lack as
// deletions it missed. After an API server restart, informers of every
// client on the local cluster (the controller manager's, the scheduler's,
// this watcher's) have been seen to stop receiving some kinds for minutes;
// fresh ones do not depend on how the old ones recover.
func (w *Watcher) refresh(ctx context.Context) error {
	if err := w.startCache(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	var gone []string
	for key := range w.lastObj {
		if !w.listed[key] {
			gone = append(gone, key)
		}
	}
	gen := w.gen
	objs := make([]runtime.Object, len(gone))
	for i, key := range gone {
		objs[i] = w.lastObj[key]
	}
	w.mu.Unlock()
	for i, key := range gone {
		var kind eventKind
		if _, err := fmt.Sscanf(key, "%d/", &kind); err != nil {
			continue
		}
		w.receive(gen, kind, toolscache.DeletedFinalStateUnknown{Key: key, Obj: objs[i]}, true)
	}
	return nil
}

// receive takes one informer notification.
func (w *Watcher) receive(gen int, kind eventKind, o any, deleted bool) {
	unknown := false
	if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o, unknown = tomb.Obj, true
	}
	obj, ok := o.(client.Object)
	if !ok {
		return
	}
	rv, _ := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	key := fmt.Sprintf("%d/%s", kind, obj.GetName())

	w.mu.Lock()
	defer w.mu.Unlock()
	if gen != w.gen {
		return
	}
	if !deleted {
		w.listed[key] = true
	}
	now := time.Now()
	prev := w.lastObj[key]
	if !deleted && prev != nil {
		prevRV, _ := strconv.ParseInt(prev.(client.Object).GetResourceVersion(), 10, 64)
		if rv <= prevRV {
			// A relist after a broken watch repeats what was seen.
			return
		}
	}
	if controllerWrote(kind, prev, obj, deleted) {
		w.writes = append(w.writes, now)
	}
	if deleted {
		delete(w.lastObj, key)
	} else {
		w.lastObj[key] = obj
	}
	if unknown {
		// When it happened is unknown; it is replayed after everything
		// seen so far.
		rv = w.maxRV
	}
	w.maxRV = max(w.maxRV, rv)
	if kind == kindRollout {
		return
	}
	late := rv < w.doneRV
	if late {
		w.late++
	}
	w.buf = append(w.buf, pending{ev: event{kind: kind, deleted: deleted, unknownDeletion: unknown, late: late, rv: rv, obj: obj}, at: now})
}

// controllerWrote tells the controller's writes from everyone else's: only
// it writes Rollout status, ReplicaSet specs and labels, Service selectors,
// canary Ingresses and AnalysisRuns. kube-controller-manager writes
// ReplicaSet status and Pods, the kubelet (kwok) Pod status, the suite
// Rollout specs.
func controllerWrote(kind eventKind, prev runtime.Object, obj client.Object, deleted bool) bool {
	switch kind {
	case kindRollout:
		p, ok := prev.(*v1alpha1.Rollout)
		o := obj.(*v1alpha1.Rollout)
		return !deleted && ok && !reflect.DeepEqual(p.Status, o.Status)
	case kindReplicaSet:
		p, ok := prev.(*appsv1.ReplicaSet)
		o := obj.(*appsv1.ReplicaSet)
		return !deleted && (!ok || p.Generation != o.Generation || !reflect.DeepEqual(p.Labels, o.Labels) ||
			!reflect.DeepEqual(p.Annotations, o.Annotations))
	case kindService:
		p, ok := prev.(*corev1.Service)
		o := obj.(*corev1.Service)
		return !deleted && ok && !reflect.DeepEqual(p.Spec.Selector, o.Spec.Selector)
	case kindIngress:
		return obj.GetAnnotations()[nginxCanaryAnnotation] == "true"
	case kindAnalysisRun:
		return !deleted
	}
	return false
}

// replayLoop hands held events to the checker in write order once the
// reorder window has passed for them.
func (w *Watcher) replayLoop(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.replay(time.Now().Add(-reorderWindow))
	}
}

// replay applies, in resource-version order, the held events received
// before cutoff.
func (w *Watcher) replay(cutoff time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sort.SliceStable(w.buf, func(i, j int) bool { return w.buf[i].ev.rv < w.buf[j].ev.rv })
	n := 0
	for n < len(w.buf) && !w.buf[n].at.After(cutoff) {
		ev := w.buf[n].ev
		if w.armAt > 0 && ev.rv > w.armAt {
			w.chk.armed = true
		}
		// Held events can fall behind the judged ones too: an unknown
		// deletion is placed at the newest version seen when it arrived.
		if ev.rv < w.doneRV || w.inBlindSpan(w.buf[n].at) {
			ev.late = true
		}
		w.chk.apply(ev)
		w.doneRV = max(w.doneRV, ev.rv)
		n++
	}
	w.buf = append(w.buf[:0], w.buf[n:]...)
}

func (w *Watcher) inBlindSpan(t time.Time) bool {
	for _, s := range w.blind {
		if s.holds(t) {
			return true
		}
	}
	return false
}

// blindFrom starts a span in which the watches may be reconnecting.
func (w *Watcher) blindFrom(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.blind = append(w.blind, span{from: t})
}

// blindTo ends the open span.
func (w *Watcher) blindTo(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.blind); n > 0 && w.blind[n-1].to.IsZero() {
		w.blind[n-1].to = t
	}
}

// arm turns the Pod and traffic checks on for every change after the
// latest one seen now.
func (w *Watcher) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armAt = max(w.maxRV, 1)
}

// expectTemplate tells the checker that the Rollout gets one more pod
// template.
func (w *Watcher) expectTemplate(rollout string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chk.expectTemplate(rollout)
}

// flush waits out the reorder window and replays everything held.
func (w *Watcher) flush(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(reorderWindow + 500*time.Millisecond):
	}
	w.replay(time.Now())
}

// stop ends the informers.
func (w *Watcher) stop() {
	w.mu.Lock()
	stop := w.stopCache
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// firstWriteAfter returns the arrival of the controller's first write
// after t plus the margin, or false if there was none yet.
func (w *Watcher) firstWriteAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	from := t.Add(controllerWriteMargin)
	i := sort.Search(len(w.writes), func(i int) bool { return w.writes[i].After(from) })
	if i == len(w.writes) {
		return time.Time{}, false
	}
	return w.writes[i], true
}

// violations returns the breaches found so far, and the counts of
// changes the checker could not place exactly.
func (w *Watcher) violations() (v []Violation, unobservedDeletions, late int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Violation(nil), w.chk.violations...), w.chk.unobservedDeletions, w.late
}
