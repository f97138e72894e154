package bench

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestReplicaSetFakerWritesTheDesiredReplicasAsAvailable(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	three, zero := int32(3), int32(0)
	grow := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "grow", Generation: 2}, Spec: appsv1.ReplicaSetSpec{Replicas: &three}}
	shrink := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "shrink", Generation: 4}, Spec: appsv1.ReplicaSetSpec{Replicas: &zero},
		Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, FullyLabeledReplicas: 2, ObservedGeneration: 3}}
	settled := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "settled", Generation: 1}, Spec: appsv1.ReplicaSetSpec{Replicas: &three},
		Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, FullyLabeledReplicas: 3, ObservedGeneration: 1}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(grow, shrink, settled).WithStatusSubresource(&appsv1.ReplicaSet{}).Build()

	f := &ReplicaSetFaker{Client: c, Delay: 20 * time.Millisecond, Workers: 2}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	for _, rs := range []*appsv1.ReplicaSet{grow, shrink, settled} {
		f.Observe(rs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.Written() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for name, want := range map[string]struct {
		n   int32
		gen int64
	}{"grow": {3, 2}, "shrink": {0, 4}, "settled": {3, 1}} {
		var rs appsv1.ReplicaSet
		if err := c.Get(ctx, client.ObjectKey{Namespace: "bench", Name: name}, &rs); err != nil {
			t.Fatal(err)
		}
		s := rs.Status
		if s.Replicas != want.n || s.ReadyReplicas != want.n || s.AvailableReplicas != want.n || s.FullyLabeledReplicas != want.n || s.ObservedGeneration != want.gen {
			t.Errorf("%s: status %+v, want %d replicas available at generation %d", name, s, want.n, want.gen)
		}
	}
	if got := f.Written(); got != 2 {
		t.Errorf("wrote %d statuses, want 2 (a settled ReplicaSet is left alone)", got)
	}
}
