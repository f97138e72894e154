package rollout

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// TestRestartEvictsAndRespectsDisruptionBudgets: a restart's Pods go
// through the Eviction API; one a PodDisruptionBudget protects (429) stays
// without failing the plan, and the writes after it are still made.
func TestRestartEvictsAndRespectsDisruptionBudgets(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID("uid-" + name)}}
	}
	var evicted []string
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pod("protected"), pod("free")).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourceCreate: func(ctx context.Context, c client.Client, sub string, obj, subObj client.Object, opts ...client.SubResourceCreateOption) error {
				if sub != "eviction" {
					t.Errorf("subresource %q, want eviction", sub)
				}
				evicted = append(evicted, obj.GetName())
				if obj.GetName() == "protected" {
					return apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
				}
				return c.SubResource(sub).Create(ctx, obj, subObj, opts...)
			},
		}).Build()
	e := &executor{c: c, ro: &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}, log: logr.Discard()}
	err := e.apply(context.Background(), []decide.Action{
		decide.EvictPod{Name: "protected", UID: "uid-protected"},
		decide.EvictPod{Name: "free", UID: "uid-free"},
		decide.EvictPod{Name: "gone", UID: "uid-gone"},
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(evicted) != 3 {
		t.Fatalf("evictions asked for %v, want all three Pods", evicted)
	}
	var p corev1.Pod
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "protected"}, &p); err != nil {
		t.Errorf("the Pod the budget protects: %v, want it kept", err)
	}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "free"}, &p); !apierrors.IsNotFound(err) {
		t.Errorf("the evicted Pod: %v, want it gone", err)
	}
}
