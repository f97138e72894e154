package rolloutview

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/replicas"
)

// Owned are the objects a view is built from. Each slice may hold objects
// of other owners too (a namespace's whole list); Build keeps those whose
// controller reference leads back to the Rollout or Experiment.
type Owned struct {
	// ReplicaSets of the Rollout, and of its Experiments.
	ReplicaSets []*appsv1.ReplicaSet
	// Pods of those ReplicaSets.
	Pods []*corev1.Pod
	// AnalysisRuns of the Rollout and of its Experiments.
	AnalysisRuns []*v1alpha1.AnalysisRun
	// Experiments of the Rollout.
	Experiments []*v1alpha1.Experiment
	// Jobs of those AnalysisRuns (job metrics).
	Jobs []*batchv1.Job
}

// Refs points at each element of items, for building Owned from lists
// without copying the objects.
func Refs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// Build returns the view of ro and the objects it owns at time now.
func Build(ro *v1alpha1.Rollout, owned Owned, now time.Time) Rollout {
	idx := indexOwned(owned)
	st := &ro.Status
	v := Rollout{
		Name:       ro.Name,
		Namespace:  ro.Namespace,
		CreatedAt:  ro.CreationTimestamp.Time,
		AsOf:       now,
		Phase:      st.Phase,
		Message:    st.Message,
		Aborted:    st.Abort,
		SpecPaused: ro.Spec.Paused,
		Replicas: Replicas{
			Desired:   deref(ro.Spec.Replicas, 1),
			Current:   st.Replicas,
			Updated:   st.UpdatedReplicas,
			Ready:     st.ReadyReplicas,
			Available: st.AvailableReplicas,
		},
	}
	v.Status, v.StatusMessage, v.Stale = StatusOf(ro)
	for _, pc := range st.PauseConditions {
		v.PauseReasons = append(v.PauseReasons, string(pc.Reason))
	}
	switch {
	case ro.Spec.Strategy.Canary != nil:
		v.Strategy = StrategyCanary
		v.Step = step(ro)
		v.Weights = weights(ro, idx.rs[ro.UID])
	case ro.Spec.Strategy.BlueGreen != nil:
		v.Strategy = StrategyBlueGreen
	}
	v.Revisions = revisions(ro, idx, now)
	for _, rev := range v.Revisions {
		for _, rs := range rev.ReplicaSets {
			v.Pods.add(rs.PodCounts)
			if rs.Hash != "" && rs.Hash == st.CurrentPodHash {
				v.CurrentRevision = rs.Revision
			}
		}
	}
	v.Images = images(ro, v.Revisions)
	return v
}

// StatusOf is the phase readers show for ro and why, and whether the
// status lags the spec; Build puts the same into Rollout.Status. A status written for an older generation says nothing about
// the current spec; an abort counts from the moment it is asked for, since
// it is a status write that does not change the generation. Objects never
// stored (generation 0, as offline readers build them) are never stale.
func StatusOf(ro *v1alpha1.Rollout) (phase v1alpha1.RolloutPhase, message string, stale bool) {
	st := &ro.Status
	switch {
	case ro.Generation > 0 && st.ObservedGeneration != strconv.FormatInt(ro.Generation, 10):
		return v1alpha1.RolloutPhaseProgressing, fmt.Sprintf("waiting for the controller to observe generation %d", ro.Generation), true
	case st.Abort && st.Phase != v1alpha1.RolloutPhaseDegraded:
		return v1alpha1.RolloutPhaseDegraded, "aborted (status.abort is set)", false
	case st.Phase == "":
		return v1alpha1.RolloutPhaseProgressing, "waiting for the controller to report a phase", false
	}
	switch st.Phase {
	case v1alpha1.RolloutPhaseHealthy, v1alpha1.RolloutPhaseDegraded, v1alpha1.RolloutPhasePaused, v1alpha1.RolloutPhaseProgressing:
		return st.Phase, st.Message, false
	}
	// A phase this version does not know (written by a newer controller)
	// is shown as under way, with the phase named.
	return v1alpha1.RolloutPhaseProgressing, cmp.Or(st.Message, string(st.Phase)), false
}

// StepIndex reads status.currentStepIndex against n steps as the
// controller does: unset is 0, a negative index starts the steps again
// from the first, one past the last means every step is done. ok is false
// when the written index was out of range.
func StepIndex(written *int32, n int) (index int, ok bool) {
	i := int(deref(written, 0))
	switch {
	case i < 0:
		return 0, false
	case i > n:
		return n, false
	}
	return i, true
}

