package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestCanaryResumesAfterControllerCrash kills the controller with SIGKILL at
// every step of canary-manual-gates.yaml and starts a new one: the rollout
// resumes with no extra ReplicaSet, no step skipped or run twice, pauses
// still honoured, and the Pod bounds kept throughout.
func TestCanaryResumesAfterControllerCrash(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "crash")
	p := runController(t, ns)
	crash := func() {
		t.Helper()
		_ = p.cmd.Process.Kill()
		<-p.exited
		p = runController(t, ns)
	}

	applySeed(t, ns, "canary-manual-gates.yaml")
	v1 := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS
	bounds := watchPods(t, c, ns, map[string]string{"app": "rails"}, 6, 5)
	steps := recordSteps(t, c, ns, "rails")

	setImage(t, ns, "rails", "registry.example/rails:6.1")
	crash() // while the update starts
	ro := waitRollout(t, c, ns, "rails", "paused at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	v2 := ro.Status.CurrentPodHash
	crash() // during an indefinite pause: it must stay paused
	time.Sleep(3 * time.Second)
	if ro := getRollout(t, c, ns, "rails"); ro.Status.Phase != v1alpha1.RolloutPhasePaused || derefOr(ro.Status.CurrentStepIndex, -1) != 1 {
		t.Fatalf("after a crash at the pause: phase %s step %v", ro.Status.Phase, derefOr(ro.Status.CurrentStepIndex, -1))
	}
	waitCounts(t, c, ns, "rails", map[string]int32{v2: 1, v1: 5})

	promote(t, ns, "rails")
	crash() // while scaling to 50%
	waitRollout(t, c, ns, "rails", "the timed pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	crash() // during the timed pause: it must still end on its own
	ro = waitRollout(t, c, ns, "rails", "Healthy on the new version", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	waitCounts(t, c, ns, "rails", map[string]int32{v2: 5, v1: 0})
	if rss := replicaSetsOf(t, c, ns, ro); len(rss) != 2 {
		t.Fatalf("want exactly 2 ReplicaSets, have %s", specCounts(rss))
	}
	bounds.check(t)
	seen := steps.stop()
	for i := 1; i < len(seen); i++ {
		if seen[i] != seen[i-1]+1 {
			t.Fatalf("step indexes observed %v: a step was skipped or repeated", seen)
		}
	}
}

// stepRecorder samples a Rollout's currentStepIndex and keeps each new value.
type stepRecorder struct {
	mu   sync.Mutex
	seen []int32
	quit chan struct{}
	done chan struct{}
}

func recordSteps(t *testing.T, c clients, ns, name string) *stepRecorder {
	r := &stepRecorder{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var ro v1alpha1.Rollout
			if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ro); err != nil {
				continue
			}
			if ro.Status.CurrentPodHash == ro.Status.StableRS && len(r.seen) == 0 {
				continue // not started yet
			}
			i := derefOr(ro.Status.CurrentStepIndex, -1)
			r.mu.Lock()
			if len(r.seen) == 0 || r.seen[len(r.seen)-1] != i {
				r.seen = append(r.seen, i)
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *stepRecorder) stop() []int32 {
	select {
	case <-r.quit:
	default:
		close(r.quit)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int32(nil), r.seen...)
}
