package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// bgManualManifest is a blue-green Rollout promoted by a person, with its
// active and preview Services; previewReplicas 0 leaves previewReplicaCount
// unset.
func bgManualManifest(name string, replicas, previewReplicas int) string {
	preview := ""
	if previewReplicas > 0 {
		preview = fmt.Sprintf("\n      previewReplicaCount: %d", previewReplicas)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s-active
spec:
  selector:
    app: %[1]s
  ports:
    - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s-preview
spec:
  selector:
    app: %[1]s
  ports:
    - port: 80
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
        - name: app
          image: registry.example/%[1]s:1
  strategy:
    blueGreen:
      activeService: %[1]s-active
      previewService: %[1]s-preview
      autoPromotionEnabled: false%[3]s
`, name, replicas, preview)
}

// countsAre reports whether the status shows these replica counts.
func countsAre(replicas, updated, ready, available int32) func(*v1alpha1.Rollout) bool {
	return func(ro *v1alpha1.Rollout) bool {
		st := ro.Status
		return st.Replicas == replicas && st.UpdatedReplicas == updated && st.ReadyReplicas == ready && st.AvailableReplicas == available
	}
}

// TestBlueGreenActiveCounts: with 2 replicas and a preview of 1 waiting for
// promotion, readyReplicas and availableReplicas are the active version's
// 2, as the reference reports them, while replicas counts all 3 Pods and
// updatedReplicas the preview's 1.
func TestBlueGreenActiveCounts(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "bgcounts")
	runController(t, ns)
	applyYAML(t, ns, bgManualManifest("shop", 2, 1))
	ro := waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	v1 := ro.Status.StableRS
	waitRollout(t, c, ns, "shop", "counts 2 2 2 2", time.Minute, countsAre(2, 2, 2, 2))

	setImage(t, ns, "shop", "registry.example/shop:2")
	ro = waitRollout(t, c, ns, "shop", "paused before promotion", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused))
	v2 := ro.Status.CurrentPodHash
	waitCounts(t, c, ns, "shop", map[string]int32{v1: 2, v2: 1})
	// Counts may lag the Pods by the status write's debounce.
	ro = waitRollout(t, c, ns, "shop", "replicas 3, updated 1, ready 2, available 2", time.Minute, countsAre(3, 1, 2, 2))
	if ro.Status.HPAReplicas != 2 || ro.Status.BlueGreen.ActiveSelector != v1 {
		t.Fatalf("HPAReplicas %d active %q, want 2 and %q", ro.Status.HPAReplicas, ro.Status.BlueGreen.ActiveSelector, v1)
	}

	promote(t, ns, "shop")
	waitRollout(t, c, ns, "shop", "Healthy on the new version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	// The previous version waits out its scale-down delay: 4 Pods, of which
	// the active 2 are the ready and available ones.
	waitRollout(t, c, ns, "shop", "replicas 4, updated 2, ready 2, available 2", time.Minute, countsAre(4, 2, 2, 2))
}
