package rollout

import (
	"context"
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

	for _, c := range []struct {
		ro        *v1alpha1.Rollout
		wantLists bool
	}{
		{ro: leftoverRollout(3, "3")},
		{ro: leftoverRollout(1, "")},
		{ro: leftoverRollout(4, "3"), wantLists: true},
	} {
		lists = 0
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
