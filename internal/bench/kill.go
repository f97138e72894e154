package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// KillOptions plan the death of one of the benchmark's controller replicas
// in the middle of the update phase, to show that the releases of the
// shards it held finish on the others.
type KillOptions struct {
	// Replica is the index (from 0) of the replica killed; -1 kills none.
	Replica int
	// After is how long after the update phase starts it is killed.
	After time.Duration
}

// Enabled says whether a replica is to be killed.
func (k KillOptions) Enabled() bool { return k.Replica >= 0 }

// validate refuses a kill the run cannot carry out or learn from: one
// without replicas of its own, of a replica that does not exist, or of the
// only one (no other could finish its releases), or in a scenario with no
// update phase.
func (k KillOptions) validate(replicas ReplicaOptions, scenario Scenario, update bool) error {
	if !k.Enabled() {
		if k.After != 0 {
			return errors.New("--kill-after needs --kill-replica")
		}
		return nil
	}
	switch {
	case replicas.Replicas < 2:
		return fmt.Errorf("--kill-replica needs --controller-replicas of at least 2 so another replica can take over, not %d", replicas.Replicas)
	case k.Replica >= replicas.Replicas:
		return fmt.Errorf("--kill-replica %d: the replicas are numbered 0 to %d", k.Replica, replicas.Replicas-1)
	case k.After <= 0:
		return errors.New("--kill-replica needs a positive --kill-after")
	case scenario == ScenarioAbort || scenario == ScenarioAbortUnderLoad:
		return fmt.Errorf("--kill-replica kills during the update phase, which scenario %s does not run", scenario)
	case !update:
		return errors.New("--kill-replica kills during the update phase, which --update=false skips")
	}
	return nil
}

// Kill ends replica i with SIGKILL, as a crash or a lost node would: it
// neither releases its Leases nor stops its controller first.
func (r *Replicas) Kill(i int) error {
	if i < 0 || i >= len(r.procs) {
		return fmt.Errorf("no controller replica %d", i)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.killed == nil {
		r.killed = map[int]bool{}
	}
	if err := r.procs[i].Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing controller replica %d: %w", i, err)
	}
	r.killed[i] = true
	return nil
}

// ObjectsPerRollout counts, for each Rollout of the run, the ReplicaSets
// and AnalysisRuns it controls, and summarises them as how many Rollouts
// have each count: after one release every Rollout should have exactly two
// ReplicaSets and the same number of runs as its fellows, so a duplicate
// made during a fail-over shows as an outlier.
func ObjectsPerRollout(ctx context.Context, c client.Reader, namespace string, rollouts []string) (rs, runs map[int]int, err error) {
	rsOf, runsOf := map[string]int{}, map[string]int{}
	var rsl appsv1.ReplicaSetList
	if err := c.List(ctx, &rsl, client.InNamespace(namespace), client.HasLabels{v1alpha1.DefaultRolloutUniqueLabelKey}); err != nil {
		return nil, nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	for i := range rsl.Items {
		if owner, ok := ownerRollout(&rsl.Items[i]); ok {
			rsOf[owner]++
		}
	}
	var arl v1alpha1.AnalysisRunList
	if err := c.List(ctx, &arl, client.InNamespace(namespace)); err != nil {
		return nil, nil, fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	for i := range arl.Items {
		if owner, ok := ownerRollout(&arl.Items[i]); ok {
			runsOf[owner]++
		}
	}
	rs, runs = map[int]int{}, map[int]int{}
	for _, name := range rollouts {
		rs[rsOf[name]]++
		runs[runsOf[name]]++
	}
	return rs, runs, nil
}

// describeCounts writes a histogram as "2 for 400 Rollouts, 3 for 1".
func describeCounts(h map[int]int) string {
	keys := make([]int, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d for %d Rollouts", k, h[k]))
	}
	return strings.Join(parts, ", ")
}

// killDuringUpdate waits k.After, then kills replica k.Replica and says
// which shards it held and when it died.
func killDuringUpdate(ctx context.Context, r *Replicas, kube kubernetes.Interface, k KillOptions) []string {
	select {
	case <-ctx.Done():
		return []string{fmt.Sprintf("--kill-replica %d was not killed: the update phase ended within %s", k.Replica, k.After)}
	case <-time.After(k.After):
	}
	held := r.Describe(ctx, kube)
	if err := r.Kill(k.Replica); err != nil {
		return []string{err.Error()}
	}
	out := []string{fmt.Sprintf("replica %d of %d (--kill-replica %d) killed with SIGKILL %s into the update phase; just before, the replicas were:",
		k.Replica+1, len(r.procs), k.Replica, k.After)}
	return append(out, held...)
}
