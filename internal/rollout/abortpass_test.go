package rollout

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/nginx"
)

// routedCluster is a fakeCluster holding an NGINX-routed canary, whose
// cache a test can hold behind the server for Ingresses.
type routedCluster struct {
	*fakeCluster
}

var shopKey = types.NamespacedName{Namespace: "web", Name: "shop"}

func newRoutedCluster(t *testing.T) *routedCluster {
	t.Helper()
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
	return &routedCluster{newFakeCluster(t, ro, time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC), svc("shop-stable"), svc("shop-canary"), ing)}
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

func (c *routedCluster) canaryWeight() string {
	c.t.Helper()
	var ing networkingv1.Ingress
	key := types.NamespacedName{Namespace: "web", Name: nginx.CanaryIngressName("shop", "shop")}
	if err := c.api.Get(context.Background(), key, &ing); err != nil {
		return "none"
	}
	return ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"]
}

// pausedAt50 brings the Rollout to its pause at 50% of a second version
// and asks for the abort, as `kubectl argo rollouts abort` does.
func pausedAt50(t *testing.T) *routedCluster {
	t.Helper()
	c := newRoutedCluster(t)
	r, _ := c.reconciler(false)
	ctx := context.Background()
	c.untilHealthy(r, countsDebounce+time.Second)
	c.release("shop:v2")
	for i := 0; len(c.rollout().Status.PauseConditions) == 0 || c.canaryWeight() != "50"; i++ {
		if i == 10 {
			t.Fatalf("not paused at 50%% after 10 passes: weight %s, status %+v", c.canaryWeight(), c.rollout().Status)
		}
		c.pass(r)
		c.now = c.now.Add(countsDebounce + time.Second)
	}
	ro := c.rollout()
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
				c.frozenIngresses = map[types.NamespacedName]*networkingv1.Ingress{key: &ing}
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
