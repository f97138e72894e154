package ctrlmetrics

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const rolloutInfoHead = `
# HELP rollout_info Information about rollout.
# TYPE rollout_info gauge
`

// TestSeriesFollowChangesAndDeletions checks, for a cache read by listing
// and for one that delivers informer events, that a scrape shows an
// object's new version, keeps an unchanged one, and drops a deleted one.
func TestSeriesFollowChangesAndDeletions(t *testing.T) {
	objs := objects()
	web, api := objs[0].(*v1alpha1.Rollout), objs[1].(*v1alpha1.Rollout)
	completed := []v1alpha1.RolloutCondition{{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}

	t.Run("list", func(t *testing.T) {
		_, c, reg := newMetrics(t, web, api)
		expect(t, reg, `rollout_info{name="api",namespace="shop",phase="InvalidSpec",strategy="blueGreen",traffic_router=""} 1
rollout_info{name="web",namespace="shop",phase="Paused",strategy="canary",traffic_router="Istio"} 1
`)
		var got v1alpha1.Rollout
		if err := c.Get(context.Background(), keyOf(web), &got); err != nil {
			t.Fatal(err)
		}
		got.Status.Conditions = completed
		got.Status.AvailableReplicas = 6
		if err := c.Status().Update(context.Background(), &got); err != nil {
			t.Fatal(err)
		}
		expect(t, reg, `rollout_info{name="api",namespace="shop",phase="InvalidSpec",strategy="blueGreen",traffic_router=""} 1
rollout_info{name="web",namespace="shop",phase="Completed",strategy="canary",traffic_router="Istio"} 1
`)
		expectAvailable(t, reg, 6)
		if err := c.Delete(context.Background(), api); err != nil {
			t.Fatal(err)
		}
		expect(t, reg, `rollout_info{name="web",namespace="shop",phase="Completed",strategy="canary",traffic_router="Istio"} 1
`)
	})

	t.Run("informer", func(t *testing.T) {
		src := &fakeInformers{}
		m := New(logr.Discard(), Build{Version: "dev"})
		m.ReadFrom(src)
		reg := prometheus.NewRegistry()
		if err := m.Register(reg); err != nil {
			t.Fatal(err)
		}
		inf := src.informer(&v1alpha1.Rollout{})
		web, api := web.DeepCopy(), api.DeepCopy()
		web.ResourceVersion, api.ResourceVersion = "1", "2"
		inf.Add(web)
		inf.Add(api)
		expect(t, reg, `rollout_info{name="api",namespace="shop",phase="InvalidSpec",strategy="blueGreen",traffic_router=""} 1
rollout_info{name="web",namespace="shop",phase="Paused",strategy="canary",traffic_router="Istio"} 1
`)
		// Two versions between scrapes: the newest shows.
		next := web.DeepCopy()
		next.ResourceVersion = "3"
		next.Status.AvailableReplicas = 5
		inf.Update(web, next)
		newest := next.DeepCopy()
		newest.ResourceVersion = "4"
		newest.Status.Conditions = completed
		newest.Status.AvailableReplicas = 6
		inf.Update(next, newest)
		expect(t, reg, `rollout_info{name="api",namespace="shop",phase="InvalidSpec",strategy="blueGreen",traffic_router=""} 1
rollout_info{name="web",namespace="shop",phase="Completed",strategy="canary",traffic_router="Istio"} 1
`)
		expectAvailable(t, reg, 6)
		ok := reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) { return reconcile.Result{}, nil })
		for _, ro := range []*v1alpha1.Rollout{web, api} {
			if _, err := m.Timed(KindRollout, ok).Reconcile(context.Background(), reconcile.Request{NamespacedName: keyOf(ro)}); err != nil {
				t.Fatal(err)
			}
		}
		if n := testutil.CollectAndCount(reg, "rollout_reconcile"); n != 2 {
			t.Fatalf("rollout_reconcile has %d series, want 2", n)
		}
		// A deletion seen only as a tombstone after a lost watch.
		inf.Delete(api)
		for _, h := range []toolscache.ResourceEventHandler{m.series.handler(objRollouts)} {
			h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "shop/web", Obj: newest})
		}
		if n := testutil.CollectAndCount(reg, "rollout_info", "rollout_phase", "rollout_info_replicas_available"); n != 0 {
			t.Errorf("%d series left after both Rollouts were deleted", n)
		}
		if n := testutil.CollectAndCount(reg, "rollout_reconcile"); n != 0 {
			t.Errorf("rollout_reconcile has %d series after both Rollouts were deleted", n)
		}
		// The lists of a watched kind are never read: the fake's lists are
		// empty, and the series came from the events alone.
		inf.Add(api)
		if n := testutil.CollectAndCount(reg, "rollout_phase"); n != 6 {
			t.Errorf("rollout_phase has %d series for one Rollout, want 6", n)
		}
	})
}

