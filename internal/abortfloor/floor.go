// Package abortfloor is the least a controller must do for a routed abort,
// as a measuring tool: it watches the Rollouts of a namespace and, the
// first time it sees one aborted, writes its canary Ingress's NGINX canary
// weight to 0, the same PUT the controller makes, from a pool of workers
// as large as the controller's. Nothing else: no status, no Event, no
// ReplicaSet. Run against Rollouts the controller walked to their pause
// while the controller is held (`kanaria bench --hold-controller`), its
// latencies are the floor any controller could reach on that cluster.
package abortfloor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/nginx"
	"github.com/kanaria-rollouts/kanaria/internal/workpool"
)

// Record is what the handler did for one aborted Rollout, as one JSON line.
type Record struct {
	// Rollout is the Rollout's name.
	Rollout string `json:"rollout"`
	// Event is when the handler's watch delivered the Rollout aborted.
	Event time.Time `json:"event"`
	// Sent is when the first Ingress PUT left, after a worker took it.
	Sent time.Time `json:"sent"`
	// Answered is when the last Ingress PUT was answered.
	Answered time.Time `json:"answered"`
	// Writes is how many PUTs it took (more than one Ingress, or a
	// conflict that made it read and write again).
	Writes int `json:"writes"`
	// Error is why the weight could not be set, if it could not.
	Error string `json:"error,omitempty"`
}

// Handler acts on aborted Rollouts. Seen is called from the watch's event
// handler; Run's workers do the writes.
type Handler struct {
	// Reader reads the Rollouts and Ingresses, normally from the watch
	// cache, as the controller does.
	Reader client.Reader
	// APIReader reads an Ingress again from the API server after a
	// conflict.
	APIReader client.Reader
	// Writer makes the Ingress PUTs.
	Writer client.Writer
	// Out receives one Record per Rollout as a JSON line.
	Out io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	once   sync.Once
	queue  workqueue.TypedInterface[types.NamespacedName]
	mu     sync.Mutex
	seen   map[types.UID]bool
	events map[types.NamespacedName]time.Time
}

func (h *Handler) init() {
	h.once.Do(func() {
		h.queue = workqueue.NewTyped[types.NamespacedName]()
		h.seen = map[types.UID]bool{}
		h.events = map[types.NamespacedName]time.Time{}
		if h.Now == nil {
			h.Now = time.Now
		}
	})
}

// Seen is the watch's event handler: an aborted Rollout it has not handled
// before (by UID, so a Rollout recreated under the same name counts anew)
// goes to the workers. It reports whether it queued the Rollout.
func (h *Handler) Seen(ro *v1alpha1.Rollout) bool {
	h.init()
	if !ro.Status.Abort {
		return false
	}
	now := h.Now()
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	h.mu.Lock()
	if h.seen[ro.UID] {
		h.mu.Unlock()
		return false
	}
	h.seen[ro.UID] = true
	h.events[key] = now
	h.mu.Unlock()
	h.queue.Add(key)
	return true
}

// Run takes queued Rollouts with workers goroutines until ctx ends.
func (h *Handler) Run(ctx context.Context, workers int) {
	h.init()
	workpool.Run(ctx, h.queue, workers, func(key types.NamespacedName) { h.handle(ctx, key) })
}

func (h *Handler) handle(ctx context.Context, key types.NamespacedName) {
	h.mu.Lock()
	rec := Record{Rollout: key.Name, Event: h.events[key]}
	h.mu.Unlock()
	if err := h.setWeightZero(ctx, key, &rec); err != nil {
		rec.Error = err.Error()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	line, _ := json.Marshal(rec)
	_, _ = h.Out.Write(append(line, '\n'))
}

// setWeightZero writes canary weight 0 on every canary Ingress of the
// Rollout key, filling rec's times.
func (h *Handler) setWeightZero(ctx context.Context, key types.NamespacedName, rec *Record) error {
	ro := &v1alpha1.Rollout{}
	if err := h.Reader.Get(ctx, key, ro); err != nil {
		return fmt.Errorf("reading Rollout %s: %w", key, err)
	}
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil || c.TrafficRouting.Nginx == nil {
		return fmt.Errorf("rollout %s is not routed by NGINX", key)
	}
	n := c.TrafficRouting.Nginx
	weight := nginx.WeightAnnotation(nginx.AnnotationPrefix(n))
	stables := nginx.StableIngresses(n)
	if len(stables) == 0 {
		return fmt.Errorf("rollout %s names no stable Ingress", key)
	}
	for _, stable := range stables {
		name := types.NamespacedName{Namespace: key.Namespace, Name: nginx.CanaryIngressName(ro.Name, stable)}
		if err := h.put(ctx, name, weight, rec); err != nil {
			return err
		}
	}
	return nil
}

// put writes the weight annotation to 0 on the Ingress name, read from
// the cache like the controller's, reading it again from the API server
// after a conflict.
func (h *Handler) put(ctx context.Context, name types.NamespacedName, weight string, rec *Record) error {
	var r client.Reader = h.Reader
	for {
		ing := &networkingv1.Ingress{}
		if err := r.Get(ctx, name, ing); err != nil {
			return fmt.Errorf("reading Ingress %s: %w", name, err)
		}
		if ing.Annotations[weight] == "0" {
			return nil
		}
		ing = ing.DeepCopy()
		if ing.Annotations == nil {
			ing.Annotations = map[string]string{}
		}
		ing.Annotations[weight] = "0"
		if rec.Sent.IsZero() {
			rec.Sent = h.Now()
		}
		rec.Writes++
		err := h.Writer.Update(ctx, ing)
		rec.Answered = h.Now()
		switch {
		case err == nil:
			return nil
		case apierrors.IsConflict(err) && ctx.Err() == nil:
			r = h.APIReader
		default:
			return fmt.Errorf("updating Ingress %s: %w", name, err)
		}
	}
}
