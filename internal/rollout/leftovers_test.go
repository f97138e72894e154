package rollout

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/go-logr/logr"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routertest"
)

func leftoverRollout(generation int64, observed string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "web", Generation: generation}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{}
	ro.Status.ObservedGeneration = observed
	return ro
}

// TestObserveRouterLeftoversOnlyAfterASpecChange: the namespace is listed
// only when the status lags the spec, never for a Rollout not reconciled
// before, and a role that may not list is no failure.
func TestObserveRouterLeftoversOnlyAfterASpecChange(t *testing.T) {
	lists := 0
	forbid := false
	funcs := &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		lists++
		if forbid {
			return apierrors.NewForbidden(schema.GroupResource{Group: "networking.istio.io", Resource: "destinationrules"}, "", nil)
		}
		return c.List(ctx, list, opts...)
	}}
	cl := routertest.Cluster{Funcs: funcs, Scheme: rolloutScheme(t)}.Client()
	r := &Reconciler{Client: cl, APIReader: cl}

	// A new process for each: what one knows of a Rollout is the next test.
	for _, c := range []struct {
		ro        *v1alpha1.Rollout
		wantLists bool
	}{
		{ro: leftoverRollout(3, "3")},
		{ro: leftoverRollout(1, "")},
		{ro: leftoverRollout(4, "3"), wantLists: true},
	} {
		lists = 0
		r := &Reconciler{Client: cl, APIReader: cl}
		var snap decide.Snapshot
		if err := r.observeRouterLeftovers(context.Background(), c.ro, &snap); err != nil {
			t.Fatal(err)
		}
		if (lists > 0) != c.wantLists {
			t.Fatalf("generation %d, observed %q: %d lists, want lists %v", c.ro.Generation, c.ro.Status.ObservedGeneration, lists, c.wantLists)
		}
	}

	forbid = true
	var snap decide.Snapshot
	if err := r.observeRouterLeftovers(context.Background(), leftoverRollout(4, "3"), &snap); err != nil {
		t.Fatalf("a forbidden list failed the reconcile: %v", err)
	}
	if err := r.cleanUpAfterDeletion(context.Background(), types.NamespacedName{Namespace: "web", Name: "shop"}, logr.Discard()); err != nil {
		t.Fatalf("a forbidden list failed the clean-up after deletion: %v", err)
	}
}

