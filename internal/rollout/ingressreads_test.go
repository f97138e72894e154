package rollout

import (
	"context"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/nginx"
)

// ingressReads counts the Ingress reads a reconciler sends to the API
// server.
type ingressReads struct{ gets, lists int }

// countIngressReads makes r read from the API server through a counter.
func countIngressReads(c *routedCluster, r *Reconciler) *ingressReads {
	n := &ingressReads{}
	r.APIReader = interceptor.NewClient(c.api, interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*networkingv1.Ingress); ok {
				n.gets++
			}
			return cl.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*networkingv1.IngressList); ok {
				n.lists++
			}
			return cl.List(ctx, list, opts...)
		},
	})
	return n
}

// ingressesNow are the Ingresses the server holds.
func ingressesNow(t *testing.T, c *routedCluster) map[types.NamespacedName]*networkingv1.Ingress {
	t.Helper()
	var list networkingv1.IngressList
	if err := c.api.List(context.Background(), &list, client.InNamespace("web")); err != nil {
		t.Fatal(err)
	}
	out := map[types.NamespacedName]*networkingv1.Ingress{}
	for i := range list.Items {
		out[client.ObjectKeyFromObject(&list.Items[i])] = &list.Items[i]
	}
	return out
}

// freezeIngresses makes r's cache show the Ingresses frozen and no write
// of them: an informer that delivers nothing more.
func freezeIngresses(c *routedCluster, r *Reconciler, frozen map[types.NamespacedName]*networkingv1.Ingress) {
	r.Client = interceptor.NewClient(c.cache.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			ing, ok := obj.(*networkingv1.Ingress)
			if !ok {
				return cl.Get(ctx, key, obj, opts...)
			}
			old, ok := frozen[key]
			if !ok {
				return apierrors.NewNotFound(networkingv1.Resource("ingresses"), key.Name)
			}
			old.DeepCopyInto(ing)
			return nil
		},
	})
}

// TestARoutedReleaseReadsNoIngressFromTheAPIServer: a release to 50% and
// its abort, with a cache that never shows the canary Ingress the release
// creates nor any of its weight writes, read neither Ingress from the API
// server and list no Ingresses: each reconcile is served what the
// previous one's writes returned, and the routing the Rollout was created
// with left nothing to search for. A restarted controller, which has no
// copies, trusts the cache, finds its create refused, and reads the API
// server once.
func TestARoutedReleaseReadsNoIngressFromTheAPIServer(t *testing.T) {
	ctx := context.Background()
	c := newRoutedCluster(t)
	r, _ := c.reconciler(false)
	c.untilHealthy(r, countsDebounce+time.Second)
	before := ingressesNow(t, c)
	if len(before) != 1 {
		t.Fatalf("%d Ingresses before the release, want the stable one", len(before))
	}
	freezeIngresses(c, r, before)
	reads := countIngressReads(c, r)

	c.release("shop:v2")
	for i := 0; len(c.rollout().Status.PauseConditions) == 0 || c.canaryWeight() != "50"; i++ {
		if i == 10 {
			t.Fatalf("not paused at 50%% after 10 passes: weight %s, status %+v", c.canaryWeight(), c.rollout().Status)
		}
		c.pass(r)
		c.now = c.now.Add(countsDebounce + time.Second)
	}
	if err := c.api.Status().Patch(ctx, c.rollout(), client.RawPatch(types.MergePatchType, []byte(`{"status":{"abort":true}}`))); err != nil {
		t.Fatal(err)
	}
	for i := 0; c.rollout().Status.Phase != v1alpha1.RolloutPhaseDegraded || c.canaryWeight() != "0"; i++ {
		if i == 10 {
			t.Fatalf("abort not complete after 10 passes: weight %s, phase %s", c.canaryWeight(), c.rollout().Status.Phase)
		}
		c.pass(r)
	}
	if reads.gets != 0 || reads.lists != 0 {
		t.Fatalf("the release and its abort read Ingresses from the API server %d times and listed them %d times", reads.gets, reads.lists)
	}

	// A new process, the cache still without the canary Ingress: the
	// weight a person sets by hand is put back after one API read.
	key := types.NamespacedName{Namespace: "web", Name: nginx.CanaryIngressName("shop", "shop")}
	var ing networkingv1.Ingress
	if err := c.api.Get(ctx, key, &ing); err != nil {
		t.Fatal(err)
	}
	ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"] = "30"
	if err := c.api.Update(ctx, &ing); err != nil {
		t.Fatal(err)
	}
	restarted, _ := c.reconciler(false)
	freezeIngresses(c, restarted, before)
	reads = countIngressReads(c, restarted)
	c.pass(restarted)
	if c.canaryWeight() != "0" || reads.gets != 1 {
		t.Fatalf("after a restart: weight %s after %d API reads, want 0 after 1", c.canaryWeight(), reads.gets)
	}
}
