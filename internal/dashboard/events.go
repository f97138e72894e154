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
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// watchKey names one set of watches: the kinds one page shows, in one
// namespace ("" for all).
type watchKey struct {
	namespace string
	detail    bool // Pods and AnalysisRuns too, for the rollout page
}

// watchSet is the watches of one key, shared by every stream that needs
// them and stopped when the last one leaves.
type watchSet struct {
	cancel context.CancelFunc
	kick   chan struct{}
	subs   map[chan struct{}]struct{}
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

// kindsFor lists the kinds a page shows.
func kindsFor(detail bool) []func() client.ObjectList {
	kinds := []func() client.ObjectList{
		func() client.ObjectList { return &v1alpha1.RolloutList{} },
		func() client.ObjectList { return &appsv1.ReplicaSetList{} },
	}
	if detail {
		kinds = append(kinds,
			func() client.ObjectList { return &corev1.PodList{} },
			func() client.ObjectList { return &v1alpha1.AnalysisRunList{} })
	}
	return kinds
}

// subscribe returns a channel that receives a value, at most one pending,
// after each debounced burst of changes, and the function that ends the
// subscription.
func (h *hub) subscribe(key watchKey) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.sets[key]
	if ws == nil {
		ctx, cancel := context.WithCancel(context.Background())
		ws = &watchSet{cancel: cancel, kick: make(chan struct{}, 1), subs: map[chan struct{}]struct{}{}}
		h.sets[key] = ws
		go h.debounceLoop(ctx, ws)
		for _, newList := range kindsFor(key.detail) {
			go h.watchLoop(ctx, key.namespace, newList, ws)
		}
	}
	ws.subs[ch] = struct{}{}
	var once sync.Once
	return ch, func() {
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

// watchLoop watches one kind until ctx ends, starting the watch again
// whenever the API server ends it. A new watch first lists what exists as
// added events, so a change missed in between still reaches the page.
func (h *hub) watchLoop(ctx context.Context, ns string, newList func() client.ObjectList, ws *watchSet) {
	const minBackoff, maxBackoff = 500 * time.Millisecond, 30 * time.Second
	backoff := minBackoff
	kind := fmt.Sprintf("%T", newList())
	for ctx.Err() == nil {
		started := time.Now()
		w, err := h.c.Watch(ctx, newList(), client.InNamespace(ns))
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error(err, "dashboard: cannot watch", "kind", kind, "namespace", ns)
			}
		} else {
			h.drain(ctx, w, ws, kind, ns)
			if time.Since(started) > 10*time.Second {
				backoff = minBackoff
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (h *hub) drain(ctx context.Context, w watch.Interface, ws *watchSet, kind, ns string) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			if ev.Type == watch.Error {
				h.log.Info("dashboard: watch ended with an error", "kind", kind, "namespace", ns, "error", apierrors.FromObject(ev.Object).Error())
				return
			}
			select {
			case ws.kick <- struct{}{}:
			default:
			}
		}
	}
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
	changed, unsubscribe := s.hub.subscribe(watchKey{namespace: ns, detail: name != ""})
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
	send := func() error {
		var v any
		var err error
		if name != "" {
			v, err = s.rolloutDetail(ctx, ns, name)
		} else {
			v, err = s.rolloutList(ctx, ns)
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