// TestCleanUpAfterDeletionResetsALBAction: a deleted Rollout's ALB action is
// given back to its Service.
func TestCleanUpAfterDeletionResetsALBAction(t *testing.T) {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "web", Annotations: map[string]string{
		"alb.ingress.kubernetes.io/actions.shop-stable": `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"shop-canary","ServicePort":"80","Weight":0},{"ServiceName":"shop-stable","ServicePort":"80","Weight":100}]}}`,
		"rollouts.argoproj.io/managed-alb-annotations":  `{"shop":["alb.ingress.kubernetes.io/actions.shop-stable"]}`,
	}}}
	// A Rollout missing from the cache but alive on the server (another
	// shard's, or not labelled yet) keeps its router state.
	live := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "web"}}
	cl := routertest.Cluster{Scheme: rolloutScheme(t)}.Client(ing, live)
	r := &Reconciler{Client: cl, APIReader: cl}
	if err := r.cleanUpAfterDeletion(context.Background(), types.NamespacedName{Namespace: "web", Name: "shop"}, logr.Discard()); err != nil {
		t.Fatal(err)
	}
	var kept networkingv1.Ingress
	if err := cl.Get(context.Background(), client.ObjectKeyFromObject(ing), &kept); err != nil {
		t.Fatal(err)
	}
	if kept.Annotations["alb.ingress.kubernetes.io/actions.shop-stable"] != ing.Annotations["alb.ingress.kubernetes.io/actions.shop-stable"] {
		t.Fatal("the ALB action of a Rollout that still exists was reset")
	}
	if err := cl.Delete(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	if err := r.cleanUpAfterDeletion(context.Background(), types.NamespacedName{Namespace: "web", Name: "shop"}, logr.Discard()); err != nil {
		t.Fatal(err)
	}
	var got networkingv1.Ingress
	if err := cl.Get(context.Background(), client.ObjectKeyFromObject(ing), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"shop-stable","ServicePort":"80","Weight":100}]}}`
	if a := got.Annotations["alb.ingress.kubernetes.io/actions.shop-stable"]; a != want {
		t.Fatalf("action = %s, want %s", a, want)
	}
	if _, ok := got.Annotations["rollouts.argoproj.io/managed-alb-annotations"]; ok {
		t.Fatal("the managed-annotations record was kept")
	}
}

// TestObserveRouterLeftoversSkipsRolloutsThatNeverRouted: a canary without
// trafficRouting that this process saw from its creation is not searched
// at its releases; one it has not seen that way (after a restart, or one
// that Argo Rollouts routed before the migration) is searched, its leftover
// found and cleaned, and only then spared; a Rollout that gets a router is
// searched again once the router is removed, and so is a Rollout
// re-created under the same name.
func TestObserveRouterLeftoversSkipsRolloutsThatNeverRouted(t *testing.T) {
	lists := 0
	funcs := &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		lists++
		return c.List(ctx, list, opts...)
	}}
	ro := func(uid types.UID, generation int64, observed string, routed bool) *v1alpha1.Rollout {
		r := leftoverRollout(generation, observed)
		r.UID = uid
		if routed {
			r.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{
				Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "web"},
			}
		}
		return r
	}
	trueVal := true
	left := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop-web-canary", Namespace: "web",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "shop", UID: "old", Controller: &trueVal}}}}
	cl := routertest.Cluster{Funcs: funcs}.Client(left)
	observe := func(r *Reconciler, ro *v1alpha1.Rollout) (int, []string) {
		t.Helper()
		lists = 0
		var snap decide.Snapshot
		if err := r.observeRouterLeftovers(context.Background(), ro, &snap); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range snap.RouterLeftovers {
			names = append(names, l.Before.GetName())
		}
		return lists, names
	}

	// Seen from creation, never routed: its releases list nothing.
	r := &Reconciler{Client: cl, APIReader: cl}
	if n, _ := observe(r, ro("new", 1, "", false)); n != 0 {
		t.Fatalf("creation listed %d times", n)
	}
	for gen := int64(2); gen <= 4; gen++ {
		if n, _ := observe(r, ro("new", gen, strconv.FormatInt(gen-1, 10), false)); n != 0 {
			t.Fatalf("release to generation %d of a Rollout that never routed listed %d times", gen, n)
		}
	}

	// A new process knows nothing of "old", which Argo Rollouts routed
	// through NGINX before the migration: its next change is searched and
	// the canary Ingress found, until the clean-up removed it.
	r = &Reconciler{Client: cl, APIReader: cl}
	for range 2 {
		n, found := observe(r, ro("old", 5, "4", false))
		if n == 0 || len(found) != 1 || found[0] != left.Name {
			t.Fatalf("migrated Rollout: %d lists, found %v; want the canary Ingress", n, found)
		}
	}
	if err := cl.Delete(context.Background(), left); err != nil {
		t.Fatal(err)
	}
	if n, found := observe(r, ro("old", 5, "4", false)); n == 0 || len(found) != 0 {
		t.Fatalf("after the clean-up: %d lists, found %v", n, found)
	}
	if n, _ := observe(r, ro("old", 6, "5", false)); n != 0 {
		t.Fatalf("a release after a clean search listed %d times", n)
	}

	// Given a router, then without it again: searched.
	if n, _ := observe(r, ro("old", 7, "6", true)); n == 0 {
		t.Fatal("a change of a routed Rollout was not searched")
	}
	if n, _ := observe(r, ro("old", 7, "7", true)); n != 0 {
		t.Fatalf("a reconcile without a change listed %d times", n)
	}
	if n, _ := observe(r, ro("old", 8, "7", false)); n == 0 {
		t.Fatal("removing the router was not searched")
	}

	// Re-created under the same name: a new UID is unknown.
	if n, _ := observe(r, ro("other", 2, "1", false)); n == 0 {
		t.Fatal("a Rollout re-created under the same name was spared the search")
	}

	// Without an observed generation but with a status some controller
	// wrote (as a migration test may hand it over): not proof of anything.
	r = &Reconciler{Client: cl, APIReader: cl}
	handed := ro("handed", 1, "", false)
	handed.Status.StableRS = "abc"
	if n, _ := observe(r, handed); n != 0 {
		t.Fatalf("a Rollout without an observed generation listed %d times", n)
	}
	if n, _ := observe(r, ro("handed", 2, "1", false)); n == 0 {
		t.Fatal("a handed-over Rollout's first change was not searched")
	}
}

// rolloutScheme knows the built-in types and Rollouts.
func rolloutScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestObserveRouterLeftoversSparesRoutedReleases: a routed Rollout seen
// from its creation, or searched clean, is not searched at releases that
// keep its trafficRouting; changing the routing is searched, finds what
// the old routing left, and is spared again only once a search is clean.
// A new process searches a release it has not seen the routing of.
func TestObserveRouterLeftoversSparesRoutedReleases(t *testing.T) {
	lists := 0
	funcs := &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		lists++
		return c.List(ctx, list, opts...)
	}}
	ro := func(generation int64, observed, stableIngress string) *v1alpha1.Rollout {
		r := leftoverRollout(generation, observed)
		r.UID = "shop-uid"
		r.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{
			Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: stableIngress},
		}
		return r
	}
	trueVal := true
	canary := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop-web-canary", Namespace: "web",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "shop", UID: "shop-uid", Controller: &trueVal}}}}
	cl := routertest.Cluster{Funcs: funcs}.Client(canary)
	observe := func(r *Reconciler, ro *v1alpha1.Rollout) (int, int) {
		t.Helper()
		lists = 0
		var snap decide.Snapshot
		if err := r.observeRouterLeftovers(context.Background(), ro, &snap); err != nil {
			t.Fatal(err)
		}
		return lists, len(snap.RouterLeftovers)
	}

	r := &Reconciler{Client: cl, APIReader: cl}
	if n, _ := observe(r, ro(1, "", "web")); n != 0 {
		t.Fatalf("creation listed %d times", n)
	}
	for gen := int64(2); gen <= 4; gen++ {
		if n, _ := observe(r, ro(gen, strconv.FormatInt(gen-1, 10), "web")); n != 0 {
			t.Fatalf("release to generation %d under the routing it was created with listed %d times", gen, n)
		}
	}

	// Routed through another Ingress now: the old canary Ingress is found,
	// and found again until it is gone.
	for range 2 {
		if n, found := observe(r, ro(5, "4", "web2")); n == 0 || found != 1 {
			t.Fatalf("a changed routing: %d lists, %d leftovers; want the old canary Ingress", n, found)
		}
	}
	if err := cl.Delete(context.Background(), canary); err != nil {
		t.Fatal(err)
	}
	if n, found := observe(r, ro(5, "4", "web2")); n == 0 || found != 0 {
		t.Fatalf("after the clean-up: %d lists, %d leftovers", n, found)
	}
	if n, _ := observe(r, ro(6, "5", "web2")); n != 0 {
		t.Fatalf("a release after a clean search listed %d times", n)
	}
	// Back to the first routing: what the second wrote may be left.
	if n, _ := observe(r, ro(7, "6", "web")); n == 0 {
		t.Fatal("a routing changed back was not searched")
	}

	r = &Reconciler{Client: cl, APIReader: cl}
	if n, _ := observe(r, ro(8, "7", "web")); n == 0 {
		t.Fatal("a new process spared a release it had not seen the routing of")
	}
}

// TestCleanUpAfterDeletionSearchesTheCacheFirst: once the Ingress informer
// runs, a deleted Rollout's search lists Ingresses from the cache, and only
// what it finds there (or an Ingress the cache may lag our write of) sends
// it to the API server, whose copy the clean-up writes from.
func TestCleanUpAfterDeletionSearchesTheCacheFirst(t *testing.T) {
	action := `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"shop-canary","ServicePort":"80","Weight":0},{"ServiceName":"shop-stable","ServicePort":"80","Weight":100}]}}`
	reset := `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"shop-stable","ServicePort":"80","Weight":100}]}}`
	albIngress := func() *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "web", Annotations: map[string]string{
			"alb.ingress.kubernetes.io/actions.shop-stable": action,
			"rollouts.argoproj.io/managed-alb-annotations":  `{"shop":["alb.ingress.kubernetes.io/actions.shop-stable"]}`,
		}}}
	}
	plain := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "web"}}
	key := types.NamespacedName{Namespace: "web", Name: "shop"}

	for _, tc := range []struct {
		name string
		// running: the Ingress informer has been started.
		running bool
		// alb: the deleted Rollout left an ALB action.
		alb bool
		// cacheBehind: the cache lacks the ALB action, which our own
		// write (a copy still pending) put there.
		cacheBehind bool
		apiLists    int
		cacheLists  int
	}{
		{name: "no informer, nothing left", apiLists: 1},
		{name: "informer, nothing left", running: true, cacheLists: 1},
		{name: "informer, an ALB action left", running: true, alb: true, cacheLists: 1, apiLists: 1},
		{name: "informer behind our write", running: true, alb: true, cacheBehind: true, apiLists: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []client.Object{plain.DeepCopy()}
			if tc.alb {
				objs = append(objs, albIngress())
			}
			store := routertest.Cluster{Scheme: rolloutScheme(t)}.Client(objs...)
			var apiLists, cacheLists int
			counting := func(n *int, hide bool) client.WithWatch {
				return interceptor.NewClient(store, interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
					ings, ok := list.(*networkingv1.IngressList)
					if !ok {
						return c.List(ctx, list, opts...)
					}
					*n++
					if err := c.List(ctx, list, opts...); err != nil {
						return err
					}
					if hide {
						ings.Items = slices.DeleteFunc(ings.Items, func(i networkingv1.Ingress) bool { return i.Name == "web" })
					}
					return nil
				}})
			}
			r := &Reconciler{Client: counting(&cacheLists, tc.cacheBehind), APIReader: counting(&apiLists, false)}
			if tc.running {
				r.ingressEvents = &ingressEvents{started: true}
			}
			if tc.cacheBehind {
				r.ingressCopies.Wrote(key, types.NamespacedName{Namespace: "web", Name: "web"}, "1", albIngress())
			}
			// The deleted Rollout's reconcile, as its delete event brings it.
			if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key}); err != nil {
				t.Fatal(err)
			}
			if r.ingressCopies.Len() != 0 {
				t.Fatal("the deleted Rollout's copies outlived its clean-up")
			}
			if apiLists != tc.apiLists || cacheLists != tc.cacheLists {
				t.Fatalf("Ingresses listed %d times from the API server and %d from the cache, want %d and %d", apiLists, cacheLists, tc.apiLists, tc.cacheLists)
			}
			if !tc.alb {
				return
			}
			var got networkingv1.Ingress
			if err := store.Get(context.Background(), types.NamespacedName{Namespace: "web", Name: "web"}, &got); err != nil {
				t.Fatal(err)
			}
			if a := got.Annotations["alb.ingress.kubernetes.io/actions.shop-stable"]; a != reset {
				t.Fatalf("action = %s, want %s", a, reset)
			}
		})
	}
}
