package e2e

import (
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// TestCanaryStrictSurge runs canary-manual-gates.yaml with the strict surge
// count opted in: besides the ReplicaSets' desired replicas, the Pods that
// exist, terminating ones included, never exceed replicas + maxSurge.
func TestCanaryStrictSurge(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "strict-surge")
	runController(t, ns)

	applySeed(t, ns, "canary-manual-gates.yaml")
	mustKubectl(t, "-n", ns, "annotate", "rollout", "rails", decide.StrictSurgeAnnotation+"=true")
	v1 := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS
	waitCounts(t, c, ns, "rails", map[string]int32{v1: 5})

	bounds := watchExistingPods(t, c, ns, map[string]string{"app": "rails"}, 6, 5)
	setImage(t, ns, "rails", "registry.example/rails:6.1")
	v2 := waitRollout(t, c, ns, "rails", "paused at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	}).Status.CurrentPodHash
	waitCounts(t, c, ns, "rails", map[string]int32{v2: 1, v1: 5})
	promote(t, ns, "rails")
	waitRollout(t, c, ns, "rails", "Healthy on the new version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	waitCounts(t, c, ns, "rails", map[string]int32{v2: 5, v1: 0})
	bounds.check(t)
}
