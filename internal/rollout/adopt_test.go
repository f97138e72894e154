package rollout

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

func adoptionFixture(t *testing.T) (client.Client, *v1alpha1.Rollout, *appsv1.ReplicaSet) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rollout-uid"}}
	orphan := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: "web-abc", Namespace: "ns", UID: "rs-uid",
		Labels: map[string]string{"app": "web", v1alpha1.DefaultRolloutUniqueLabelKey: "abc"},
		// An owner that is not a controller, such as a backup tool's.
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "keep", UID: "cm-uid"}},
	}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(ro, orphan).Build()
	var stored appsv1.ReplicaSet
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(orphan), &stored); err != nil {
		t.Fatal(err)
	}
	return c, ro, &stored
}

// TestAdoptKeepsOtherOwners adopts an orphan: the Rollout becomes its
// controller and the owner it already had stays.
func TestAdoptKeepsOtherOwners(t *testing.T) {
	c, ro, rs := adoptionFixture(t)
	e := &executor{c: c, ro: ro, log: logr.Discard()}
	a := decide.AdoptReplicaSet{Name: rs.Name, UID: rs.UID, ResourceVersion: rs.ResourceVersion, OwnerReferences: rs.OwnerReferences}
	if err := e.apply(context.Background(), []decide.Action{a}); err != nil {
		t.Fatalf("adopting: %v", err)
	}
	var got appsv1.ReplicaSet
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(rs), &got); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(&got); ref == nil || ref.UID != ro.UID || ref.Kind != "Rollout" {
		t.Fatalf("controller after adoption %+v, want the Rollout", ref)
	}
	if len(got.OwnerReferences) != 2 || got.OwnerReferences[0].UID != "cm-uid" {
		t.Fatalf("owners after adoption %+v, want the ConfigMap kept and the Rollout added", got.OwnerReferences)
	}
}

// TestAdoptFailsOnConcurrentChange adopts from a stale observation: another
// controller adopted the orphan meanwhile, and the adoption must fail rather
// than replace that controller.
func TestAdoptFailsOnConcurrentChange(t *testing.T) {
	c, ro, rs := adoptionFixture(t)
	observed := rs.DeepCopy()
	isController := true
	rs.OwnerReferences = append(rs.OwnerReferences, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "other", UID: "dep-uid", Controller: &isController})
	if err := c.Update(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	e := &executor{c: c, ro: ro, log: logr.Discard()}
	a := decide.AdoptReplicaSet{Name: observed.Name, UID: observed.UID, ResourceVersion: observed.ResourceVersion, OwnerReferences: observed.OwnerReferences}
	err := e.apply(context.Background(), []decide.Action{a})
	if !apierrors.IsConflict(err) {
		t.Fatalf("adopting a changed ReplicaSet: %v, want a conflict", err)
	}
	var got appsv1.ReplicaSet
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(rs), &got); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(&got); ref == nil || ref.UID != "dep-uid" {
		t.Fatalf("controller %+v, want the Deployment that adopted it first", ref)
	}
}

// TestCreateIntoAForeignNameIsReported checks what a create refused for an
// existing ReplicaSet leads to. One that another object controls, or an
// orphan without a pod-template hash, which no cache shows, ends the apply
// with the holder recorded for the next decision. An orphan with a hash is
// one the cache will show and the decision may adopt: an error, nothing
// recorded. One the cache lags on after our own create is fine.
func TestCreateIntoAForeignNameIsReported(t *testing.T) {
	isController := true
	for _, c := range []struct {
		name     string
		change   func(rs *appsv1.ReplicaSet, ro *v1alpha1.Rollout)
		recorded bool
		err      string
	}{
		{name: "orphan with a hash", change: func(*appsv1.ReplicaSet, *v1alpha1.Rollout) {}, err: "without a controller and is not in the cache yet"},
		{name: "orphan without a hash", change: func(rs *appsv1.ReplicaSet, _ *v1alpha1.Rollout) {
			delete(rs.Labels, v1alpha1.DefaultRolloutUniqueLabelKey)
		}, recorded: true, err: "(without a controller)"},
		{name: "controlled by another object", change: func(rs *appsv1.ReplicaSet, _ *v1alpha1.Rollout) {
			rs.OwnerReferences[0].Controller = &isController
		}, recorded: true, err: "(controlled by ConfigMap keep)"},
		{name: "the Rollout's own", change: func(rs *appsv1.ReplicaSet, ro *v1alpha1.Rollout) {
			rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, ro, rs := adoptionFixture(t)
			c.change(rs, ro)
			if err := cl.Update(context.Background(), rs); err != nil {
				t.Fatal(err)
			}
			taken := &takenNames{}
			e := &executor{c: cl, api: cl, ro: ro, log: logr.Discard(), taken: taken}
			create := decide.CreateReplicaSet{ReplicaSet: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: rs.Name, Namespace: "ns"}}}
			err := e.apply(context.Background(), []decide.Action{create})
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("create: %v, want none", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("create: %v, want an error that says %q", err, c.err)
			case isNameTaken(err) != c.recorded:
				t.Fatalf("create: %v, taken name %v, want %v", err, isNameTaken(err), c.recorded)
			}
			got := taken.holder(client.ObjectKeyFromObject(ro), rs.Name)
			if (got != nil) != c.recorded || got != nil && got.UID != rs.UID {
				t.Fatalf("recorded holder %v, want recorded %v", got, c.recorded)
			}
		})
	}
}
