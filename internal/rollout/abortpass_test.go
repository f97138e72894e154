package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/nginx"
)

// routedCluster is a fake API server holding an NGINX-routed canary, with
// a cache in front of it that can be held behind the server for Ingresses,
// as an informer that has not delivered a write yet is.
type routedCluster struct {
	t *testing.T
	// api is the server; writes go to it through cache.
	api client.WithWatch
	// cache is what a reconciler reads from and writes through.
	cache client.Client
	// writes are the writes made through cache since the last take, as
	// "verb kind name".
	writes []string
	// frozen, when set, are the Ingresses the cache shows instead of the
	// server's.
	frozen map[types.NamespacedName]*networkingv1.Ingress
	now    time.Time
}

var shopKey = types.NamespacedName{Namespace: "web", Name: "shop"}

func newRoutedCluster(t *testing.T) *routedCluster {
	t.Helper()
	owner := func(o client.Object) []string {
		if ref := metav1.GetControllerOf(o); ref != nil {
			return []string{string(ref.UID)}
		}
		return []string{ownerNone}
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}}
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "shop", UID: "shop-uid", Generation: 1},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(int32(2)),
			Selector: sel,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "shop"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop:v1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				StableService: "shop-stable", CanaryService: "shop-canary",
				TrafficRouting: &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "shop"}},
				Steps:          []v1alpha1.CanaryStep{{SetWeight: ptr.To(int32(50))}, {Pause: &v1alpha1.RolloutPause{}}},
			}},
		},
	}
	svc := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: name},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "shop"}, Ports: []corev1.ServicePort{{Port: 80}}}}
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "shop"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.example", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "shop-stable", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}},
		}}}}}
	api := fake.NewClientBuilder().WithScheme(rolloutScheme(t)).
		WithStatusSubresource(&v1alpha1.Rollout{}, &appsv1.ReplicaSet{}).
		WithIndex(&appsv1.ReplicaSet{}, indexOwner, owner).
		WithIndex(&v1alpha1.AnalysisRun{}, indexRunOwner, owner).
		WithIndex(&v1alpha1.Experiment{}, indexExperimentOwner, owner).
		WithIndex(&corev1.Pod{}, indexPodHash, func(o client.Object) []string {
			return []string{o.GetLabels()[v1alpha1.DefaultRolloutUniqueLabelKey]}
		}).
		WithObjects(ro, svc("shop-stable"), svc("shop-canary"), ing).Build()
	c := &routedCluster{t: t, api: api, now: time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)}
	record := func(ctx context.Context, verb string, obj client.Object) {
		kind := strings.TrimPrefix(fmt.Sprintf("%T", obj), "*")
		kind = kind[strings.Index(kind, ".")+1:]
		c.writes = append(c.writes, fmt.Sprintf("%s %s %s", verb, kind, obj.GetName()))
	}
	c.cache = interceptor.NewClient(api, interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if ing, ok := obj.(*networkingv1.Ingress); ok && c.frozen != nil {
				if old, ok := c.frozen[key]; ok {
					old.DeepCopyInto(ing)
					return nil
				}
			}
			return cl.Get(ctx, key, obj, opts...)
		},
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			record(ctx, "create", obj)
			return cl.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			record(ctx, "update", obj)
			return cl.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			record(ctx, "patch", obj)
			return cl.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			record(ctx, "delete", obj)
			return cl.Delete(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			record(ctx, "patch "+sub, obj)
			return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	return c
}

// reconciler is a new controller process's reconciler on the cluster.
func (c *routedCluster) reconciler(noPriority bool) (*Reconciler, *record.FakeRecorder) {
	rec := record.NewFakeRecorder(100)
	return &Reconciler{
		Client: c.cache, APIReader: c.api, Recorder: rec, NoPriority: noPriority,
		Now:       func() time.Time { return c.now },
		continued: &settledKeys[reconcile.Request]{},
	}, rec
}

// pass runs one reconcile, then plays the ReplicaSet controller: every
// ReplicaSet has the Pods it asks for, all available. The clock stands
// still: the passes of one abort follow each other within milliseconds.
func (c *routedCluster) pass(r *Reconciler) ctrl.Result {
	c.t.Helper()
	ctx := context.Background()
	res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: shopKey})
	if err != nil {
		c.t.Fatalf("reconcile: %v", err)
	}
	var rss appsv1.ReplicaSetList
	if err := c.api.List(ctx, &rss, client.InNamespace("web")); err != nil {
		c.t.Fatal(err)
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		n := ptr.Deref(rs.Spec.Replicas, 0)
		if rs.Status.Replicas == n && rs.Status.AvailableReplicas == n {
			continue
		}
		rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, FullyLabeledReplicas: n, ObservedGeneration: rs.Generation}
		if err := c.api.Status().Update(ctx, rs); err != nil {
			c.t.Fatal(err)
		}
	}
	return res
}

