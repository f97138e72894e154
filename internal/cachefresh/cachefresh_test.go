package cachefresh

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestTracker(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	if tr.Stale(k, "1") {
		t.Fatal("stale before any write")
	}
	tr.Wrote(k, "5")
	if !tr.Stale(k, "5") {
		t.Fatal("the replaced version is not reported stale")
	}
	if tr.Stale(k, "6") {
		t.Fatal("the written version is reported stale")
	}
	if tr.Stale(types.NamespacedName{Namespace: "ns", Name: "b"}, "5") {
		t.Fatal("another object is reported stale")
	}
	tr.Forget(k)
	if tr.Stale(k, "5") {
		t.Fatal("stale after Forget")
	}
}
