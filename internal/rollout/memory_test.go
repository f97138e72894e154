package rollout

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
	"github.com/kanaria-rollouts/kanaria/internal/collision"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// TestForgetRolloutLeavesNothing fills every per-Rollout memory for two
// Rollouts, forgets one, and checks that nothing of it is left anywhere
// while the other's is kept. A field added to rolloutMemory fails the test
// until it is filled and checked here, and so until forgetRollout reaches
// it.
func TestForgetRolloutLeavesNothing(t *testing.T) {
	// In namespaces of their own, so that what is per namespace tells
	// the two apart too.
	gone := types.NamespacedName{Namespace: "a", Name: "gone"}
	kept := types.NamespacedName{Namespace: "b", Name: "kept"}
	r := &Reconciler{
		settled:   &settledKeys[reconcile.Request]{},
		continued: &settledKeys[reconcile.Request]{},
		timed:     &settledKeys[reconcile.Request]{},
	}
	in := func(owner types.NamespacedName, name string) types.NamespacedName {
		return types.NamespacedName{Namespace: owner.Namespace, Name: owner.Name + "-" + name}
	}
	ownedBy := func(w *cachefresh.Owned, owner types.NamespacedName) bool {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: owner.Name + "-rs", ResourceVersion: "1"}}
		return len(cachefresh.Behind(w.Look(owner), func(yield func(*appsv1.ReplicaSet) bool) { yield(rs) })) > 0
	}
	memories := map[string]struct {
		fill  func(types.NamespacedName)
		holds func(types.NamespacedName) bool
	}{
		"fresh": {
			func(k types.NamespacedName) {
				r.fresh.WroteCopy(k, "1", &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "2"}})
			},
			func(k types.NamespacedName) bool { return r.fresh.Superseded(k, "1") },
		},
		"ingressCopies": {
			func(k types.NamespacedName) {
				r.ingressCopies.Wrote(k, in(k, "ing"), "1", &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "2"}})
			},
			func(k types.NamespacedName) bool { return r.ingressCopies.Pending(k.Namespace) },
		},
		"writes": {
			func(k types.NamespacedName) { r.writes.wrote(k, time.Now()) },
			func(k types.NamespacedName) bool { _, ok := r.writes.at.Load(k); return ok },
		},
		"rsWrites": {
			func(k types.NamespacedName) { r.rsWrites.Wrote(k, k.Name+"-rs", cachefresh.Replaced("1")) },
			func(k types.NamespacedName) bool { return ownedBy(&r.rsWrites, k) },
		},
		"runWrites": {
			func(k types.NamespacedName) { r.runWrites.Wrote(k, k.Name+"-rs", cachefresh.Replaced("1")) },
			func(k types.NamespacedName) bool { return ownedBy(&r.runWrites, k) },
		},
		"taken": {
			func(k types.NamespacedName) {
				r.taken.record(k, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "taken"}})
			},
			func(k types.NamespacedName) bool { return r.taken.holder(k, "taken") != nil },
		},
		"held": {
			func(k types.NamespacedName) { r.held.Record(k, "v1", collision.KindAnalysisRun, "run") },
			func(k types.NamespacedName) bool { return len(r.held.Names(k, collision.KindAnalysisRun)) > 0 },
		},
		"created": {
			func(k types.NamespacedName) {
				r.created.add(k, decide.CreateReplicaSet{ReplicaSet: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs"}}}, nil, time.Time{})
			},
			func(k types.NamespacedName) bool { return len(r.created.names[k]) > 0 },
		},
		"searched": {
			func(k types.NamespacedName) { r.searched.remember(k, "uid", 1) },
			func(k types.NamespacedName) bool { return r.searched.has(k, "uid", 1) },
		},
	}
	fields := reflect.TypeFor[rolloutMemory]()
	for i := range fields.NumField() {
		if _, ok := memories[fields.Field(i).Name]; !ok {
			t.Errorf("rolloutMemory.%s is not checked here: fill it and check that forgetRollout drops it", fields.Field(i).Name)
		}
	}
	marks := map[string]*settledKeys[reconcile.Request]{"settled": r.settled, "continued": r.continued, "timed": r.timed}
	for _, k := range []types.NamespacedName{gone, kept} {
		for _, m := range memories {
			m.fill(k)
		}
		for _, s := range marks {
			s.mark(reconcile.Request{NamespacedName: k})
		}
	}
	r.forgetRollout(gone)
	for name, m := range memories {
		if m.holds(gone) {
			t.Errorf("%s still holds the deleted Rollout", name)
		}
	}
	for name, s := range marks {
		if s.take(reconcile.Request{NamespacedName: gone}) {
			t.Errorf("the work queue's %s mark of the deleted Rollout is kept", name)
		}
		if !s.take(reconcile.Request{NamespacedName: kept}) {
			t.Errorf("the work queue's %s mark of another Rollout went too", name)
		}
	}
	for name, m := range memories {
		if !m.holds(kept) {
			t.Errorf("%s lost another Rollout's memory", name)
		}
	}
}

// TestAnIdleRolloutKeepsNoWrittenCopy: the status write that makes a new
// Rollout Healthy leaves its written copy in fresh, and the informer's
// event of that write ends it, with no reconcile after it; an event of a
// version before the write does not.
func TestAnIdleRolloutKeepsNoWrittenCopy(t *testing.T) {
	c := newLaggingCluster(t)
	r := c.reconciler()
	before := c.rollout()
	for i := 0; c.rollout().Status.Phase != v1alpha1.RolloutPhaseHealthy; i++ {
		if i == 10 {
			t.Fatalf("not Healthy after %d passes: %+v", i, c.rollout().Status)
		}
		before = c.rollout()
		c.pass(r)
		c.now = c.now.Add(countsDebounce + time.Second)
	}
	if r.fresh.Len() != 1 {
		t.Fatalf("the Healthy write left %d entries, want its own", r.fresh.Len())
	}
	h := r.fresh.Handler()
	h.OnUpdate(nil, before)
	if r.fresh.Len() != 1 {
		t.Fatal("an event of the version the write replaced ended its entry")
	}
	h.OnUpdate(before, c.rollout())
	if r.fresh.Len() != 0 {
		t.Fatal("the written copy outlived the event of its own write")
	}
}