func (c *routedCluster) rollout() *v1alpha1.Rollout {
	c.t.Helper()
	var ro v1alpha1.Rollout
	if err := c.api.Get(context.Background(), shopKey, &ro); err != nil {
		c.t.Fatal(err)
	}
	return &ro
}

func (c *routedCluster) canaryWeight() string {
	c.t.Helper()
	var ing networkingv1.Ingress
	key := types.NamespacedName{Namespace: "web", Name: nginx.CanaryIngressName("shop", "shop")}
	if err := c.api.Get(context.Background(), key, &ing); err != nil {
		return "none"
	}
	return ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"]
}

// takeWrites returns the writes since the last call.
func (c *routedCluster) takeWrites() []string {
	w := c.writes
	c.writes = nil
	return w
}

// pausedAt50 brings the Rollout to its pause at 50% of a second version
// and asks for the abort, as `kubectl argo rollouts abort` does.
func pausedAt50(t *testing.T) *routedCluster {
	t.Helper()
	c := newRoutedCluster(t)
	r, _ := c.reconciler(false)
	ctx := context.Background()
	for i := 0; c.rollout().Status.Phase != v1alpha1.RolloutPhaseHealthy; i++ {
		if i == 10 {
			t.Fatalf("not Healthy after 10 passes: %+v", c.rollout().Status)
		}
		c.pass(r)
		c.now = c.now.Add(countsDebounce + time.Second)
	}
	ro := c.rollout()
	ro.Spec.Template.Spec.Containers[0].Image = "shop:v2"
	ro.Generation = 2
	if err := c.api.Update(ctx, ro); err != nil {
		t.Fatal(err)
	}
	for i := 0; len(c.rollout().Status.PauseConditions) == 0 || c.canaryWeight() != "50"; i++ {
		if i == 10 {
			t.Fatalf("not paused at 50%% after 10 passes: weight %s, status %+v", c.canaryWeight(), c.rollout().Status)
		}
		c.pass(r)
		c.now = c.now.Add(countsDebounce + time.Second)
	}
	ro = c.rollout()
	if err := c.api.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(`{"status":{"abort":true}}`))); err != nil {
		t.Fatal(err)
	}
	c.takeWrites()
	return c
}

