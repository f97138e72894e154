package experiment

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestRSWritesTellAStaleCache(t *testing.T) {
	rs := func(rv string) map[string]*appsv1.ReplicaSet {
		return map[string]*appsv1.ReplicaSet{"canary": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "exp-canary", ResourceVersion: rv}}}
	}
	var w rsWrites
	if w.stale(rs("5")) {
		t.Fatal("stale before any write")
	}
	w.wrote(types.NamespacedName{Namespace: "ns", Name: "exp-canary"}, "5")
	if !w.stale(rs("5")) {
		t.Error("the copy our patch replaced is not stale")
	}
	if w.stale(rs("6")) {
		t.Error("the patched copy is stale")
	}
	if len(w.replaced) != 0 {
		t.Errorf("entries kept after the cache caught up: %v", w.replaced)
	}
	if w.stale(rs("5")) {
		t.Error("an old version is stale again after the entry was dropped")
	}
}
