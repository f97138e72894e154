package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// watchKey names one set of watches: the kinds one page shows, in one
// namespace ("" for all).
type watchKey struct {
	namespace string
	detail    bool // Pods, AnalysisRuns and Experiments too, for the rollout page
}

// watchSet is the watch-fed cache of one key, shared by every stream that
// needs it and stopped when the last one leaves. Streams build their pages
// from its stores, so a hundred open tabs cost the API server one list and
// one watch per kind, as one tab does.
type watchSet struct {
	cancel context.CancelFunc
	kick   chan struct{}
	subs   map[chan struct{}]struct{}
	reader storeReader
	synced []toolscache.InformerSynced
}

// hub runs the watches the open event streams need and tells each stream,
// debounced, when something it shows may have changed.
type hub struct {
	c        client.WithWatch
	debounce time.Duration
	log      logr.Logger

	mu   sync.Mutex
	sets map[watchKey]*watchSet
}

func newHub(c client.WithWatch, debounce time.Duration, log logr.Logger) *hub {
	return &hub{c: c, debounce: debounce, log: log, sets: map[watchKey]*watchSet{}}
}

// watchedKind is one kind a page shows: a new object and a new list of it.
type watchedKind struct {
	object func() client.Object
	list   func() client.ObjectList
}

// kindsFor lists the kinds a page shows.
func kindsFor(detail bool) []watchedKind {
	kinds := []watchedKind{
		{func() client.Object { return &v1alpha1.Rollout{} }, func() client.ObjectList { return &v1alpha1.RolloutList{} }},
		{func() client.Object { return &appsv1.ReplicaSet{} }, func() client.ObjectList { return &appsv1.ReplicaSetList{} }},
	}
	if detail {
		kinds = append(kinds,
			watchedKind{func() client.Object { return &corev1.Pod{} }, func() client.ObjectList { return &corev1.PodList{} }},
			watchedKind{func() client.Object { return &v1alpha1.AnalysisRun{} }, func() client.ObjectList { return &v1alpha1.AnalysisRunList{} }},
			watchedKind{func() client.Object { return &v1alpha1.Experiment{} }, func() client.ObjectList { return &v1alpha1.ExperimentList{} }})
	}
	return kinds
}

// subscribe returns the key's shared watch set, a channel that receives a
// value, at most one pending, after each debounced burst of changes, and
// the function that ends the subscription.
func (h *hub) subscribe(key watchKey) (*watchSet, <-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.sets[key]
	if ws == nil {
		ctx, cancel := context.WithCancel(context.Background())
		ws = &watchSet{cancel: cancel, kick: make(chan struct{}, 1), subs: map[chan struct{}]struct{}{}, reader: storeReader{}}
		h.sets[key] = ws
		go h.debounceLoop(ctx, ws)
		for _, k := range kindsFor(key.detail) {
			store, informer := h.informer(ctx, key.namespace, k, ws)
			ws.reader[fmt.Sprintf("%T", k.object())] = store
			ws.synced = append(ws.synced, informer.HasSynced)
			go informer.Run(ctx.Done())
		}
	}
	ws.subs[ch] = struct{}{}
	var once sync.Once
	return ws, ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(ws.subs, ch)
			if len(ws.subs) == 0 {
				ws.cancel()
				if h.sets[key] == ws {
					delete(h.sets, key)
				}
			}
		})
	}
}

func (h *hub) activeWatchSets() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sets)
}

// informer lists and watches one kind into a store, starting the watch
// again (and listing again when it must) whenever the API server ends it,
// and kicks the set at every change.
func (h *hub) informer(ctx context.Context, ns string, k watchedKind, ws *watchSet) (toolscache.Store, toolscache.Controller) {
	kind := fmt.Sprintf("%T", k.object())
	lw := &toolscache.ListWatch{
		ListFunc: func(opts metav1.ListOptions) (runtime.Object, error) {
			list := k.list()
			if err := h.c.List(ctx, list, client.InNamespace(ns), &client.ListOptions{Raw: &opts}); err != nil {
				h.log.Error(err, "dashboard: cannot list", "kind", kind, "namespace", ns)
				return nil, err
			}
			return list, nil
		},
		WatchFunc: func(opts metav1.ListOptions) (watch.Interface, error) {
			w, err := h.c.Watch(ctx, k.list(), client.InNamespace(ns), &client.ListOptions{Raw: &opts})
			if err != nil && ctx.Err() == nil {
				h.log.Error(err, "dashboard: cannot watch", "kind", kind, "namespace", ns)
			}
			return w, err
		},
	}
	kick := func() {
		select {
		case ws.kick <- struct{}{}:
		default:
		}
	}
	return toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    k.object(),
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { kick() },
			UpdateFunc: func(any, any) { kick() },
			DeleteFunc: func(any) { kick() },
		},
	})
}

// debounceLoop waits for a change, gathers the changes of the next
// debounce interval, and tells every subscriber once.
func (h *hub) debounceLoop(ctx context.Context, ws *watchSet) {
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-ws.kick:
		}
		timer.Reset(h.debounce)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		select { // changes during the interval are covered by this round
		case <-ws.kick:
		default:
		}
		h.mu.Lock()
		for ch := range ws.subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		h.mu.Unlock()
	}
}

// syncWait bounds how long a new stream waits for the shared cache to fill
// before it reads the API server instead, so a kind the user may not list
// shows its error on the page rather than a page that never loads.
const syncWait = 5 * time.Second

// readerFor returns what a stream builds its pages from: the set's stores
// once every informer has listed, or the API server until then.
func (s *Server) readerFor(ctx context.Context, ws *watchSet) client.Reader {
	if ws == nil {
		return s.c
	}
	wait, cancel := context.WithTimeout(ctx, syncWait)
	defer cancel()
	if toolscache.WaitForCacheSync(wait.Done(), ws.synced...) {
		return ws.reader
	}
	return s.c
}

// events streams snapshots of a page as server-sent events: one named
// "snapshot" with the JSON of the page's GET at once and after every change,
// or one named "problem" with {"error": ..., "code": ...} while the page
// cannot be read (e.g. the Rollout was deleted). Identical snapshots are
// sent once.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns, err := namespaceParam(q.Get("namespace"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	name := q.Get("rollout")
	if name != "" && ns == "" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("a rollout needs a namespace"))
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("streaming is not supported by this connection"))
		return
	}
	ws, changed, unsubscribe := s.hub.subscribe(watchKey{namespace: ns, detail: name != ""})
	defer unsubscribe()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	flusher.Flush()

	ctx := r.Context()
	var last []byte
	var reader client.Reader
	cached := false
	send := func() error {
		if !cached {
			// Until the shared cache has filled, each snapshot asks
			// again whether it has.
			reader = s.readerFor(ctx, ws)
			_, cached = reader.(storeReader)
		}
		var v any
		var err error
		if name != "" {
			v, err = s.rolloutDetail(ctx, reader, ns, name)
		} else {
			v, err = s.rolloutList(ctx, reader, ns)
		}
		event := "snapshot"
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			event = "problem"
			code := http.StatusBadGateway
			if status, ok := err.(apierrors.APIStatus); ok && status.Status().Code != 0 {
				code = int(status.Status().Code)
			}
			v = struct {
				Error string `json:"error"`
				Code  int    `json:"code"`
			}{err.Error(), code}
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		frame := append([]byte("event: "+event+"\ndata: "), data...)
		frame = append(frame, "\n\n"...)
		if bytes.Equal(frame, last) {
			return nil
		}
		last = frame
		if _, err := w.Write(frame); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	if send() != nil {
		return
	}
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			if send() != nil {
				return
			}
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
