package rollout

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// countsDebounce is how long a status change that only updates Pod counts
// may wait for the next decision's write. During an update the counts move
// with every Pod that starts or becomes ready, and a decision follows
// moments later; writing each count on its own doubled the status writes
// of a release. Nothing reads the counts to decide (decisions read the
// ReplicaSets), and phase, message and every condition's status are never
// held back.
const countsDebounce = 2 * time.Second

// countsOnly reports whether next differs from prev only in numbers that
// follow Pod counts: the replica counts, the Pod-count weights of a canary
// without a router, and when a condition was last updated.
func countsOnly(prev, next *v1alpha1.RolloutStatus, routed bool) bool {
	a, b := prev.DeepCopy(), next.DeepCopy()
	for _, s := range []*v1alpha1.RolloutStatus{a, b} {
		s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.HPAReplicas = 0, 0, 0, 0, 0
		if !routed {
			s.Canary.Weights = nil
		}
		for i := range s.Conditions {
			s.Conditions[i].LastUpdateTime = metav1.Time{}
		}
	}
	return equality.Semantic.DeepEqual(a, b)
}

// writeClock remembers when each Rollout's status was last written.
type writeClock struct {
	at sync.Map
}

func (w *writeClock) wrote(key types.NamespacedName, now time.Time) { w.at.Store(key, now) }

func (w *writeClock) forget(key types.NamespacedName) { w.at.Delete(key) }

// holdFor returns how much longer a counts-only write of key may wait; 0
// means write now.
func (w *writeClock) holdFor(key types.NamespacedName, now time.Time) time.Duration {
	v, ok := w.at.Load(key)
	if !ok {
		return 0
	}
	return max(0, countsDebounce-now.Sub(v.(time.Time)))
}