// step is a canary's position; nil without steps.
func step(ro *v1alpha1.Rollout) *Step {
	steps := ro.Spec.Strategy.Canary.Steps
	if len(steps) == 0 {
		return nil
	}
	idx, ok := StepIndex(ro.Status.CurrentStepIndex, len(steps))
	s := &Step{Index: int32(idx), Total: int32(len(steps)), OutOfRange: !ok, Steps: make([]StepEntry, 0, len(steps))}
	if w := ro.Status.CurrentStepIndex; w != nil {
		n := *w
		s.Written = &n
	}
	if idx < len(steps) {
		s.Description = DescribeStep(steps[idx])
	}
	for i, cs := range steps {
		state := StepPending
		switch {
		case i < idx:
			state = StepDone
		case i == idx:
			state = StepCurrent
		}
		s.Steps = append(s.Steps, StepEntry{Index: i, Description: DescribeStep(cs), State: state})
	}
	return s
}

// weights are a canary's desired and reported weights. Without a traffic
// router the status carries no weights and the split is the one Pod counts
// give, read from the Rollout's ReplicaSets, as the kubectl plugin does.
func weights(ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet) *Weights {
	st := &ro.Status
	w := &Weights{Set: setWeight(ro)}
	if st.Canary.Weights == nil && ro.Spec.Strategy.Canary.TrafficRouting == nil {
		w.Reached = podCountWeight(st, sets)
	}
	if ws := st.Canary.Weights; ws != nil {
		a := &ActualWeights{Canary: destination(ws.Canary), Stable: destination(ws.Stable), Verified: ws.Verified}
		for _, d := range ws.Additional {
			a.Additional = append(a.Additional, destination(d))
		}
		w.Actual = a
		reached := ws.Canary.Weight
		// Once promoted the controller reports the new version as both
		// canary (weight 0) and stable (weight 100): all traffic reaches it.
		if ws.Canary.PodTemplateHash != "" && ws.Canary.PodTemplateHash == ws.Stable.PodTemplateHash {
			reached = 100
		}
		w.Reached = &reached
	}
	return w
}

// podCountWeight is the share of the Rollout's available Pods that run the
// desired version; nil before the controller names that version.
func podCountWeight(st *v1alpha1.RolloutStatus, sets []*appsv1.ReplicaSet) *int32 {
	if st.CurrentPodHash == "" {
		return nil
	}
	var current, others int32
	for _, rs := range sets {
		if rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] == st.CurrentPodHash {
			current += rs.Status.AvailableReplicas
		} else {
			others += rs.Status.AvailableReplicas
		}
	}
	reached := replicas.WeightFromCounts(current, others)
	if st.CurrentPodHash == st.StableRS {
		reached = 100
	}
	return &reached
}

func destination(d v1alpha1.WeightDestination) Destination {
	return Destination{Weight: d.Weight, ServiceName: d.ServiceName, PodTemplateHash: d.PodTemplateHash}
}

// setWeight is the weight the steps ask for at the current step.
func setWeight(ro *v1alpha1.Rollout) int32 {
	st := &ro.Status
	steps := ro.Spec.Strategy.Canary.Steps
	switch {
	case st.Abort:
		return 0
	case st.CurrentPodHash != "" && st.CurrentPodHash == st.StableRS, len(steps) == 0:
		return 100
	}
	idx, _ := StepIndex(st.CurrentStepIndex, len(steps))
	if idx >= len(steps) {
		return 100
	}
	for i := idx; i >= 0; i-- {
		if w := steps[i].SetWeight; w != nil {
			return *w
		}
	}
	return 0
}

// Roles names what the version with hash is to ro, from the status hashes
// the controller and the Services act on; stable comes first.
func Roles(ro *v1alpha1.Rollout, hash string) []string {
	r := []string{}
	if hash == "" {
		return r
	}
	st := &ro.Status
	if hash == st.StableRS {
		r = append(r, RoleStable)
	}
	switch {
	case ro.Spec.Strategy.BlueGreen != nil:
		if hash == st.BlueGreen.ActiveSelector {
			r = append(r, RoleActive)
		}
		if hash == st.BlueGreen.PreviewSelector && hash != st.BlueGreen.ActiveSelector {
			r = append(r, RolePreview)
		}
	case ro.Spec.Strategy.Canary != nil:
		if hash == st.CurrentPodHash && hash != st.StableRS {
			r = append(r, RoleCanary)
		}
	}
	return r
}

