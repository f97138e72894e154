package shard

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func ownedBy(kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "uid", Controller: &yes}}
}

func int32p(n int32) *int32 { return &n }

// TestReplicaCountFollowsTheOwnerChain checks that --shards auto counts the
// replicas of the StatefulSet or Deployment running the controller's Pod.
func TestReplicaCountFollowsTheOwnerChain(t *testing.T) {
	objs := []runtime.Object{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria", Name: "ctl-0", OwnerReferences: ownedBy("StatefulSet", "ctl")}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria", Name: "ctl"}, Spec: appsv1.StatefulSetSpec{Replicas: int32p(4)}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria", Name: "dep-abc-x", OwnerReferences: ownedBy("ReplicaSet", "dep-abc")}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria", Name: "dep-abc", OwnerReferences: ownedBy("Deployment", "dep")},
			Spec: appsv1.ReplicaSetSpec{Replicas: int32p(2)}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria", Name: "dep"}, Spec: appsv1.DeploymentSpec{Replicas: int32p(3)}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria", Name: "rs-x", OwnerReferences: ownedBy("ReplicaSet", "bare")}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria", Name: "bare"}, Spec: appsv1.ReplicaSetSpec{Replicas: int32p(5)}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria", Name: "lonely"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria", Name: "job-x", OwnerReferences: ownedBy("Job", "j")}},
	}
	kube := fake.NewSimpleClientset(objs...)
	for pod, want := range map[string]int{"ctl-0": 4, "dep-abc-x": 3, "rs-x": 5} {
		got, err := ReplicaCount(context.Background(), kube, "kanaria", pod)
		if err != nil || got != want {
			t.Errorf("pod %s: %d, %v; want %d", pod, got, err, want)
		}
	}
	for pod, want := range map[string]string{"lonely": "no controller", "job-x": "not a StatefulSet or Deployment", "gone": "reading the controller's own Pod"} {
		if _, err := ReplicaCount(context.Background(), kube, "kanaria", pod); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("pod %s: err %v, want %q", pod, err, want)
		}
	}
}

func TestAutoCount(t *testing.T) {
	for r, want := range map[int]int{0: 1, 1: 1, 4: 4, 64: 64, 100: 64} {
		if got := AutoCount(r); got != want {
			t.Errorf("AutoCount(%d) = %d, want %d", r, got, want)
		}
	}
}
