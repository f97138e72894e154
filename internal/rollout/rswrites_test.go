package rollout

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestRSWritesStaleUntilTheCacheCatchesUp(t *testing.T) {
	var w rsWrites
	key := types.NamespacedName{Namespace: "ns", Name: "ro"}
	rs := func(name, rv string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv}}
	}
	if w.stale(key, []*appsv1.ReplicaSet{rs("a", "1")}) {
		t.Fatal("stale before any write")
	}
	w.wrote(key, "a", "1")
	if !w.stale(key, []*appsv1.ReplicaSet{rs("a", "1"), rs("b", "7")}) {
		t.Fatal("a cached copy at the replaced version is not stale")
	}
	if w.stale(types.NamespacedName{Namespace: "ns", Name: "other"}, []*appsv1.ReplicaSet{rs("a", "1")}) {
		t.Fatal("another Rollout's ReplicaSets are stale")
	}
	if w.stale(key, []*appsv1.ReplicaSet{rs("a", "2"), rs("b", "7")}) {
		t.Fatal("a cached copy past the write is stale")
	}
	if len(w.replaced) != 0 {
		t.Fatal("the entry outlives the cache catching up")
	}
	w.wrote(key, "a", "2")
	w.forget(key)
	if w.stale(key, []*appsv1.ReplicaSet{rs("a", "2")}) {
		t.Fatal("stale after forget")
	}
}
