package rollout

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// countsDebounce is how long a status change that only follows Pod counts
// may wait for the next decision's write. During an update the counts move
// with every Pod that starts or becomes ready, and a decision follows
// moments later; writing each count on its own doubled the status writes
// of a release, and at 2 s a 200-Rollout release still wrote counts about
// twice per revision and at 5 s one and a half times. Nothing reads the counts to decide (decisions read
// the ReplicaSets), and the phase, the step, the pause and every
// condition's status are never held back, so what a user or Argo CD acts
// on is never late; only the numbers may lag by up to this much.
const countsDebounce = 10 * time.Second

// countsOnly reports whether next differs from prev only in what follows
// Pod counts: the replica counts, the Pod-count weights of a canary without
// a router, when a condition was last updated, and the message of a
// release that stays Progressing ("more replicas need to be updated",
// "updated replicas are still becoming available", ...); or in a current
// AnalysisRun that started measuring (Pending to Running).
func countsOnly(prev, next *v1alpha1.RolloutStatus, routed bool) bool {
	a, b := prev.DeepCopy(), next.DeepCopy()
	stillProgressing := prev.Phase == v1alpha1.RolloutPhaseProgressing && next.Phase == v1alpha1.RolloutPhaseProgressing
	for _, s := range []*v1alpha1.RolloutStatus{a, b} {
		s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.HPAReplicas = 0, 0, 0, 0, 0
		if stillProgressing {
			s.Message = ""
		}
		if !routed {
			s.Canary.Weights = nil
		}
		for i := range s.Conditions {
			s.Conditions[i].LastUpdateTime = metav1.Time{}
		}
	}
	for i, slot := range runSlots(b) {
		if prevRun := runSlots(a)[i]; runOnlyStarted(*prevRun, *slot) {
			*slot = *prevRun
		}
	}
	return equality.Semantic.DeepEqual(a, b)
}

// runSlots are the places a status names its current AnalysisRuns.
func runSlots(st *v1alpha1.RolloutStatus) []**v1alpha1.RolloutAnalysisRunStatus {
	return []**v1alpha1.RolloutAnalysisRunStatus{
		&st.Canary.CurrentBackgroundAnalysisRunStatus, &st.Canary.CurrentStepAnalysisRunStatus,
		&st.BlueGreen.PrePromotionAnalysisRunStatus, &st.BlueGreen.PostPromotionAnalysisRunStatus,
	}
}

// runOnlyStarted reports whether a run named in the status went from
// Pending to Running and nothing else about it changed. The decision waits
// on a run only for its verdict, so the start moves nothing; it may wait
// for the next decision's write like the counts, instead of costing the
// release a status write (and the next step the wait for that write's
// watch event) for each run.
func runOnlyStarted(prev, next *v1alpha1.RolloutAnalysisRunStatus) bool {
	return prev != nil && next != nil && prev.Name == next.Name && prev.Message == next.Message &&
		prev.Status == v1alpha1.AnalysisPhasePending && next.Status == v1alpha1.AnalysisPhaseRunning
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

// changedFields names the parts of the status a write changes, for the
// debug log line of each write: the top-level fields by their JSON names,
// and each condition whose status, reason or message moved as
// "condition/<Type>". It exists so a benchmark's writes can be attributed to
// the decisions that caused them.
func changedFields(prev, next *v1alpha1.RolloutStatus) []string {
	a, errA := toJSONMap(prev)
	b, errB := toJSONMap(next)
	if errA != nil || errB != nil {
		return []string{"unknown"}
	}
	var out []string
	for _, k := range unionKeys(a, b) {
		if k == "conditions" {
			continue
		}
		if !equality.Semantic.DeepEqual(a[k], b[k]) {
			out = append(out, k)
		}
	}
	for _, c := range next.Conditions {
		old := decide.FindCondition(prev, c.Type)
		if old == nil || old.Status != c.Status || old.Reason != c.Reason || old.Message != c.Message {
			out = append(out, "condition/"+string(c.Type))
		}
	}
	for _, c := range prev.Conditions {
		if decide.FindCondition(next, c.Type) == nil {
			out = append(out, "condition/"+string(c.Type))
		}
	}
	return out
}

func toJSONMap(st *v1alpha1.RolloutStatus) (map[string]any, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding status: %w", err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding status: %w", err)
	}
	return m, nil
}

func unionKeys(a, b map[string]any) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]any{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