func expect(t *testing.T, reg *prometheus.Registry, series string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(rolloutInfoHead+series), "rollout_info"); err != nil {
		t.Error(err)
	}
}

func expectAvailable(t *testing.T, reg *prometheus.Registry, want float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rollout_info_replicas_available" {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == "web" && s.GetGauge().GetValue() != want {
					t.Errorf("rollout_info_replicas_available of web = %v, want %v", s.GetGauge().GetValue(), want)
				}
			}
		}
	}
}

// TestLateReconcileOfADeletedObjectIsPruned checks that a deleted object's
// last reconcile, run after the scrape that pruned its series (as under a
// burst of deletions), leaves no series behind after the next scrape, while
// an object reconciled a moment before the store sees its creation keeps
// its counts.
func TestLateReconcileOfADeletedObjectIsPruned(t *testing.T) {
	objs := objects()
	src := &fakeInformers{}
	m := New(logr.Discard(), Build{Version: "dev"})
	m.ReadFrom(src)
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	inf := src.informer(&v1alpha1.Rollout{})
	web, api := objs[0].(*v1alpha1.Rollout).DeepCopy(), objs[1].(*v1alpha1.Rollout).DeepCopy()
	web.ResourceVersion, api.ResourceVersion = "1", "2"
	inf.Add(web)
	inf.Add(api)
	reconciled := func(ro *v1alpha1.Rollout) {
		t.Helper()
		ok := reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) { return reconcile.Result{}, nil })
		if _, err := m.Timed(KindRollout, ok).Reconcile(context.Background(), reconcile.Request{NamespacedName: keyOf(ro)}); err != nil {
			t.Fatal(err)
		}
	}
	reconciled(web)
	reconciled(api)
	if n := testutil.CollectAndCount(reg, "rollout_reconcile"); n != 2 {
		t.Fatalf("rollout_reconcile has %d series, want 2", n)
	}

	inf.Delete(api)
	if n := testutil.CollectAndCount(reg, "rollout_reconcile"); n != 1 {
		t.Fatalf("after the deletion's scrape rollout_reconcile has %d series, want 1", n)
	}
	// The deleted Rollout's last pass comes after that scrape.
	reconciled(api)
	if n := testutil.CollectAndCount(reg, "rollout_reconcile"); n != 1 {
		t.Errorf("after a late reconcile of a deleted Rollout rollout_reconcile has %d series, want 1", n)
	}

	// A new Rollout reconciled before the store hears of its creation,
	// which arrives before the next scrape, keeps its counts.
	shop := web.DeepCopy()
	shop.Name, shop.ResourceVersion = "shop", "5"
	reconciled(shop)
	inf.Add(shop)
	if n := testutil.CollectAndCount(reg, "rollout_reconcile"); n != 2 {
		t.Errorf("a Rollout reconciled just before its creation reached the store lost its counts: %d series, want 2", n)
	}
}
