package decide

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/replicas"
)

// cleanUpHistory deletes the oldest scaled-down ReplicaSets beyond
// revisionHistoryLimit. The stable and current ReplicaSets are never
// candidates, nor is anything this plan still scales.
func (d *decider) cleanUpHistory() {
	limit := int(deref(d.ro.Spec.RevisionHistoryLimit, defaultRevisionHistoryLimit))
	stable := d.rsByHash[d.st.StableRS]
	var idle []string
	for _, rs := range d.others(stable) {
		if specReplicas(rs) == 0 && rs.Status.Replicas == 0 && d.settled(rs) {
			idle = append(idle, hashOf(rs))
		}
	}
	for i := 0; i < len(idle)-limit; i++ {
		rs := d.rsByHash[idle[i]]
		d.add(DeleteReplicaSet{Name: rs.Name, UID: rs.UID})
		delete(d.rsByHash, idle[i])
	}
}

// restart carries out spec.restartAt: Pods created before that time are
// deleted a few at a time, never taking availability below
// replicas - maxUnavailable (at least one Pod at a time), and the
// ReplicaSets replace them. status.restartedAt records completion.
func (d *decider) restart() {
	at := d.ro.Spec.RestartAt
	if at == nil {
		return
	}
	if d.s.Now.Before(at.Time) {
		d.requeue(at.Sub(d.s.Now))
		return
	}
	if d.st.RestartedAt != nil && !d.st.RestartedAt.Before(at) {
		return
	}
	var old []*corev1.Pod
	deleting := 0
	for _, p := range d.s.Pods {
		if _, ours := d.rsByHash[p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]]; !ours {
			continue
		}
		if !p.DeletionTimestamp.IsZero() {
			deleting++
			continue
		}
		if podIsOlder(p, at.Time) {
			old = append(old, p)
		}
	}
	if len(old) == 0 && deleting == 0 {
		// The reference records a finished restart only in
		// status.restartedAt, with no Event; it is logged here.
		d.st.RestartedAt = at.DeepCopy()
		d.note("RolloutRestarted", fmt.Sprintf("every Pod created before %s was restarted", at.UTC().Format(time.RFC3339)))
		return
	}
	// Not-ready Pods first: restarting them costs no availability.
	sort.SliceStable(old, func(i, j int) bool { return podReady(old[i]) != podReady(old[j]) && !podReady(old[i]) })
	unavailable := d.restartUnavailable()
	var avail int32
	for _, rs := range d.rsByHash {
		avail += rs.Status.AvailableReplicas
	}
	budget := int(avail - (d.replicas - unavailable))
	budget -= deleting
	for _, p := range old {
		if podReady(p) {
			if budget <= 0 {
				break
			}
			budget--
		}
		d.add(EvictPod{Name: p.Name, UID: p.UID})
		d.note("RestartingPod", fmt.Sprintf("restarting Pod %s for spec.restartAt", p.Name))
	}
	d.requeue(2 * time.Second)
}

func (d *decider) restartUnavailable() int32 {
	var mu *intstr.IntOrString
	if c := d.ro.Spec.Strategy.Canary; c != nil {
		mu = c.MaxUnavailable
	} else if b := d.ro.Spec.Strategy.BlueGreen; b != nil {
		mu = b.MaxUnavailable
	}
	zero := intstr.FromInt32(0)
	_, u, err := replicas.ResolveSurgeUnavailable(&zero, mu, d.replicas)
	if err != nil || u < 1 {
		u = 1
	}
	return u
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// scaleDownWorkload scales the Deployment named by workloadRef as its
// scaleDown asks: progressively, by as many Pods as the Rollout has
// available, so the two together never drop below the desired count; or to
// zero once the Rollout is healthy.
func (d *decider) scaleDownWorkload() {
	ref, dep := d.ro.Spec.WorkloadRef, d.s.Workload
	if ref == nil || dep == nil {
		return
	}
	cur := deref(dep.Spec.Replicas, 1)
	var target int32
	switch ref.ScaleDown {
	case v1alpha1.ScaleDownProgressively:
		// As in the reference, the migration is over once the Rollout has
		// been Healthy: the Deployment then stays at zero. Until then it
		// keeps what the Rollout's own Pods do not yet cover, counted from
		// the ReplicaSets as the cache shows them now (the status' counts
		// may lag), and grows back if the Rollout's Pods are lost.
		target = 0
		if d.s.Rollout.Status.Phase != v1alpha1.RolloutPhaseHealthy {
			target = max(d.replicas-d.liveAvailable(), 0)
		}
		if target > cur {
			d.add(ScaleDeployment{Name: dep.Name, From: cur, To: target})
			d.note("ScalingDeployment", fmt.Sprintf("Scaled Deployment %s back up from %d to %d: the Rollout's Pods cover only %d of %d before its first release completed", dep.Name, cur, target, d.replicas-target, d.replicas))
			return
		}
	case v1alpha1.ScaleDownOnSuccess:
		if d.st.Phase != v1alpha1.RolloutPhaseHealthy {
			return
		}
	default:
		return
	}
	if target >= cur {
		return
	}
	d.add(ScaleDeployment{Name: dep.Name, From: cur, To: target})
	d.note("ScalingDeployment", fmt.Sprintf("Scaled down Deployment %s from %d to %d as the Rollout took over", dep.Name, cur, target))
}

// liveAvailable counts the available Pods of the Rollout's ReplicaSets as
// the snapshot shows them.
func (d *decider) liveAvailable() int32 {
	var n int32
	for _, rs := range d.rsByHash {
		n += rs.Status.AvailableReplicas
	}
	return n
}

// pauseDuration reads a pause duration: a number of seconds, or a string
// that is a number of seconds or a Go duration such as 30s, 5m or 1h.
func pauseDuration(v *intstr.IntOrString) (time.Duration, error) {
	if v.Type == intstr.Int {
		return time.Duration(v.IntVal) * time.Second, nil
	}
	if n, err := strconv.ParseInt(v.StrVal, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	dur, err := time.ParseDuration(v.StrVal)
	if err != nil {
		return 0, fmt.Errorf("pause duration %q: %w", v.StrVal, err)
	}
	return dur, nil
}
