package cachefresh

import (
	"context"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"
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
	if tr.Stale(types.NamespacedName{Namespace: "ns", Name: "b"}, "5") {
		t.Fatal("another object is reported stale")
	}
	tr.Forget(k)
	if tr.Stale(k, "5") {
		t.Fatal("stale after Forget")
	}
}

// TestTrackerEndsOnceTheCacheCatchesUp: a read of the cache that shows a
// version no write replaced ends the entry; the cache never goes back, so
// nothing of the earlier writes is needed after it.
func TestTrackerEndsOnceTheCacheCatchesUp(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	tr.Wrote(k, "5", "6")
	if tr.Stale(k, "6") {
		t.Fatal("the written version is reported stale")
	}
	if tr.Len() != 0 {
		t.Fatal("the entry outlived a read of the written version")
	}
	tr.Wrote(k, "6", "7")
	if tr.Stale(k, "9") || tr.Len() != 0 {
		t.Fatal("another writer's newer version, read from the cache, left the entry")
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
}

func TestTrackerChainIsBounded(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	for i := 1; i <= maxChain+1; i++ {
		tr.Wrote(k, version(i), version(i+1))
	}
	if tr.Superseded(k, version(1)) {
		t.Fatal("the chain keeps more than maxChain versions")
	}
	for i := 2; i <= maxChain+1; i++ {
		if !tr.Superseded(k, version(i)) {
			t.Fatalf("recent version %d is not stale", i)
		}
	}
}

func version(i int) string { return string(rune('a' + i)) }

// TestTrackerSupersededEndsNothing: an informer event may carry a version
// older than the one the cache holds by now, so asking about it must not
// end the entry the way a read of the cache does.
func TestTrackerSupersededEndsNothing(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	tr.Wrote(k, "5", "6")
	if tr.Superseded(k, "4") || !tr.Superseded(k, "5") {
		t.Fatal("Superseded does not tell the replaced version")
	}
	if tr.Len() != 1 {
		t.Fatal("asking about an event's version ended the entry")
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
	for _, rv := range []string{"1", "2"} {
		if !tr.Stale(k, rv) {
			t.Fatalf("version %s, before our delete, is not reported stale", rv)
		}
	}
	if tr.Stale(k, "") {
		t.Fatal("the absence our delete produced is reported stale")
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
	if _, ok := tr.Written(k, "9"); ok || tr.Len() != 0 {
		t.Fatal("a copy is offered to a cache that holds the write, or outlives it")
	}
}

// TestWritesEventsEndOnlyWhatTheyShowCaughtUp: an event ends an entry when
// it shows what our last write produced, and only then: an event's version
// may be older than what the cache holds by now.
func TestWritesEventsEndOnlyWhatTheyShowCaughtUp(t *testing.T) {
	var w Writes
	owner := types.NamespacedName{Namespace: "ns", Name: "ro"}
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	h := w.Handler()
	w.Wrote(owner, k, ReplacedBy("1", rs("a", "2", 1)))
	w.Wrote(owner, k, ReplacedBy("2", rs("a", "3", 1)))
	h.OnUpdate(rs("a", "0", 1), rs("a", "1", 1))
	h.OnUpdate(rs("a", "1", 1), rs("a", "2", 1))
	h.OnUpdate(rs("a", "0", 1), rs("a", "9", 1))
	if w.Len() != 1 {
		t.Fatal("an event of a version before our last write ended the entry")
	}
	h.OnUpdate(rs("a", "2", 1), rs("a", "3", 1))
	if w.Len() != 0 {
		t.Fatal("the event of our last write left the entry")
	}

	// A spec write is seen once the generation reaches the one it made,
	// whatever version carries it.
	w.Wrote(owner, k, Produced(4))
	h.OnUpdate(rs("a", "5", 3), rs("a", "6", 3))
	if w.Len() != 1 {
		t.Fatal("an event below the produced generation ended the entry")
	}
	h.OnUpdate(rs("a", "6", 3), rs("a", "8", 4))
	if w.Len() != 0 {
		t.Fatal("an event at the produced generation left the entry")
	}

	// Our delete is seen with the object's delete event.
	w.Wrote(owner, k, Deleted("8"))
	h.OnUpdate(rs("a", "6", 3), rs("a", "8", 4))
	if w.Len() != 1 {
		t.Fatal("an event of the version our delete replaced ended the entry")
	}
	h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "ns/a", Obj: rs("a", "8", 4)})
	if w.Len() != 0 {
		t.Fatal("the delete event left the entry of our delete")
	}
}

// TestWritesForgetTakesTheLastWritersEntries: an object written by two
// owners goes with the one that wrote it last.
func TestWritesForgetTakesTheLastWritersEntries(t *testing.T) {
	var w Writes
	a, b := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}
	shared, own := types.NamespacedName{Namespace: "ns", Name: "shared"}, types.NamespacedName{Namespace: "ns", Name: "own"}
	w.Wrote(a, shared, Replaced("1"))
	w.Wrote(a, own, Replaced("1"))
	w.Wrote(b, shared, Replaced("2"))
	w.Forget(a)
	if w.Len() != 1 || !w.SeenVersion(shared, "2").Behind {
		t.Fatal("Forget took another owner's last write, or kept its own")
	}
	w.Forget(b)
	if w.Len() != 0 || w.Pending("ns") {
		t.Fatal("entries outlived their owners")
	}
}

