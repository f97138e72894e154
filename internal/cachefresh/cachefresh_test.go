package cachefresh

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestTracker(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	if tr.Stale(k, "1") {
		t.Fatal("stale before any write")
	}
	tr.Wrote(k, "5", "6")
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

func TestTrackerChainsWritesThatFollowEachOther(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	// A status write 5→6, then a metadata patch 6→7 in the same reconcile:
	// a cache that has seen only the status write is still stale.
	tr.Wrote(k, "5", "6")
	tr.Wrote(k, "6", "7")
	for _, rv := range []string{"5", "6"} {
		if !tr.Stale(k, rv) {
			t.Fatalf("version %s of the chain is not reported stale", rv)
		}
	}
	if tr.Stale(k, "7") {
		t.Fatal("the last written version is reported stale")
	}
	// A write on top of a version the tracker did not produce (someone
	// else wrote in between) starts a new chain.
	tr.Wrote(k, "9", "10")
	if tr.Stale(k, "5") || tr.Stale(k, "6") {
		t.Fatal("an old chain survives a write that does not follow it")
	}
	if !tr.Stale(k, "9") {
		t.Fatal("the new chain's replaced version is not stale")
	}
}

func TestTrackerChainIsBounded(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	tr.Wrote(k, "1", "2")
	for _, step := range [][2]string{{"2", "3"}, {"3", "4"}, {"4", "5"}, {"5", "6"}} {
		tr.Wrote(k, step[0], step[1])
	}
	if tr.Stale(k, "1") {
		t.Fatal("the chain keeps more than maxChain versions")
	}
	for _, rv := range []string{"2", "3", "4", "5"} {
		if !tr.Stale(k, rv) {
			t.Fatalf("recent version %s is not stale", rv)
		}
	}
}

func TestTrackerUnknownResultStartsNoChain(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	tr.Wrote(k, "1", "")
	tr.Wrote(k, "", "3")
	if tr.Stale(k, "1") {
		t.Fatal("a write whose result was unknown chained to the next one")
	}
}

// TestTrackerTheLatestVersionIsNeverStale: a caller that writes "absent"
// as "" for a create and again for a delete must see "" as current after
// the delete.
func TestTrackerTheLatestVersionIsNeverStale(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	tr.Wrote(k, "", "1")  // created
	tr.Wrote(k, "1", "2") // updated
	tr.Wrote(k, "2", "")  // deleted
	if tr.Stale(k, "") {
		t.Fatal("the absence our delete produced is reported stale")
	}
	for _, rv := range []string{"1", "2"} {
		if !tr.Stale(k, rv) {
			t.Fatalf("version %s, before our delete, is not reported stale", rv)
		}
	}
}

// A written copy is offered exactly while the cache shows a version the
// chain replaced, and only if it is the chain's last write.
func TestTrackerOffersTheWrittenCopyWhileTheCacheIsBehind(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	at := func(rv string) *metav1.ObjectMeta { return &metav1.ObjectMeta{Name: "a", ResourceVersion: rv} }
	tr.WroteCopy(k, "5", at("6"))
	if got, ok := tr.Written(k, "5"); !ok || got.GetResourceVersion() != "6" {
		t.Fatalf("behind at 5: got %v, %v; want the copy at 6", got, ok)
	}
	if _, ok := tr.Written(k, "6"); ok {
		t.Fatal("a copy is offered to a cache that holds the write")
	}
	tr.WroteCopy(k, "6", at("7"))
	for _, rv := range []string{"5", "6"} {
		if got, ok := tr.Written(k, rv); !ok || got.GetResourceVersion() != "7" {
			t.Fatalf("behind at %s: got %v, %v; want the chain's last copy at 7", rv, got, ok)
		}
	}
	// A write whose result is not handed over leaves no copy that could
	// be older than it.
	tr.Wrote(k, "7", "8")
	if _, ok := tr.Written(k, "6"); ok {
		t.Fatal("a copy older than the last write is offered")
	}
	tr.WroteCopy(k, "8", at("9"))
	tr.DropCopy(k)
	if _, ok := tr.Written(k, "8"); ok {
		t.Fatal("a dropped copy is offered")
	}
	if !tr.Stale(k, "8") {
		t.Fatal("dropping the copy forgot the replaced version")
	}
}
