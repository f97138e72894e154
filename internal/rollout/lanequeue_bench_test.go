package rollout

import (
	"fmt"
	"strconv"
	"testing"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
)

// BenchmarkLaneQueueAtDepth measures one routine item through the Rollout
// work queue (add, get, done) while depth others wait in it at the priority
// of a watch event, as during the create of many Rollouts: the cost per
// item as the queue grows.
func BenchmarkLaneQueueAtDepth(b *testing.B) {
	for _, depth := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			q := newLaneQueue("", workqueue.DefaultTypedControllerRateLimiter[string](), 50, 10, nil, nil)
			defer q.ShutDown()
			keys := make([]string, depth)
			for i := range keys {
				keys[i] = "waiting-" + strconv.Itoa(i)
			}
			q.AddWithOpts(priorityqueue.AddOpts{}, keys...)
			b.ResetTimer()
			for i := range b.N {
				q.Add("added-" + strconv.Itoa(i))
				key, _, _ := q.GetWithPriority()
				q.Done(key)
			}
		})
	}
}
