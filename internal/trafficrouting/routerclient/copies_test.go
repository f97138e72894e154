package routerclient

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const weightKey = "nginx.ingress.kubernetes.io/canary-weight"

// lagging is a server, a cache that shows only what it was last synced to,
// and the copies that outlive each reconcile.
type lagging struct {
	t      *testing.T
	api    *server
	cache  *snapshotCache
	copies *Copies
}

func newLagging(t *testing.T, objs ...client.Object) *lagging {
	l := &lagging{t: t, api: newServer(t, objs...), cache: &snapshotCache{}, copies: &Copies{}}
	l.catchUp()
	return l
}

// reconcile is the client of a new reconcile of the Rollout rolloutKey.
func (l *lagging) reconcile() *Client {
	return New(l.cache, l.api, l.api, l.copies, rolloutKey)
}

// catchUp makes the cache show what the server has now.
func (l *lagging) catchUp() { l.cache.sync(l.t, l.api, "stable", "canary") }

// read reads an Ingress as a router's check and then its sync do: twice.
// It returns the second read, or nil when the Ingress is missing.
func (l *lagging) read(c *Client, name string) *networkingv1.Ingress {
	l.t.Helper()
	var got *networkingv1.Ingress
	for range 2 {
		ing := &networkingv1.Ingress{}
		err := c.Get(context.Background(), key(name), ing)
		switch {
		case err == nil:
			got = ing
		case apierrors.IsNotFound(err):
			got = nil
		default:
			l.t.Fatalf("reading %s: %v", name, err)
		}
	}
	return got
}

// want fails unless the API server has been asked for gets reads in all
// and copies holds entries for Ingresses.
func (l *lagging) want(what string, gets, entries int) {
	l.t.Helper()
	if l.api.gets != gets || l.copies.Len() != entries {
		l.t.Fatalf("%s: %d API reads, %d copies; want %d and %d", what, l.api.gets, l.copies.Len(), gets, entries)
	}
}

// setWeight updates the canary Ingress ing with the weight w through c.
func setWeight(t *testing.T, c *Client, ing *networkingv1.Ingress, w string) error {
	t.Helper()
	after := ing.DeepCopy()
	after.Annotations = map[string]string{weightKey: w}
	err := c.Update(context.Background(), after)
	if err == nil {
		*ing = *after
	}
	return err
}

