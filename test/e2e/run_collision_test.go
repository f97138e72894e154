package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

const runCollisionManifest = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: health
spec:
  metrics:
  - name: health
    interval: 1s
    count: 2
    successCondition: result.ok == true
    provider:
      web:
        url: %[1]s/ok
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: collide
spec:
  replicas: 2
  selector:
    matchLabels: {app: collide}
  template:
    metadata:
      labels: {app: collide}
    spec:
      containers:
      - name: app
        image: registry.example/app:1
  strategy:
    canary:
      analysis:
        templates:
        - templateName: health
      steps:
      - setWeight: 50
      - pause: {duration: 5s}
`

// TestBackgroundRunNameHeldByAnother: an AnalysisRun another object
// controls already has the name the Rollout's background analysis takes
// (rollout-hash-revision). The Rollout creates its run under the next name
// (.1), as the reference does, measures with it and finishes the release;
// the other run is not written to.
func TestBackgroundRunNameHeldByAnother(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ctx := context.Background()
	ns := newNamespace(t, c, "runcollide")
	target := newWebTarget(t)
	holder := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "holder", Namespace: ns}}
	if err := c.ctrl.Create(ctx, holder); err != nil {
		t.Fatal(err)
	}
	applyYAML(t, ns, fmt.Sprintf(runCollisionManifest, target.URL))
	runController(t, ns)
	ro := waitRollout(t, c, ns, "collide", "Healthy on the first version", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))

	next := ro.Spec.Template.DeepCopy()
	next.Spec.Containers[0].Image = "registry.example/app:2"
	h := podhash.Template(next, ro.Status.CollisionCount)
	base := "collide-" + h + "-2"
	yes := true
	foreign := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Name: base, Namespace: ns, Labels: map[string]string{"made-by": "test"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: holder.Name, UID: holder.UID, Controller: &yes}}},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{Name: "health", SuccessCondition: "result.ok == true",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: target.URL + "/ok"}}}}},
	}
	if err := c.ctrl.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}

	setImage(t, ns, "collide", "registry.example/app:2")
	sawRun := false
	ro = waitRollout(t, c, ns, "collide", "Healthy on the second version", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		if st := ro.Status.Canary.CurrentBackgroundAnalysisRunStatus; st != nil {
			if st.Name == base {
				t.Fatalf("the status names the other object's run %s", base)
			}
			sawRun = sawRun || st.Name == base+".1"
		}
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == h
	})
	var mine v1alpha1.AnalysisRun
	if err := c.ctrl.Get(ctx, client.ObjectKey{Namespace: ns, Name: base + ".1"}, &mine); err != nil {
		t.Fatalf("the Rollout's run under the next name: %v", err)
	}
	if ref := metav1.GetControllerOf(&mine); ref == nil || ref.UID != ro.UID {
		t.Fatalf("%s controlled by %+v, want the Rollout", mine.Name, ref)
	}
	if mine.Labels[v1alpha1.RolloutTypeLabel] != v1alpha1.RolloutTypeBackgroundRunLabel || len(mine.Status.MetricResults) == 0 ||
		len(mine.Status.MetricResults[0].Measurements) == 0 {
		t.Fatalf("%s did not measure as the background run: labels %v, status %+v", mine.Name, mine.Labels, mine.Status)
	}
	if !sawRun {
		t.Logf("the release finished between two reads; %s is the Rollout's run by its owner and labels", mine.Name)
	}
	eventually(t, time.Minute, "an AnalysisRunCreated Event that names "+mine.Name, func() (bool, error) {
		evs := eventsOf(t, c, ns, "collide")
		return slices.ContainsFunc(evs, func(e string) bool {
			return strings.HasPrefix(e, "AnalysisRunCreated: ") && strings.HasSuffix(e, " "+mine.Name)
		}), fmt.Errorf("events %v", evs)
	})
	var got v1alpha1.AnalysisRun
	if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(foreign), &got); err != nil {
		t.Fatalf("the other object's run: %v", err)
	}
	// Its status is the analysis controller's; anything else written to it
	// would be the Rollout's.
	if got.Generation != foreign.Generation || got.Spec.Terminate || !equality.Semantic.DeepEqual(got.Labels, foreign.Labels) ||
		len(got.Annotations) != 0 || !equality.Semantic.DeepEqual(got.OwnerReferences, foreign.OwnerReferences) {
		t.Fatalf("the other object's run was written to: generation %d (was %d), terminate %v, labels %v, annotations %v, owners %+v",
			got.Generation, foreign.Generation, got.Spec.Terminate, got.Labels, got.Annotations, got.OwnerReferences)
	}
}