// abortOutcome is what an abort left: the writes in order, the Events and
// the status.
type abortOutcome struct {
	writes []string
	events []string
	status v1alpha1.RolloutStatus
}

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestAbortPassEndsAfterTheTrafficWrite: the abort's first pass writes the
// canary Ingress's weight 0 and nothing else, asks to continue urgently,
// and the next pass makes the rest of the abort exactly as one pass does
// with the priority lane off: the same writes in the same order after the
// Ingress, the same Events once, the same status. That holds whether the
// next pass runs in the same process while its cache still shows the
// Ingress before the write (no router write is repeated), or in a new
// process after a crash between the two.
func TestAbortPassEndsAfterTheTrafficWrite(t *testing.T) {
	// The reference: one pass with the lane off.
	c := pausedAt50(t)
	r, rec := c.reconciler(true)
	res := c.pass(r)
	want := abortOutcome{writes: c.takeWrites(), events: drain(rec), status: c.rollout().Status}
	t.Logf("one pass: writes %q, events %q", want.writes, want.events)
	if res.RequeueAfter == continueAfter {
		t.Fatal("with the priority lane off the abort was split")
	}
	if len(want.writes) < 3 || !strings.HasPrefix(want.writes[0], "update Ingress shop-shop-canary") && !strings.HasPrefix(want.writes[0], "patch Ingress shop-shop-canary") {
		t.Fatalf("one-pass abort wrote %q, want the canary Ingress first and more after it", want.writes)
	}
	if c.canaryWeight() != "0" || !want.status.Abort || want.status.Phase != v1alpha1.RolloutPhaseDegraded {
		t.Fatalf("one-pass abort left weight %s, phase %s", c.canaryWeight(), want.status.Phase)
	}
	if !slices.ContainsFunc(want.events, func(e string) bool { return strings.HasPrefix(e, "Warning "+decide.ReasonAborted+" ") }) {
		t.Fatalf("one-pass abort recorded %q, want %s", want.events, decide.ReasonAborted)
	}

	for _, tc := range []struct {
		name string
		// lagging holds the cache's Ingresses before the first pass's write.
		lagging bool
		// restart runs the second pass in a new process.
		restart bool
	}{
		{name: "cache up to date"},
		{name: "cache behind the Ingress write", lagging: true},
		{name: "crash between the passes", restart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pausedAt50(t)
			if tc.lagging {
				var ing networkingv1.Ingress
				key := types.NamespacedName{Namespace: "web", Name: nginx.CanaryIngressName("shop", "shop")}
				if err := c.api.Get(context.Background(), key, &ing); err != nil {
					t.Fatal(err)
				}
				c.frozen = map[types.NamespacedName]*networkingv1.Ingress{key: &ing}
			}
			before := c.rollout()
			r, rec := c.reconciler(false)
			res := c.pass(r)
			first := c.takeWrites()
			if len(first) != 1 || first[0] != want.writes[0] {
				t.Fatalf("first pass wrote %q, want only %q", first, want.writes[0])
			}
			if c.canaryWeight() != "0" {
				t.Fatalf("canary weight %s after the first pass, want 0", c.canaryWeight())
			}
			if res.RequeueAfter != continueAfter || !r.continued.take(reconcile.Request{NamespacedName: shopKey}) {
				t.Fatalf("first pass returned %+v without the urgent continuation", res)
			}
			if ev := drain(rec); len(ev) != 0 {
				t.Fatalf("first pass recorded %q, want the Events with the status", ev)
			}
			if after := c.rollout(); after.ResourceVersion != before.ResourceVersion {
				t.Fatal("first pass wrote the Rollout")
			}

			if tc.restart {
				r, rec = c.reconciler(false)
			}
			res = c.pass(r)
			got := abortOutcome{writes: append(first, c.takeWrites()...), events: drain(rec), status: c.rollout().Status}
			if res.RequeueAfter == continueAfter || r.continued.take(reconcile.Request{NamespacedName: shopKey}) {
				t.Fatal("the second pass asked to continue again")
			}
			if !slices.Equal(got.writes, want.writes) {
				t.Fatalf("two passes wrote\n%q\nwant, as one pass,\n%q", got.writes, want.writes)
			}
			if !slices.Equal(got.events, want.events) {
				t.Fatalf("two passes recorded %q, want %q", got.events, want.events)
			}
			if !equality.Semantic.DeepEqual(got.status, want.status) {
				t.Fatalf("status after two passes\n%+v\nwant\n%+v", got.status, want.status)
			}
		})
	}
}

// TestTrafficFirstOnlyWhenMoreFollows: once the abort is complete, a pass
// that only puts back a canary weight someone changed by hand has nothing
// else to do and ends as one pass, with no continuation queued; a pass
// whose routers already show the abort's weight goes on in the same pass.
func TestTrafficFirstOnlyWhenMoreFollows(t *testing.T) {
	c := pausedAt50(t)
	r, _ := c.reconciler(false)
	c.pass(r)
	// What the work queue does with the first pass's mark.
	r.continued.take(reconcile.Request{NamespacedName: shopKey})
	c.pass(r)
	if ro := c.rollout(); ro.Status.Phase != v1alpha1.RolloutPhaseDegraded || c.canaryWeight() != "0" {
		t.Fatalf("abort not complete: phase %s, weight %s", ro.Status.Phase, c.canaryWeight())
	}
	key := types.NamespacedName{Namespace: "web", Name: nginx.CanaryIngressName("shop", "shop")}
	for _, tc := range []struct {
		name   string
		tamper bool
		writes []string
	}{
		{name: "weight changed by hand", tamper: true, writes: []string{"update Ingress " + key.Name}},
		{name: "nothing changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tamper {
				var ing networkingv1.Ingress
				if err := c.api.Get(context.Background(), key, &ing); err != nil {
					t.Fatal(err)
				}
				ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"] = "30"
				if err := c.api.Update(context.Background(), &ing); err != nil {
					t.Fatal(err)
				}
			}
			c.takeWrites()
			res := c.pass(r)
			if got := c.takeWrites(); !slices.Equal(got, tc.writes) {
				t.Fatalf("wrote %q, want %q", got, tc.writes)
			}
			if res.RequeueAfter == continueAfter || r.continued.take(reconcile.Request{NamespacedName: shopKey}) {
				t.Fatal("a pass with nothing after its traffic write asked to continue")
			}
			if c.canaryWeight() != "0" {
				t.Fatalf("weight %s, want 0", c.canaryWeight())
			}
		})
	}
}