// otherWriter labels the canary Ingress on the server behind our back.
func (l *lagging) otherWriter() {
	l.t.Helper()
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"by":"user"}}}`))
	if err := l.api.Patch(context.Background(), ingress("canary"), patch); err != nil {
		l.t.Fatal(err)
	}
}

// TestOurIngressWritesAreServedWhileTheCacheLags walks the canary Ingress
// through create, two updates and a delete, each read by later reconciles
// before the cache has the write: what the write returned is served, no
// read reaches the API server, and each copy goes once the cache has it.
func TestOurIngressWritesAreServedWhileTheCacheLags(t *testing.T) {
	ctx := context.Background()
	l := newLagging(t, ingress("stable"))
	c := l.reconcile()
	if l.read(c, "stable") == nil || l.read(c, "canary") != nil {
		t.Fatal("the cache's Ingresses were not read as they are")
	}
	l.want("reads the cache has the answer to", 0, 0)

	created := ingress("canary")
	if err := c.Create(ctx, created); err != nil {
		t.Fatal(err)
	}
	c = l.reconcile()
	got := l.read(c, "canary")
	if got == nil || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("our new Ingress, missing from the cache: %v", got)
	}
	l.want("our new Ingress, missing from the cache", 0, 1)
	// What a router does to what it read stays its own.
	got.Annotations = map[string]string{weightKey: "99"}
	if again := l.read(c, "canary"); again.Annotations[weightKey] != "" {
		t.Fatal("a caller's change leaked into the copy")
	}

	if err := setWeight(t, c, got, "10"); err != nil {
		t.Fatal(err)
	}
	c = l.reconcile()
	if got = l.read(c, "canary"); got.Annotations[weightKey] != "10" || got.ResourceVersion == created.ResourceVersion {
		t.Fatalf("after our update, with the cache two writes behind: %v", got)
	}
	l.want("after our update, with the cache two writes behind", 0, 1)

	l.catchUp()
	if got = l.read(l.reconcile(), "canary"); got.Annotations[weightKey] != "10" {
		t.Fatalf("once cached: %v", got)
	}
	l.want("once the cache has our update", 0, 0)

	if err := setWeight(t, c, got, "20"); err != nil {
		t.Fatal(err)
	}
	c = l.reconcile()
	got = l.read(c, "canary")
	uid, rv := got.UID, got.ResourceVersion
	if err := c.Delete(ctx, got, client.Preconditions{UID: &uid, ResourceVersion: &rv}); err != nil {
		t.Fatal(err)
	}
	if l.read(c, "canary") != nil || l.read(l.reconcile(), "canary") != nil {
		t.Fatal("our deleted Ingress was read back from the lagging cache")
	}
	l.want("after our delete, with the cache behind", 0, 1)
	l.catchUp()
	if l.read(l.reconcile(), "canary") != nil {
		t.Fatal("our deleted Ingress, once the cache has the delete")
	}
	l.want("once the cache has our delete", 0, 0)
}

// TestAnotherWritersChangeIsTrusted: a cache that shows a version none of
// our writes replaced is newer than what we hold.
func TestAnotherWritersChangeIsTrusted(t *testing.T) {
	l := newLagging(t, ingress("stable"), ingress("canary"))
	c := l.reconcile()
	if err := setWeight(t, c, l.read(c, "canary"), "10"); err != nil {
		t.Fatal(err)
	}
	l.otherWriter()
	l.catchUp()
	got := l.read(l.reconcile(), "canary")
	if got.Labels["by"] != "user" || got.Annotations[weightKey] != "10" {
		t.Fatalf("another writer's change after ours: %v", got)
	}
	l.want("another writer's change, cached", 0, 0)
}

// TestAConflictDropsTheCopy: another writer changed the Ingress after our
// write while the cache shows neither. The copy is served until a write
// made from it fails; from then on the reads of a reconcile ask the API
// server, once each, until the cache moves on.
func TestAConflictDropsTheCopy(t *testing.T) {
	l := newLagging(t, ingress("stable"), ingress("canary"))
	c := l.reconcile()
	if err := setWeight(t, c, l.read(c, "canary"), "10"); err != nil {
		t.Fatal(err)
	}
	l.otherWriter()

	c = l.reconcile()
	got := l.read(c, "canary")
	if got.Labels["by"] != "" {
		t.Fatal("the copy already had the other writer's change")
	}
	if err := setWeight(t, c, got, "20"); !apierrors.IsConflict(err) {
		t.Fatalf("a write made from the superseded copy: %v, want a conflict", err)
	}
	if got = l.read(c, "canary"); got.Labels["by"] != "user" || got.Annotations[weightKey] != "10" {
		t.Fatalf("after the conflict: %v", got)
	}
	l.want("two reads after the conflict", 1, 1)
	if got = l.read(l.reconcile(), "canary"); got.Labels["by"] != "user" {
		t.Fatalf("the next reconcile: %v", got)
	}
	l.want("the next reconcile, the cache still behind", 2, 1)

	// The write after the conflict is ours again, and its copy served.
	if err := setWeight(t, c, got, "30"); err != nil {
		t.Fatal(err)
	}
	if got = l.read(l.reconcile(), "canary"); got.Annotations[weightKey] != "30" {
		t.Fatalf("after writing again: %v", got)
	}
	l.want("after writing again", 2, 1)
	l.catchUp()
	l.read(l.reconcile(), "canary")
	l.want("once cached", 2, 0)
}

// TestAConflictWithoutACopy: the cache lags another writer, not us. The
// write made from it fails, and the reads that follow ask the API server
// instead of handing out the same stale version again.
func TestAConflictWithoutACopy(t *testing.T) {
	l := newLagging(t, ingress("stable"), ingress("canary"))
	l.otherWriter()
	c := l.reconcile()
	if err := setWeight(t, c, l.read(c, "canary"), "10"); !apierrors.IsConflict(err) {
		t.Fatalf("a write made from a stale cache: %v, want a conflict", err)
	}
	if got := l.read(c, "canary"); got.Labels["by"] != "user" {
		t.Fatalf("after the conflict: %v", got)
	}
	l.want("after the conflict", 1, 1)
}

// TestACreateThatFindsTheIngress: someone created it since the cache
// said it was missing; the reads that follow find it.
func TestACreateThatFindsTheIngress(t *testing.T) {
	l := newLagging(t, ingress("stable"))
	if err := l.api.Create(context.Background(), ingress("canary")); err != nil {
		t.Fatal(err)
	}
	c := l.reconcile()
	if err := c.Create(context.Background(), ingress("canary")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating an Ingress someone created: %v", err)
	}
	if l.read(c, "canary") == nil {
		t.Fatal("the Ingress a create found was read as missing")
	}
	l.want("after the create found it", 1, 1)
}

// TestARestartedControllerTrustsTheCache: copies are not kept across a
// restart, so the cache is read as it is, as a controller that never
// wrote reads it.
func TestARestartedControllerTrustsTheCache(t *testing.T) {
	l := newLagging(t, ingress("stable"), ingress("canary"))
	c := l.reconcile()
	before := l.read(c, "canary")
	if err := setWeight(t, c, before.DeepCopy(), "10"); err != nil {
		t.Fatal(err)
	}
	l.copies = &Copies{}
	if got := l.read(l.reconcile(), "canary"); got.ResourceVersion != before.ResourceVersion {
		t.Fatalf("after a restart: version %s, want the cached %s", got.ResourceVersion, before.ResourceVersion)
	}
	l.want("after a restart", 0, 0)
}

// TestForgetDropsADeletedRolloutsCopies: the copies a Rollout's writes
// left go with it, and only its own.
func TestForgetDropsADeletedRolloutsCopies(t *testing.T) {
	l := newLagging(t, ingress("stable"), ingress("canary"))
	c := l.reconcile()
	if err := setWeight(t, c, l.read(c, "canary"), "10"); err != nil {
		t.Fatal(err)
	}
	other := New(l.cache, l.api, l.api, l.copies, types.NamespacedName{Namespace: "ns", Name: "other"})
	stable := l.read(other, "stable")
	stable.Labels = map[string]string{"weights": "other's"}
	if err := other.Update(context.Background(), stable); err != nil {
		t.Fatal(err)
	}
	l.copies.Forget(rolloutKey)
	l.want("after the Rollout's deletion", 0, 1)
	if got := l.read(l.reconcile(), "stable"); got.Labels["weights"] != "other's" {
		t.Fatalf("another Rollout's copy went with the deleted one: %v", got.Labels)
	}
}

// TestTheInformersEventsDropCaughtUpCopies: a copy goes when the informer
// delivers what our last write produced, without a read.
func TestTheInformersEventsDropCaughtUpCopies(t *testing.T) {
	var c Copies
	h := c.Handler()
	k := types.NamespacedName{Namespace: "ns", Name: "canary"}
	at := func(rv string) *networkingv1.Ingress {
		ing := ingress("canary")
		ing.ResourceVersion = rv
		return ing
	}

	c.Wrote(rolloutKey, k, "1", at("3"))
	c.Wrote(rolloutKey, k, "3", at("4"))
	h.OnUpdate(at("0"), at("1"))
	h.OnUpdate(at("1"), at("3"))
	if c.Len() != 1 {
		t.Fatal("a copy went while the cache still showed versions it replaced")
	}
	h.OnUpdate(at("3"), at("4"))
	if c.Len() != 0 {
		t.Fatal("a copy outlived the cache catching up with it")
	}

	// An event may carry a version older than the cache holds by now, and
	// versions cannot be ordered: only a read of the cache trusts another
	// writer's version.
	c.Wrote(rolloutKey, k, absent, at("5"))
	h.OnAdd(at("7"), false)
	if c.Len() != 1 {
		t.Fatal("an event of a version neither ours nor replaced by us dropped the copy")
	}
	c.Seen(k, "7")
	if c.Len() != 0 {
		t.Fatal("a copy outlived a read of a newer version someone else wrote")
	}

	c.Wrote(rolloutKey, k, "7", nil)
	h.OnUpdate(at("5"), at("7"))
	if c.Len() != 1 {
		t.Fatal("our delete was forgotten while the cache still had the object")
	}
	h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "ns/canary", Obj: at("7")})
	if c.Len() != 0 {
		t.Fatal("our delete was remembered after the cache dropped the object")
	}
}

// TestACopyTheCacheAlreadyHasIsNotKept: the informer may deliver a write
// before the write's response is handled, and then no later event would
// end its copy.
func TestACopyTheCacheAlreadyHasIsNotKept(t *testing.T) {
	ctx := context.Background()
	api := newServer(t, ingress("stable"))
	copies := &Copies{}
	c := New(api, api, api, copies, rolloutKey)
	canary := ingress("canary")
	if err := c.Create(ctx, canary); err != nil {
		t.Fatal(err)
	}
	if copies.Len() != 0 {
		t.Fatal("the copy of a create the cache already has was kept")
	}
	if err := setWeight(t, c, canary, "10"); err != nil {
		t.Fatal(err)
	}
	if copies.Len() != 0 {
		t.Fatal("the copy of an update the cache already has was kept")
	}
	if err := c.Delete(ctx, canary); err != nil {
		t.Fatal(err)
	}
	if copies.Len() != 0 {
		t.Fatal("a delete the cache already has was remembered")
	}
}
