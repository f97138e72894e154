package rollout

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestDynamicStableScaleAbortPasses pins an abort of a canary with
// dynamicStableScale down, pass by pass. At the pause of 50% the stable
// runs 2 of its 4 Pods; the ReplicaSet controller makes one Pod available
// (or removes one) between passes, and a pass that asks to be continued is
// followed at once, as the urgent lane follows it.
//
// The order safety needs comes from the decision, not from passes: the
// first pass scales the stable back up and leaves the weight, since the
// stable's 2 available Pods carry only the 50% they have; each later weight
// step gives the stable no more than its available Pods carry. Each step is
// one pass: the abort was acted on (status.abortedAt) in the first, so a
// later router write does not end its pass, whose remaining write is the
// status. With the priority lane on the passes are the same as with it off.
func TestDynamicStableScaleAbortPasses(t *testing.T) {
	var sequences [2][][]string
	for i, noPriority := range []bool{false, true} {
		t.Run(fmt.Sprintf("priority lane off %v", noPriority), func(t *testing.T) {
			sequences[i] = dynamicAbortPasses(t, noPriority)
		})
	}
	if !slices.EqualFunc(sequences[0], sequences[1], slices.Equal[[]string]) {
		t.Fatalf("passes with the priority lane\n%q\nwithout\n%q", sequences[0], sequences[1])
	}
}

func dynamicAbortPasses(t *testing.T, noPriority bool) [][]string {
	c := newRoutedCluster(t)
	ctx := context.Background()
	ro := c.rollout()
	ro.Spec.Replicas = ptr.To(int32(4))
	ro.Spec.Strategy.Canary.DynamicStableScale = true
	if err := c.api.Update(ctx, ro); err != nil {
		t.Fatal(err)
	}
	r, _ := c.reconciler(noPriority)
	c.untilHealthy(r, countsDebounce+time.Second)
	stableName := c.rollout().Status.StableRS
	c.release("shop:v2")
	for i := 0; c.canaryWeight() != "50" || c.replicaSet(stableName).Status.AvailableReplicas != 2; i++ {
		if i == 10 {
			t.Fatalf("not at 50%% with the stable at 2 Pods after 10 passes: weight %s, status %+v", c.canaryWeight(), c.rollout().Status)
		}
		c.pass(r)
		c.now = c.now.Add(countsDebounce + time.Second)
	}
	canaryName := c.rollout().Status.CurrentPodHash
	if err := c.api.Status().Patch(ctx, c.rollout(), client.RawPatch(types.MergePatchType, []byte(`{"status":{"abort":true}}`))); err != nil {
		t.Fatal(err)
	}
	c.takeWrites()

	stableRS := "patch ReplicaSet shop-" + stableName
	canaryRS := "patch ReplicaSet shop-" + canaryName
	want := [][]string{
		{stableRS, "patch status Rollout shop"},
		{"update Ingress shop-shop-canary", "patch status Rollout shop"},
		{"update Ingress shop-shop-canary", "patch Service shop-canary", canaryRS, "patch status Rollout shop"},
		{canaryRS},
	}
	wantWeights := []string{"50", "25", "0", "0"}
	var got [][]string
	var log []string
	for i := 0; i < len(want)+2; i++ {
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: shopKey}); err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
		writes := c.takeWrites()
		log = append(log, writes...)
		if r.continued.take(reconcile.Request{NamespacedName: shopKey}) {
			t.Fatalf("pass %d (%q) asked to be continued: a later step of an acted-on abort ends its pass", i, writes)
		}
		if len(writes) > 0 {
			got = append(got, writes)
		}
		if i < len(wantWeights) && c.canaryWeight() != wantWeights[i] {
			t.Fatalf("after pass %d the canary weight is %s, want %s", i, c.canaryWeight(), wantWeights[i])
		}
		c.checkStableCarries(t, stableName, 4)
		c.settleOne()
		c.checkStableCarries(t, stableName, 4)
	}
	if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Fatalf("passes wrote\n%q\nwant\n%q", got, want)
	}
	up, firstWeight := slices.Index(log, stableRS), slices.Index(log, "update Ingress shop-shop-canary")
	if up < 0 || firstWeight < 0 || up > firstWeight {
		t.Fatalf("writes %q: the stable is not scaled up before traffic moves to it", log)
	}
	if st := c.rollout().Status; st.Phase != v1alpha1.RolloutPhaseDegraded || c.replicaSet(canaryName).Status.AvailableReplicas != 0 {
		t.Fatalf("abort not complete: phase %s, canary %+v", st.Phase, c.replicaSet(canaryName).Status)
	}
	return got
}

// checkStableCarries fails when the routers give the stable more of the
// traffic than its available Pods carry out of replicas.
func (c *routedCluster) checkStableCarries(t *testing.T, hash string, replicas int32) {
	t.Helper()
	w, err := strconv.Atoi(c.canaryWeight())
	if err != nil {
		t.Fatalf("canary weight %q", c.canaryWeight())
	}
	if a := c.replicaSet(hash).Status.AvailableReplicas; int64(100-w)*int64(replicas) > 100*int64(a) {
		t.Fatalf("the stable gets %d%% of the traffic with %d of %d Pods available", 100-w, a, replicas)
	}
}

func (c *routedCluster) replicaSet(hash string) *appsv1.ReplicaSet {
	c.t.Helper()
	var rs appsv1.ReplicaSet
	if err := c.api.Get(context.Background(), types.NamespacedName{Namespace: "web", Name: "shop-" + hash}, &rs); err != nil {
		c.t.Fatal(err)
	}
	return &rs
}

// settleOne plays a ReplicaSet controller that brings up one Pod of each
// ReplicaSet short of its replicas between two passes (and removes the
// extra ones at once).
func (c *routedCluster) settleOne() {
	c.t.Helper()
	ctx := context.Background()
	var rss appsv1.ReplicaSetList
	if err := c.api.List(ctx, &rss, client.InNamespace("web")); err != nil {
		c.t.Fatal(err)
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		n, a := ptr.Deref(rs.Spec.Replicas, 0), rs.Status.AvailableReplicas
		switch {
		case a < n:
			a++
		case a > n:
			a = n
		default:
			continue
		}
		rs.Status = appsv1.ReplicaSetStatus{Replicas: a, ReadyReplicas: a, AvailableReplicas: a, FullyLabeledReplicas: a, ObservedGeneration: rs.Generation}
		if err := c.api.Status().Update(ctx, rs); err != nil {
			c.t.Fatal(err)
		}
	}
}
