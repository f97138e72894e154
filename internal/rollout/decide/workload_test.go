package decide

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// progressiveDecider is a decider for a Rollout of 4 replicas taking over
// Deployment "web" (at depReplicas) progressively, whose ReplicaSets show
// available Pods and whose stored status is phase with a lagging count.
func progressiveDecider(phase v1alpha1.RolloutPhase, depReplicas int32, available ...int32) *decider {
	ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{WorkloadRef: &v1alpha1.ObjectRef{Kind: "Deployment", Name: "web", ScaleDown: v1alpha1.ScaleDownProgressively}}}
	// The stored count lags: it claims nothing is available.
	ro.Status = v1alpha1.RolloutStatus{Phase: phase, AvailableReplicas: 0}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: ptr(depReplicas)}}
	d := &decider{s: Snapshot{Rollout: ro, Workload: dep}, ro: ro, st: ro.Status.DeepCopy(), replicas: 4, rsByHash: map[string]*appsv1.ReplicaSet{}}
	for i, a := range available {
		d.rsByHash[string(rune('a'+i))] = &appsv1.ReplicaSet{Status: appsv1.ReplicaSetStatus{AvailableReplicas: a}}
	}
	return d
}

func scaledTo(t *testing.T, d *decider) (int32, bool) {
	t.Helper()
	for _, a := range d.plan.Actions {
		if s, ok := a.(ScaleDeployment); ok {
			return s.To, true
		}
	}
	return 0, false
}

func TestProgressiveScaleDownFollowsLiveCounts(t *testing.T) {
	d := progressiveDecider(v1alpha1.RolloutPhaseProgressing, 4, 2, 1)
	d.scaleDownWorkload()
	if to, ok := scaledTo(t, d); !ok || to != 1 {
		t.Fatalf("Deployment scaled to %d (%v), want 1: the ReplicaSets show 3 of 4 available although the stored status says 0", to, ok)
	}
}

func TestProgressiveScaleDownRestoresLostPods(t *testing.T) {
	d := progressiveDecider(v1alpha1.RolloutPhaseProgressing, 0, 1)
	d.scaleDownWorkload()
	if to, ok := scaledTo(t, d); !ok || to != 3 {
		t.Fatalf("Deployment scaled to %d (%v), want 3: the Rollout lost Pods before its first release completed", to, ok)
	}
}

func TestProgressiveMigrationEndsOnceHealthy(t *testing.T) {
	d := progressiveDecider(v1alpha1.RolloutPhaseHealthy, 0, 1)
	d.scaleDownWorkload()
	if to, ok := scaledTo(t, d); ok {
		t.Fatalf("Deployment scaled to %d after the migration completed", to)
	}
	d = progressiveDecider(v1alpha1.RolloutPhaseHealthy, 2, 4)
	d.scaleDownWorkload()
	if to, ok := scaledTo(t, d); !ok || to != 0 {
		t.Fatalf("Deployment scaled to %d (%v), want 0 once Healthy", to, ok)
	}
}

// TestWorkloadGenerationAnnotation checks that the Deployment's generation
// goes to status.workloadObservedGeneration and to the annotation Argo CD
// compares it with, and that a Rollout already annotated is not patched
// again.
func TestWorkloadGenerationAnnotation(t *testing.T) {
	d := progressiveDecider(v1alpha1.RolloutPhaseHealthy, 4)
	d.s.Workload.Generation = 7
	d.resolveWorkloadStatus()
	if d.st.WorkloadObservedGeneration != "7" {
		t.Errorf("workloadObservedGeneration %q, want 7", d.st.WorkloadObservedGeneration)
	}
	want := AnnotateRollout{Key: v1alpha1.WorkloadGenerationAnnotation, Value: "7"}
	if len(d.plan.Actions) != 1 || d.plan.Actions[0] != want {
		t.Fatalf("actions %v, want [%v]", d.plan.Actions, want)
	}

	d = progressiveDecider(v1alpha1.RolloutPhaseHealthy, 4)
	d.s.Workload.Generation = 7
	d.ro.Annotations = map[string]string{v1alpha1.WorkloadGenerationAnnotation: "7"}
	d.resolveWorkloadStatus()
	if len(d.plan.Actions) != 0 {
		t.Fatalf("actions %v for a Rollout already annotated", d.plan.Actions)
	}
}
