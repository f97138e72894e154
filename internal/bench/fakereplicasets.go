package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/internal/workpool"
)

// ReplicaSetFaker stands in for kube-controller-manager's ReplicaSet
// controller on a cluster that runs without it (`kanaria dev up
// --no-pods`): it creates no Pods and, Delay after a ReplicaSet's desired
// replicas change, writes a status in which all of them exist and are
// ready and available. With no Pods to create, schedule and delete, a
// benchmark measures the progressive-delivery controller and the API
// server at a scale whose Pod churn the machine could not carry.
type ReplicaSetFaker struct {
	// Client writes the status subresource of ReplicaSets.
	Client client.Client
	// Delay is how long a ReplicaSet takes to reach its desired replicas.
	Delay time.Duration
	// Workers write statuses in parallel. Default DefaultConcurrency.
	Workers int

	once  sync.Once
	queue workqueue.TypedDelayingInterface[types.NamespacedName]
	mu    sync.Mutex
	// desired is each queued ReplicaSet's replicas and generation as last
	// seen, written when its delay ends.
	desired map[types.NamespacedName]fakeTarget
	// Written counts the statuses written.
	written int64
}

type fakeTarget struct {
	replicas   int32
	generation int64
}

func (f *ReplicaSetFaker) init() {
	f.once.Do(func() {
		f.queue = workqueue.NewTypedDelayingQueue[types.NamespacedName]()
		f.desired = map[types.NamespacedName]fakeTarget{}
	})
}

// Observe takes a ReplicaSet as a watch delivers it: one whose status does
// not show its desired replicas all available gets that status after
// Delay.
func (f *ReplicaSetFaker) Observe(rs *appsv1.ReplicaSet) {
	f.init()
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	if rs.DeletionTimestamp != nil || fakeSettled(rs, want) {
		return
	}
	key := types.NamespacedName{Namespace: rs.Namespace, Name: rs.Name}
	f.mu.Lock()
	f.desired[key] = fakeTarget{replicas: want, generation: rs.Generation}
	f.mu.Unlock()
	f.queue.AddAfter(key, f.Delay)
}

// fakeSettled reports whether rs's status already shows want replicas,
// all available, for its current generation.
func fakeSettled(rs *appsv1.ReplicaSet, want int32) bool {
	s := rs.Status
	return s.ObservedGeneration >= rs.Generation && s.Replicas == want && s.ReadyReplicas == want &&
		s.AvailableReplicas == want && s.FullyLabeledReplicas == want
}

// Written returns how many statuses the faker has written.
func (f *ReplicaSetFaker) Written() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.written
}

// Run writes statuses until ctx ends.
func (f *ReplicaSetFaker) Run(ctx context.Context) {
	f.init()
	workers := f.Workers
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	workpool.Run(ctx, f.queue, workers, func(key types.NamespacedName) { f.write(ctx, key) })
}

func (f *ReplicaSetFaker) write(ctx context.Context, key types.NamespacedName) {
	f.mu.Lock()
	target, ok := f.desired[key]
	delete(f.desired, key)
	f.mu.Unlock()
	if !ok {
		return
	}
	n := target.replicas
	body, err := json.Marshal(map[string]any{"status": map[string]any{
		"replicas": n, "fullyLabeledReplicas": n, "readyReplicas": n, "availableReplicas": n,
		"observedGeneration": target.generation,
	}})
	if err != nil {
		return
	}
	rs := &appsv1.ReplicaSet{}
	rs.Namespace, rs.Name = key.Namespace, key.Name
	if err := f.Client.Status().Patch(ctx, rs, client.RawPatch(types.MergePatchType, body)); err != nil {
		if ctx.Err() == nil && !apierrors.IsNotFound(err) {
			// The next watch event of the ReplicaSet queues it again; a
			// status that never arrives shows as a Rollout that never
			// becomes Healthy.
			f.mu.Lock()
			if _, newer := f.desired[key]; !newer {
				f.desired[key] = target
			}
			f.mu.Unlock()
			f.queue.AddAfter(key, time.Second)
		}
		return
	}
	f.mu.Lock()
	f.written++
	f.mu.Unlock()
}

// describeFaker is the note a run with fake ReplicaSets carries.
func describeFaker(delay time.Duration) string {
	return fmt.Sprintf("no Pods: ReplicaSets were given their desired replicas as available by the benchmark, %s after each change (the cluster must run without the ReplicaSet controller: kanaria dev up --no-pods)", delay)
}