// revisions groups the Rollout's objects by revision, newest first. The
// runs and experiments carry the hash of the version they test, which
// leads to its ReplicaSet's revision; their own revision annotation is the
// fallback for objects whose ReplicaSet is gone or that carry no hash.
func revisions(ro *v1alpha1.Rollout, idx *index, now time.Time) []Revision {
	byNumber := map[int64]*Revision{}
	rev := func(n int64) *Revision {
		if byNumber[n] == nil {
			byNumber[n] = &Revision{Number: n, Roles: []string{}, ReplicaSets: []ReplicaSet{}, AnalysisRuns: []AnalysisRun{}, Experiments: []Experiment{}}
		}
		return byNumber[n]
	}
	revOfHash := map[string]int64{}
	for _, rs := range idx.rs[ro.UID] {
		node := idx.replicaSet(rs)
		node.Roles = Roles(ro, node.Hash)
		if node.Hash != "" {
			revOfHash[node.Hash] = node.Revision
		}
		r := rev(node.Revision)
		for _, role := range node.Roles {
			if !slices.Contains(r.Roles, role) {
				r.Roles = append(r.Roles, role)
			}
		}
		r.ReplicaSets = append(r.ReplicaSets, node)
	}
	placeOf := func(o metav1.Object) int64 {
		if n, ok := revOfHash[hashOf(o)]; ok {
			return n
		}
		return revisionOf(o)
	}
	for _, run := range idx.runs[ro.UID] {
		node := idx.analysisRun(run)
		node.Revision = placeOf(run)
		r := rev(node.Revision)
		r.AnalysisRuns = append(r.AnalysisRuns, node)
	}
	for _, ex := range idx.exps[ro.UID] {
		node := idx.experiment(ex, now)
		node.Current = ro.Status.Canary.CurrentExperiment == ex.Name
		node.Revision = placeOf(ex)
		r := rev(node.Revision)
		r.Experiments = append(r.Experiments, node)
	}
	out := make([]Revision, 0, len(byNumber))
	for _, r := range byNumber {
		out = append(out, *r)
	}
	// Newest first; the unknown revision 0 sorts last by itself.
	slices.SortFunc(out, func(a, b Revision) int { return cmp.Compare(b.Number, a.Number) })
	return out
}

// images lists the images of the ReplicaSets that run or want Pods, newest
// revision first, each once with the roles of every version running it. A
// version that runs nothing is left out whatever its role (an aborted
// canary at zero), and one without a role that still runs is in (an old
// version scaling down). While the desired version has no ReplicaSet yet,
// its template's images are listed too, without a role.
func images(ro *v1alpha1.Rollout, revs []Revision) []Image {
	var out []Image
	at := map[string]int{}
	add := func(imgs, roles []string) {
		for _, img := range imgs {
			i, ok := at[img]
			if !ok {
				i = len(out)
				at[img] = i
				out = append(out, Image{Name: img, Roles: []string{}})
			}
			for _, role := range roles {
				if !slices.Contains(out[i].Roles, role) {
					out[i].Roles = append(out[i].Roles, role)
				}
			}
		}
	}
	haveCurrent := false
	for _, r := range revs {
		for _, rs := range r.ReplicaSets {
			if rs.Hash != "" && rs.Hash == ro.Status.CurrentPodHash {
				haveCurrent = true
			}
			if rs.Desired == 0 && rs.Current == 0 && len(rs.Pods) == 0 {
				continue
			}
			add(rs.Images, rs.Roles)
		}
	}
	if !haveCurrent && ro.Spec.WorkloadRef == nil {
		add(containerImages(&ro.Spec.Template.Spec), nil)
	}
	return out
}

// index holds objects grouped by their controller's UID, oldest first.
type index struct {
	rs   map[types.UID][]*appsv1.ReplicaSet
	pods map[types.UID][]*corev1.Pod
	runs map[types.UID][]*v1alpha1.AnalysisRun
	exps map[types.UID][]*v1alpha1.Experiment
	jobs map[types.UID][]*batchv1.Job
}

func indexOwned(o Owned) *index {
	return &index{
		rs:   byController(o.ReplicaSets),
		pods: byController(o.Pods),
		runs: byController(o.AnalysisRuns),
		exps: byController(o.Experiments),
		jobs: byController(o.Jobs),
	}
}

// byController files objects under their controller's UID, each list
// oldest first (by creation, then name), which is stable between reads.
func byController[T metav1.Object](objs []T) map[types.UID][]T {
	m := map[types.UID][]T{}
	for _, o := range objs {
		if ref := metav1.GetControllerOf(o); ref != nil {
			m[ref.UID] = append(m[ref.UID], o)
		}
	}
	for _, list := range m {
		slices.SortFunc(list, func(a, b T) int {
			return cmp.Or(
				a.GetCreationTimestamp().Compare(b.GetCreationTimestamp().Time),
				cmp.Compare(a.GetName(), b.GetName()))
		})
	}
	return m
}

func hashOf(o metav1.Object) string { return o.GetLabels()[v1alpha1.DefaultRolloutUniqueLabelKey] }

// revisionOf reads the revision annotation; 0 when missing or malformed.
func revisionOf(o metav1.Object) int64 {
	n, err := strconv.ParseInt(o.GetAnnotations()[v1alpha1.RevisionAnnotation], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func containerImages(spec *corev1.PodSpec) []string {
	out := make([]string, 0, len(spec.Containers))
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
