package abortfloor

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/nginx"
)

const weightKey = nginx.DefaultAnnotationPrefix + "/canary-weight"

func routed(name, uid string, abort bool) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name, UID: types.UID(uid)}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
		StableService: name + "-stable", CanaryService: name + "-canary",
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: name}},
	}
	ro.Status.Abort = abort
	return ro
}

func canaryIngress(ro *v1alpha1.Rollout, weight string) *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{
		Namespace: ro.Namespace, Name: nginx.CanaryIngressName(ro.Name, ro.Name),
		Annotations: map[string]string{nginx.DefaultAnnotationPrefix + "/canary": "true", weightKey: weight, "other": "kept"},
	}}
}

// TestSeenQueuesEachAbortOnce: only an aborted Rollout is queued, once per
// Rollout; one recreated under the same name is a new one.
func TestSeenQueuesEachAbortOnce(t *testing.T) {
	h := &Handler{}
	if h.Seen(routed("a", "u1", false)) {
		t.Error("a Rollout that is not aborted was queued")
	}
	if !h.Seen(routed("a", "u1", true)) {
		t.Error("the aborted Rollout was not queued")
	}
	if h.Seen(routed("a", "u1", true)) {
		t.Error("the same aborted Rollout was queued twice")
	}
	if !h.Seen(routed("a", "u2", true)) {
		t.Error("a Rollout recreated under the same name was not queued")
	}
	if n := h.queue.Len(); n != 1 {
		// The two keys are the same name: the queue holds it once.
		t.Errorf("queue holds %d items, want 1", n)
	}
}

// TestRunSetsTheWeightWithOnePut: the worker writes the canary Ingress's
// weight to 0 with an update of the object it read (not a patch), leaves
// its other annotations, and logs one line with its times.
func TestRunSetsTheWeightWithOnePut(t *testing.T) {
	scheme, err := controller.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	ro := routed("bench-ro-00000", "u1", true)
	var updates, patches atomic.Int32
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(ro, canaryIngress(ro, "50")).
		WithInterceptorFuncs(interceptor.Funcs{
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				updates.Add(1)
				return c.Update(ctx, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
				patches.Add(1)
				return c.Patch(ctx, obj, p, opts...)
			},
		}).Build()
	var out bytes.Buffer
	h := &Handler{Reader: c, APIReader: c, Writer: c, Out: &out}
	if !h.Seen(ro) {
		t.Fatal("not queued")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx, 2); close(done) }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(outString(h), "\n") {
		select {
		case <-deadline:
			t.Fatal("no record written")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	<-done
	var ing networkingv1.Ingress
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "bench", Name: nginx.CanaryIngressName(ro.Name, ro.Name)}, &ing); err != nil {
		t.Fatal(err)
	}
	if ing.Annotations[weightKey] != "0" || ing.Annotations["other"] != "kept" {
		t.Errorf("canary Ingress annotations %v", ing.Annotations)
	}
	if updates.Load() != 1 || patches.Load() != 0 {
		t.Errorf("%d updates and %d patches, want one update", updates.Load(), patches.Load())
	}
	var rec Record
	if err := json.Unmarshal(out.Bytes(), &rec); err != nil {
		t.Fatalf("record %q: %v", out.String(), err)
	}
	if rec.Rollout != ro.Name || rec.Writes != 1 || rec.Error != "" || rec.Event.IsZero() ||
		rec.Sent.Before(rec.Event) || rec.Answered.Before(rec.Sent) {
		t.Errorf("record %+v", rec)
	}
}

func outString(h *Handler) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Out.(*bytes.Buffer).String()
}
