package rollout

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

// requests counts a client's requests by verb.
type requests struct{ get, create int }

func counted(c client.WithWatch, n *requests) client.WithWatch {
	return interceptor.NewClient(c, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			n.get++
			return c.Get(ctx, key, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			n.create++
			return c.Create(ctx, obj, opts...)
		},
	})
}

// TestTakenNameTheCacheCannotShow follows a Rollout whose next ReplicaSet
// name another object's ReplicaSet holds, on a replica whose cache does not
// hold that ReplicaSet (a sharded cache never does). The first pass cannot
// see it and creates; the refused create costs one read of the API server
// and records the holder; the next observation hands it to the decision
// without any read; once the collision count moves the name on, the record
// is dropped and the new name is looked up in the cache as usual.
func TestTakenNameTheCacheCannotShow(t *testing.T) {
	ctx := context.Background()
	scheme := rolloutScheme(t)
	labels := map[string]string{"app": "web"}
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "rollout-uid"},
		Spec: v1alpha1.RolloutSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:2"}}},
		}},
	}
	name := "web-" + podhash.Template(&ro.Spec.Template, nil)
	isController := true
	foreign := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: "foreign-uid",
		Labels:          map[string]string{"app": "web", v1alpha1.DefaultRolloutUniqueLabelKey: "x"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "holder", UID: "cm-uid", Controller: &isController}},
	}}
	var cacheReads, apiReqs requests
	cache := counted(fake.NewClientBuilder().WithScheme(scheme).Build(), &cacheReads)
	api := counted(fake.NewClientBuilder().WithScheme(scheme).WithObjects(foreign).Build(), &apiReqs)
	taken := &takenNames{}
	key := client.ObjectKeyFromObject(ro)

	var first decide.Snapshot
	if err := observeNameTaken(ctx, cache, taken, ro, &ro.Spec.Template, &first); err != nil {
		t.Fatal(err)
	}
	if first.NameTaken != nil {
		t.Fatalf("the cache without the holder showed %s", first.NameTaken.Name)
	}
	if cacheReads.get != 1 || apiReqs != (requests{}) {
		t.Fatalf("first observation: %d cache reads and API requests %+v, want 1 and none", cacheReads.get, apiReqs)
	}

	e := &executor{c: api, api: api, ro: ro, log: logr.Discard(), taken: taken}
	create := decide.CreateReplicaSet{ReplicaSet: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}}}
	if err := e.apply(ctx, []decide.Action{create}); !isNameTaken(err) {
		t.Fatalf("create into the taken name: %v, want a taken name", err)
	}
	if apiReqs != (requests{get: 1, create: 1}) {
		t.Fatalf("the refused create cost API requests %+v, want one create and one get", apiReqs)
	}

	for pass := 0; pass < 3; pass++ {
		var next decide.Snapshot
		if err := observeNameTaken(ctx, cache, taken, ro, &ro.Spec.Template, &next); err != nil {
			t.Fatal(err)
		}
		if next.NameTaken == nil || next.NameTaken.UID != foreign.UID {
			t.Fatalf("pass %d: the decision is shown %v, want the holder %s", pass, next.NameTaken, foreign.UID)
		}
	}
	if cacheReads.get != 1 || apiReqs != (requests{get: 1, create: 1}) {
		t.Fatalf("observing a recorded holder read: %d cache reads in all, API requests %+v", cacheReads.get, apiReqs)
	}

	moved := ro.DeepCopy()
	one := int32(1)
	moved.Status.CollisionCount = &one
	var after decide.Snapshot
	if err := observeNameTaken(ctx, cache, taken, moved, &moved.Spec.Template, &after); err != nil {
		t.Fatal(err)
	}
	if after.NameTaken != nil {
		t.Fatalf("the next name is shown taken by %s", after.NameTaken.Name)
	}
	if taken.holder(key, name) != nil {
		t.Fatal("the record of the old name outlived the move to a new one")
	}
	if cacheReads.get != 2 || apiReqs != (requests{get: 1, create: 1}) {
		t.Fatalf("observing the next name: %d cache reads in all, API requests %+v, want 2 and no new one", cacheReads.get, apiReqs)
	}
}
