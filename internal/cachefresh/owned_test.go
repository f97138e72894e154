package cachefresh

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func rs(name, rv string, gen int64) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv, Generation: gen}}
}

func behind(o *Owned, owner types.NamespacedName, cached ...*appsv1.ReplicaSet) []string {
	var names []string
	for name := range Behind(o.Look(owner), slices.Values(cached)) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// TestOwnedReplacedVersionStaleUntilTheCacheCatchesUp: a cached copy still
// at the version a patch replaced predates it, until the cache moves on;
// then the mark is gone.
func TestOwnedReplacedVersionStaleUntilTheCacheCatchesUp(t *testing.T) {
	var o Owned
	key := types.NamespacedName{Namespace: "ns", Name: "ro"}
	if got := behind(&o, key, rs("a", "1", 1)); len(got) != 0 {
		t.Fatalf("behind before any write: %v", got)
	}
	o.Wrote(key, "a", Replaced("1"))
	if got := behind(&o, key, rs("a", "1", 1), rs("b", "7", 1)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("a cached copy at the replaced version: behind %v, want [a]", got)
	}
	if got := behind(&o, types.NamespacedName{Namespace: "ns", Name: "other"}, rs("a", "1", 1)); len(got) != 0 {
		t.Fatalf("another owner's objects are behind: %v", got)
	}
	if got := behind(&o, key, rs("a", "2", 1), rs("b", "7", 1)); len(got) != 0 {
		t.Fatalf("a cached copy past the write is behind: %v", got)
	}
	if o.Len() != 0 {
		t.Fatal("the mark outlives the cache catching up")
	}
	if got := behind(&o, key, rs("a", "1", 1)); len(got) != 0 {
		t.Fatalf("an old version is behind again after the mark was dropped: %v", got)
	}
	o.Wrote(key, "a", Replaced("2"))
	o.Forget(key)
	if got := behind(&o, key, rs("a", "2", 1)); len(got) != 0 {
		t.Fatalf("behind after Forget: %v", got)
	}
}

// TestOwnedProducedGenerationIgnoresStatusWrites: a spec write is seen once
// the cached generation reaches the one it produced, whatever status writes
// moved the resourceVersion meanwhile.
func TestOwnedProducedGenerationIgnoresStatusWrites(t *testing.T) {
	var o Owned
	key := types.NamespacedName{Namespace: "ns", Name: "ro"}
	o.Wrote(key, "a", Produced(2))
	if got := behind(&o, key, rs("a", "10", 1), rs("b", "11", 1)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("cache below the produced generation: behind %v, want [a]", got)
	}
	if got := behind(&o, key, rs("a", "15", 1), rs("b", "11", 1)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("a status write made the spec write look seen: behind %v", got)
	}
	if got := behind(&o, key, rs("a", "16", 2)); len(got) != 0 {
		t.Fatalf("cache at the produced generation: behind %v", got)
	}
	if o.Len() != 0 {
		t.Fatal("the mark outlives the cache catching up")
	}
}

// TestOwnedForgetsObjectsTheCacheNoLongerHolds: a written object that left
// the owner's cached objects (deleted, released) cannot be behind, and its
// mark goes, while the marks of objects still behind stay.
func TestOwnedForgetsObjectsTheCacheNoLongerHolds(t *testing.T) {
	var o Owned
	key := types.NamespacedName{Namespace: "ns", Name: "ro"}
	o.Wrote(key, "a", Replaced("1"))
	o.Wrote(key, "b", Replaced("4"))
	if got := behind(&o, key, rs("b", "4", 1)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("behind %v, want [b]", got)
	}
	if got := o.w.LookOwned(key); len(got) != 1 || got[types.NamespacedName{Namespace: "ns", Name: "b"}].r == nil {
		t.Errorf("marks kept: %v, want only b's: a's object is no longer cached, b is still behind", got)
	}
}

// A patch's result is offered until the cache shows the patch, and patches
// that follow each other from the offered copy keep every replaced version
// behind.
func TestOwnedOffersWrittenCopies(t *testing.T) {
	var o Owned
	owner := types.NamespacedName{Namespace: "ns", Name: "ro"}
	o.Wrote(owner, "a", ReplacedBy("1", rs("a", "2", 2)))
	o.Wrote(owner, "a", ReplacedBy("2", rs("a", "3", 3)))
	if got, ok := Written[*appsv1.ReplicaSet](o.Look(owner), "a"); !ok || got.ResourceVersion != "3" {
		t.Fatalf("got %v, %v; want the copy at 3", got, ok)
	}
	if _, ok := Written[*appsv1.ReplicaSet](o.Look(owner), "b"); ok {
		t.Fatal("a copy of an object never written is offered")
	}
	for _, rv := range []string{"1", "2"} {
		if got := behind(&o, owner, rs("a", rv, 1)); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("cached at %s: behind %v, want [a]", rv, got)
		}
	}
	if got := behind(&o, owner, rs("a", "3", 3)); len(got) != 0 {
		t.Fatalf("cached at the write: behind %v", got)
	}
	if _, ok := Written[*appsv1.ReplicaSet](o.Look(owner), "a"); ok {
		t.Fatal("the copy is kept after the cache showed the write")
	}
}