// TestWritesHandlerOnAnInformer: behind a real informer, an entry left by
// a write goes once the informer delivers the write, with no read.
func TestWritesHandlerOnAnInformer(t *testing.T) {
	src := fcache.NewFakeControllerSource()
	obj := rs("a", "", 1)
	src.Add(obj)
	inf := toolscache.NewSharedIndexInformer(src, &appsv1.ReplicaSet{}, 0, toolscache.Indexers{})
	var w Writes
	if _, err := inf.AddEventHandler(w.Handler()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.Run(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the informer did not sync")
	}
	cached, _, _ := inf.GetStore().GetByKey("ns/a")
	from := cached.(*appsv1.ReplicaSet).ResourceVersion
	// The write as the API server answers it, recorded before the
	// informer can deliver it: the fake source numbers versions in order.
	n, err := strconv.Atoi(from)
	if err != nil {
		t.Fatal(err)
	}
	written := cached.(*appsv1.ReplicaSet).DeepCopy()
	written.Labels = map[string]string{"written": "yes"}
	written.ResourceVersion = strconv.Itoa(n + 1)
	owner := types.NamespacedName{Namespace: "ns", Name: "ro"}
	w.Wrote(owner, types.NamespacedName{Namespace: "ns", Name: "a"}, ReplacedBy(from, written.DeepCopy()))
	src.Modify(written)
	if written.ResourceVersion != strconv.Itoa(n+1) {
		t.Fatalf("the fake source gave the write version %s, want %d", written.ResourceVersion, n+1)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the entry outlived the informer delivering the write")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestALookTakenBeforeTheEventKeepsTheWrite: a reader takes its Look, then
// reads the cache, which still shows the version our write replaced; the
// informer delivers the write in between and ends the entry. The Look
// still tells the copy it read as behind, and offers the write's result.
func TestALookTakenBeforeTheEventKeepsTheWrite(t *testing.T) {
	var tr Tracker
	k := types.NamespacedName{Namespace: "ns", Name: "a"}
	at := func(rv string) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{Namespace: "ns", Name: "a", ResourceVersion: rv}
	}
	tr.WroteCopy(k, "5", at("6"))
	look := tr.Look(k)
	tr.Handler().OnUpdate(at("5"), at("6"))
	if tr.Len() != 0 {
		t.Fatal("the event of our write left its entry")
	}
	if got, ok := look.Written("5"); !ok || got.GetResourceVersion() != "6" {
		t.Fatalf("a copy read before the event: got %v, %v; want our write at 6", got, ok)
	}
	// A Look that finds the cache caught up ends only the entry it saw,
	// not one a later write installed.
	tr.WroteCopy(k, "6", at("7"))
	old := tr.Look(k)
	tr.WroteCopy(k, "7", at("8"))
	if old.Stale("9") || tr.Len() != 1 || !tr.Stale(k, "7") {
		t.Fatal("a Look ended an entry a later write made")
	}
}
