package rolloutview

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func ptr[T any](v T) *T { return &v }

const (
	roUID     = types.UID("ro-uid")
	stableH   = "5f8b4d7c9"
	canaryH   = "7c5d9f6b8"
	stableUID = types.UID("rs-stable")
	canaryUID = types.UID("rs-canary")
)

func controlledBy(uid types.UID, kind string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: kind, Name: string(uid), UID: uid, Controller: ptr(true)}}
}

// canaryRollout is checkout at step 1 of four (setWeight 20, pause,
// experiment, setWeight 60), with revision 1 stable and revision 2 the canary.
func canaryRollout() *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout", UID: roUID, Generation: 3}}
	ro.Spec.Replicas = ptr(int32(5))
	ro.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: "checkout:2"}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))},
		{Pause: &v1alpha1.RolloutPause{}},
		{Experiment: &v1alpha1.RolloutExperimentStep{Duration: "10m", Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "baseline"}, {Name: "canary", Weight: ptr(int32(10))}}}},
		{SetWeight: ptr(int32(60))},
	}}
	ro.Status = v1alpha1.RolloutStatus{
		ObservedGeneration: "3", Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep",
		CurrentStepIndex: ptr(int32(1)), StableRS: stableH, CurrentPodHash: canaryH,
		Replicas: 6, UpdatedReplicas: 1, ReadyReplicas: 6, AvailableReplicas: 6,
		PauseConditions: []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}},
	}
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{
		Canary: v1alpha1.WeightDestination{Weight: 17, PodTemplateHash: canaryH},
		Stable: v1alpha1.WeightDestination{Weight: 83, PodTemplateHash: stableH},
	}
	return ro
}

func replicaSet(name string, uid types.UID, hash, revision, image string, desired, current int32, age time.Duration, owner types.UID) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Namespace: "shop", Name: name, UID: uid, CreationTimestamp: ago(age),
		Labels:          map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash},
		Annotations:     map[string]string{v1alpha1.RevisionAnnotation: revision},
		OwnerReferences: controlledBy(owner, "Rollout"),
	}}
	rs.Spec.Replicas = ptr(desired)
	rs.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: image}}
	rs.Status = appsv1.ReplicaSetStatus{Replicas: current, ReadyReplicas: current, AvailableReplicas: current}
	return rs
}

func pod(name string, owner types.UID, phase corev1.PodPhase, ready bool, age time.Duration) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, CreationTimestamp: ago(age), OwnerReferences: controlledBy(owner, "ReplicaSet")}}
	p.Spec.Containers = []corev1.Container{{Name: "app"}}
	p.Status.Phase = phase
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: ready}}
	return p
}

func canaryOwned() Owned {
	return Owned{
		ReplicaSets: []*appsv1.ReplicaSet{
			replicaSet("checkout-"+stableH, stableUID, stableH, "1", "checkout:1", 5, 5, 26*time.Hour, roUID),
			replicaSet("checkout-"+canaryH, canaryUID, canaryH, "2", "checkout:2", 1, 1, 4*time.Minute, roUID),
			// Someone else's ReplicaSet in the same namespace.
			replicaSet("other", "other-uid", "abc", "7", "other:1", 1, 1, time.Hour, "another-rollout"),
		},
		Pods: []*corev1.Pod{
			pod("checkout-"+canaryH+"-a", canaryUID, corev1.PodRunning, true, 4*time.Minute),
			pod("checkout-"+stableH+"-a", stableUID, corev1.PodRunning, true, 26*time.Hour),
			pod("checkout-"+stableH+"-b", stableUID, corev1.PodRunning, true, 26*time.Hour),
		},
	}
}

func TestBuildCanaryMidStep(t *testing.T) {
	v := Build(canaryRollout(), canaryOwned(), now)
	if v.Status != v1alpha1.RolloutPhasePaused || v.StatusMessage != "CanaryPauseStep" || v.Phase != v1alpha1.RolloutPhasePaused || v.Stale {
		t.Errorf("status %s %q (phase %s, stale %v)", v.Status, v.StatusMessage, v.Phase, v.Stale)
	}
	if v.Strategy != StrategyCanary {
		t.Errorf("strategy %q", v.Strategy)
	}
	if s := v.Step; s == nil || s.Index != 1 || s.Total != 4 || s.OutOfRange || s.Description != "pause (until promoted)" {
		t.Fatalf("step %+v", v.Step)
	}
	if states := stepStates(v.Step); !reflect.DeepEqual(states, []StepState{StepDone, StepCurrent, StepPending, StepPending}) {
		t.Errorf("step states %v", states)
	}
	if w := v.Weights; w == nil || w.Set != 20 || w.Reached == nil || *w.Reached != 17 || w.Actual.Stable.Weight != 83 {
		t.Errorf("weights %+v", v.Weights)
	}
	wantImages := []Image{{Name: "checkout:2", Roles: []string{RoleCanary}}, {Name: "checkout:1", Roles: []string{RoleStable}}}
	if !reflect.DeepEqual(v.Images, wantImages) {
		t.Errorf("images %+v, want %+v", v.Images, wantImages)
	}
	if len(v.Revisions) != 2 || v.Revisions[0].Number != 2 || v.Revisions[1].Number != 1 {
		t.Fatalf("revisions %+v", v.Revisions)
	}
	if v.CurrentRevision != 2 || v.Revision(2) != &v.Revisions[0] || v.Revision(3) != nil {
		t.Errorf("current revision %d", v.CurrentRevision)
	}
	if got := v.Revisions[1].ReplicaSets[0]; len(got.Pods) != 2 || got.PodCounts.Ready != 2 || got.Status != RSHealthy {
		t.Errorf("stable ReplicaSet %+v", got)
	}
	if v.Pods.Total != 3 || v.Pods.Ready != 3 {
		t.Errorf("pod counts %+v", v.Pods)
	}
	if !reflect.DeepEqual(v.PauseReasons, []string{"CanaryPauseStep"}) {
		t.Errorf("pause reasons %v", v.PauseReasons)
	}
}

func stepStates(s *Step) []StepState {
	var out []StepState
	for _, e := range s.Steps {
		out = append(out, e.State)
	}
	return out
}

// TestStepIndex covers what a client with status-patch rights can write into
// status.currentStepIndex; the view reads it the way the controller does.
func TestStepIndex(t *testing.T) {
	for _, tc := range []struct {
		name        string
		written     *int32
		index       int32
		outOfRange  bool
		description string
		set         int32
		states      []StepState
	}{
		{"unset", nil, 0, false, "setWeight 20", 20, []StepState{StepCurrent, StepPending, StepPending, StepPending}},
		{"at the experiment", ptr(int32(2)), 2, false, "experiment: baseline, canary for 10m", 20, []StepState{StepDone, StepDone, StepCurrent, StepPending}},
		{"negative", ptr(int32(-7)), 0, true, "setWeight 20", 20, []StepState{StepCurrent, StepPending, StepPending, StepPending}},
		{"minus one", ptr(int32(-1)), 0, true, "setWeight 20", 20, []StepState{StepCurrent, StepPending, StepPending, StepPending}},
		{"every step done", ptr(int32(4)), 4, false, "", 100, []StepState{StepDone, StepDone, StepDone, StepDone}},
		{"past the end", ptr(int32(40)), 4, true, "", 100, []StepState{StepDone, StepDone, StepDone, StepDone}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := canaryRollout()
			ro.Status.CurrentStepIndex = tc.written
			v := Build(ro, Owned{}, now)
			s := v.Step
			if s.Index != tc.index || s.OutOfRange != tc.outOfRange || s.Description != tc.description {
				t.Errorf("step %d (out of range %v) %q, want %d (%v) %q", s.Index, s.OutOfRange, s.Description, tc.index, tc.outOfRange, tc.description)
			}
			if !reflect.DeepEqual(s.Written, tc.written) {
				t.Errorf("written %v, want %v", s.Written, tc.written)
			}
			if v.Weights.Set != tc.set {
				t.Errorf("set weight %d, want %d", v.Weights.Set, tc.set)
			}
			if got := stepStates(s); !reflect.DeepEqual(got, tc.states) {
				t.Errorf("states %v, want %v", got, tc.states)
			}
		})
	}
}

func TestSetWeightAndReached(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(ro *v1alpha1.Rollout)
		set     int32
		reached *int32
	}{
		{"at the second setWeight", func(ro *v1alpha1.Rollout) { ro.Status.CurrentStepIndex = ptr(int32(3)) }, 60, ptr(int32(17))},
		{"aborted", func(ro *v1alpha1.Rollout) {
			ro.Status.Abort = true
			ro.Status.Canary.Weights.Canary.Weight, ro.Status.Canary.Weights.Stable.Weight = 0, 100
		}, 0, ptr(int32(0))},
		{"promoted", func(ro *v1alpha1.Rollout) {
			ro.Status.StableRS = canaryH
			ro.Status.Canary.Weights.Canary.Weight = 0
			ro.Status.Canary.Weights.Stable = v1alpha1.WeightDestination{Weight: 100, PodTemplateHash: canaryH}
		}, 100, ptr(int32(100))},
		{"no weights reported yet by a router", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{SMI: &v1alpha1.SMITrafficRouting{}}
			ro.Status.Canary.Weights = nil
		}, 20, nil},
		{"no steps", func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps = nil }, 100, ptr(int32(17))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := canaryRollout()
			tc.change(ro)
			w := Build(ro, Owned{}, now).Weights
			if w.Set != tc.set || !reflect.DeepEqual(w.Reached, tc.reached) {
				t.Errorf("set %d reached %v, want %d %v", w.Set, w.Reached, tc.set, tc.reached)
			}
			if tc.reached == nil && w.Actual != nil {
				t.Errorf("actual weights %+v without a report", w.Actual)
			}
		})
	}
}

// TestPodCountWeight is a canary without a traffic router: its status
// carries no weights, so the reached weight is the desired version's share
// of the available Pods.
func TestPodCountWeight(t *testing.T) {
	ro := canaryRollout()
	ro.Status.Canary.Weights = nil
	owned := Owned{ReplicaSets: []*appsv1.ReplicaSet{
		replicaSet("checkout-"+stableH, "rs-stable", stableH, "1", "checkout:1", 4, 4, time.Hour, roUID),
		replicaSet("checkout-"+canaryH, "rs-canary", canaryH, "2", "checkout:2", 1, 1, time.Minute, roUID),
		replicaSet("other-"+canaryH, "rs-other", canaryH, "1", "checkout:2", 3, 3, time.Minute, "someone-else"),
	}}
	w := Build(ro, owned, now).Weights
	if w.Reached == nil || *w.Reached != 20 || w.Actual != nil {
		t.Errorf("reached %v actual %+v, want 20 (1 of 5 available Pods) and no reported weights", w.Reached, w.Actual)
	}
	ro.Status.StableRS = canaryH
	if w := Build(ro, owned, now).Weights; w.Reached == nil || *w.Reached != 100 {
		t.Errorf("promoted: reached %v, want 100", w.Reached)
	}
	ro.Status.CurrentPodHash = ""
	if w := Build(ro, owned, now).Weights; w.Reached != nil {
		t.Errorf("no desired version yet: reached %v, want none", *w.Reached)
	}
}

// TestExperimentStepWithAdditionalWeights is a canary at its experiment
// step behind a router: the Experiment runs under the canary's revision and
// the template's share of traffic is reported as an additional weight.
func TestExperimentStepWithAdditionalWeights(t *testing.T) {
	ro := canaryRollout()
	ro.Status.CurrentStepIndex = ptr(int32(2))
	ro.Status.Phase, ro.Status.Message, ro.Status.PauseConditions = v1alpha1.RolloutPhaseProgressing, "waiting for all steps to complete", nil
	expName := "checkout-" + canaryH + "-2-2"
	ro.Status.Canary.CurrentExperiment = expName
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{
		Canary:     v1alpha1.WeightDestination{Weight: 20, PodTemplateHash: canaryH, ServiceName: "checkout-canary"},
		Stable:     v1alpha1.WeightDestination{Weight: 70, PodTemplateHash: stableH, ServiceName: "checkout-stable"},
		Additional: []v1alpha1.WeightDestination{{Weight: 10, PodTemplateHash: "e1e1e1", ServiceName: expName + "-canary"}},
		Verified:   ptr(true),
	}
	expUID := types.UID("exp-uid")
	ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{
		Namespace: "shop", Name: expName, UID: expUID, CreationTimestamp: ago(2 * time.Minute),
		Labels:          map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: canaryH},
		OwnerReferences: controlledBy(roUID, "Rollout"),
	}}
	ex.Spec.Duration = "10m"
	ex.Spec.Templates = []v1alpha1.TemplateSpec{{Name: "baseline"}, {Name: "canary"}}
	ex.Status = v1alpha1.ExperimentStatus{
		Phase: v1alpha1.AnalysisPhaseRunning, AvailableAt: ptr(ago(time.Minute)),
		TemplateStatuses: []v1alpha1.TemplateStatus{{Name: "canary", Status: v1alpha1.TemplateStatusRunning, Replicas: 1, AvailableReplicas: 1, ServiceName: expName + "-canary"}},
		AnalysisRuns:     []v1alpha1.ExperimentAnalysisRunStatus{{Name: "smoke", AnalysisRun: expName + "-smoke", Phase: v1alpha1.AnalysisPhaseRunning}},
	}
	expRS := replicaSet(expName+"-canary", "exp-rs", "e1e1e1", "", "checkout:2", 1, 1, time.Minute, expUID)
	expRS.Annotations = map[string]string{v1alpha1.ExperimentTemplateNameAnnotationKey: "canary"}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: expName + "-smoke", UID: "run-uid", CreationTimestamp: ago(time.Minute), OwnerReferences: controlledBy(expUID, "Experiment")}}
	run.Status.Phase = v1alpha1.AnalysisPhaseRunning
	owned := canaryOwned()
	owned.Experiments = []*v1alpha1.Experiment{ex}
	owned.ReplicaSets = append(owned.ReplicaSets, expRS)
	owned.AnalysisRuns = []*v1alpha1.AnalysisRun{run}
	owned.Pods = append(owned.Pods, pod(expName+"-canary-x", "exp-rs", corev1.PodRunning, true, time.Minute))

	v := Build(ro, owned, now)
	a := v.Weights.Actual
	if a == nil || len(a.Additional) != 1 || a.Additional[0].Weight != 10 || a.Additional[0].ServiceName != expName+"-canary" || a.Verified == nil || !*a.Verified {
		t.Fatalf("actual weights %+v", a)
	}
	if *v.Weights.Reached != 20 || v.Weights.Set != 20 {
		t.Errorf("weights %+v", v.Weights)
	}
	if v.Step.Description != "experiment: baseline, canary for 10m" {
		t.Errorf("step description %q", v.Step.Description)
	}
	newest := v.Revisions[0]
	if newest.Number != 2 || len(newest.Experiments) != 1 || len(v.Revisions[1].Experiments) != 0 {
		t.Fatalf("experiments not under revision 2: %+v", v.Revisions)
	}
	e := newest.Experiments[0]
	if !e.Current || e.Revision != 2 || e.Phase != v1alpha1.AnalysisPhaseRunning || e.Remaining == nil || *e.Remaining != 9*time.Minute {
		t.Errorf("experiment %+v", e)
	}
	if len(e.Templates) != 2 || e.Templates[0].Status != "Progressing" || e.Templates[1].Status != "Running" {
		t.Errorf("templates %+v, want the unreported baseline Progressing", e.Templates)
	}
	if len(e.ReplicaSets) != 1 || e.ReplicaSets[0].TemplateStatus != "Running" || e.ReplicaSets[0].Service != expName+"-canary" || len(e.ReplicaSets[0].Pods) != 1 {
		t.Errorf("experiment ReplicaSets %+v", e.ReplicaSets)
	}
	if len(e.AnalysisRuns) != 1 || len(e.Analyses) != 1 || e.Analyses[0].AnalysisRun != run.Name {
		t.Errorf("experiment analyses %+v runs %+v", e.Analyses, e.AnalysisRuns)
	}
	// The Experiment's Pods are not the Rollout's.
	if v.Pods.Total != 3 {
		t.Errorf("rollout pod counts %+v include the Experiment's", v.Pods)
	}
	// The same Experiment on its own.
	alone := BuildExperiment(ex, owned, now.Add(20*time.Minute))
	if alone.Current || alone.Remaining == nil || *alone.Remaining != 0 || len(alone.ReplicaSets) != 1 {
		t.Errorf("standalone experiment %+v", alone)
	}
}

func TestBlueGreenPreviewAndActive(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "pay", UID: roUID}}
	ro.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{ActiveService: "pay-active", PreviewService: "pay-preview"}
	ro.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: "pay:2"}}
	ro.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhasePaused, Message: "BlueGreenPause", StableRS: stableH, CurrentPodHash: canaryH}
	ro.Status.BlueGreen.ActiveSelector, ro.Status.BlueGreen.PreviewSelector = stableH, canaryH
	owned := Owned{ReplicaSets: []*appsv1.ReplicaSet{
		replicaSet("pay-"+stableH, stableUID, stableH, "1", "pay:1", 2, 2, time.Hour, roUID),
		replicaSet("pay-"+canaryH, canaryUID, canaryH, "2", "pay:2", 2, 2, time.Minute, roUID),
	}}
	v := Build(ro, owned, now)
	if v.Strategy != StrategyBlueGreen || v.Step != nil || v.Weights != nil {
		t.Errorf("blue-green view with canary parts: %+v", v)
	}
	want := []Image{{Name: "pay:2", Roles: []string{RolePreview}}, {Name: "pay:1", Roles: []string{RoleStable, RoleActive}}}
	if !reflect.DeepEqual(v.Images, want) {
		t.Errorf("images %+v, want %+v", v.Images, want)
	}
	if r := v.Revisions[1].Roles; !reflect.DeepEqual(r, []string{RoleStable, RoleActive}) {
		t.Errorf("revision 1 roles %v", r)
	}
	// Promoted: the preview Service points at the active version, which is
	// then listed as active only.
	ro.Status.StableRS, ro.Status.BlueGreen.ActiveSelector = canaryH, canaryH
	if r := Roles(ro, canaryH); !reflect.DeepEqual(r, []string{RoleStable, RoleActive}) {
		t.Errorf("roles of the promoted version %v", r)
	}
}

func TestMissingReplicaSets(t *testing.T) {
	ro := canaryRollout()
	// A run of revision 2 whose ReplicaSet is gone, and one with no revision at all.
	runs := []*v1alpha1.AnalysisRun{
		{ObjectMeta: metav1.ObjectMeta{Name: "r2", UID: "r2", CreationTimestamp: ago(time.Hour), OwnerReferences: controlledBy(roUID, "Rollout"),
			Labels:      map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: canaryH, v1alpha1.RolloutTypeLabel: "Step", v1alpha1.RolloutCanaryStepIndexLabel: "1"},
			Annotations: map[string]string{v1alpha1.RevisionAnnotation: "2"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "lost", UID: "lost", OwnerReferences: controlledBy(roUID, "Rollout")}},
	}
	v := Build(ro, Owned{AnalysisRuns: runs}, now)
	if len(v.Revisions) != 2 || v.Revisions[0].Number != 2 || v.Revisions[1].Number != 0 {
		t.Fatalf("revisions %+v", v.Revisions)
	}
	if v.CurrentRevision != 0 {
		t.Errorf("current revision %d without its ReplicaSet", v.CurrentRevision)
	}
	r2 := v.Revisions[0]
	if len(r2.ReplicaSets) != 0 || len(r2.AnalysisRuns) != 1 || r2.AnalysisRuns[0].Kind != "Step" || *r2.AnalysisRuns[0].StepIndex != 1 || r2.AnalysisRuns[0].Phase != v1alpha1.AnalysisPhasePending {
		t.Errorf("revision 2 %+v", r2)
	}
	// Without its ReplicaSet the desired version's images come from the template.
	if want := []Image{{Name: "checkout:2", Roles: []string{}}}; !reflect.DeepEqual(v.Images, want) {
		t.Errorf("images %+v, want %+v", v.Images, want)
	}
	if v.Pods.Total != 0 {
		t.Errorf("pods %+v", v.Pods)
	}
}

func TestTerminatingPods(t *testing.T) {
	deleting := metav1.NewTime(now)
	term := pod("t", canaryUID, corev1.PodRunning, true, time.Minute)
	term.DeletionTimestamp = &deleting
	pending := pod("p", canaryUID, corev1.PodPending, false, time.Minute)
	pending.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	notReady := pod("n", canaryUID, corev1.PodRunning, false, time.Minute)
	failed := pod("f", canaryUID, corev1.PodFailed, false, time.Minute)
	failed.Status.Reason = "Evicted"
	owned := Owned{
		ReplicaSets: []*appsv1.ReplicaSet{replicaSet("c", canaryUID, canaryH, "2", "checkout:2", 0, 4, time.Minute, roUID)},
		Pods:        []*corev1.Pod{term, pending, notReady, failed},
	}
	v := Build(canaryRollout(), owned, now)
	rs := v.Revisions[0].ReplicaSets[0]
	want := PodCounts{Total: 4, Running: 1, Pending: 1, Terminating: 1, Failed: 1}
	if rs.PodCounts != want || v.Pods != want {
		t.Errorf("counts %+v / %+v, want %+v", rs.PodCounts, v.Pods, want)
	}
	status := map[string]string{}
	for _, p := range rs.Pods {
		status[p.Name] = p.Status
	}
	if !reflect.DeepEqual(status, map[string]string{"t": "Terminating", "p": "ContainerCreating", "n": "Running", "f": "Evicted"}) {
		t.Errorf("statuses %v", status)
	}
	if rs.Status != RSProgressing {
		t.Errorf("ReplicaSet scaling to zero is %s", rs.Status)
	}
	// A ReplicaSet that wants none but still runs Pods keeps its images listed.
	if len(v.Images) == 0 || v.Images[0].Name != "checkout:2" {
		t.Errorf("images %+v", v.Images)
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(ro *v1alpha1.Rollout)
		status v1alpha1.RolloutPhase
		msg    string
		stale  bool
	}{
		{"as written", func(*v1alpha1.Rollout) {}, v1alpha1.RolloutPhasePaused, "CanaryPauseStep", false},
		{"stale", func(ro *v1alpha1.Rollout) { ro.Generation = 4 }, v1alpha1.RolloutPhaseProgressing, "waiting for the controller to observe generation 4", true},
		{"abort asked", func(ro *v1alpha1.Rollout) { ro.Status.Abort = true }, v1alpha1.RolloutPhaseDegraded, "aborted (status.abort is set)", false},
		{"no phase yet", func(ro *v1alpha1.Rollout) { ro.Status.Phase, ro.Status.Message = "", "" }, v1alpha1.RolloutPhaseProgressing, "waiting for the controller to report a phase", false},
		{"never stored", func(ro *v1alpha1.Rollout) { ro.Generation, ro.Status.ObservedGeneration = 0, "" }, v1alpha1.RolloutPhasePaused, "CanaryPauseStep", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := canaryRollout()
			tc.change(ro)
			v := Build(ro, Owned{}, now)
			if v.Status != tc.status || v.StatusMessage != tc.msg || v.Stale != tc.stale {
				t.Errorf("got %s %q stale %v, want %s %q %v", v.Status, v.StatusMessage, v.Stale, tc.status, tc.msg, tc.stale)
			}
			if v.Phase != ro.Status.Phase || v.Message != ro.Status.Message {
				t.Errorf("phase %s %q differs from the status", v.Phase, v.Message)
			}
		})
	}
}

func TestAnalysisRunMetrics(t *testing.T) {
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "bg", UID: "bg", OwnerReferences: controlledBy(roUID, "Rollout"),
		Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: canaryH, v1alpha1.RolloutTypeLabel: "Background"}}}
	run.Spec.Metrics = []v1alpha1.Metric{{Name: "success-rate"}, {Name: "smoke"}}
	started := metav1.NewTime(now.Add(-time.Minute))
	run.Status = v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning, MetricResults: []v1alpha1.MetricResult{
		{Name: "success-rate", Phase: v1alpha1.AnalysisPhaseRunning, Successful: 2, Failed: 1, Measurements: []v1alpha1.Measurement{
			{Phase: v1alpha1.AnalysisPhaseSuccessful, Value: "[0.99]", StartedAt: &started, FinishedAt: &started},
			{Phase: v1alpha1.AnalysisPhaseFailed, Value: "ok"},
		}},
		{Name: "latency", Phase: v1alpha1.AnalysisPhaseSuccessful, Successful: 1, Inconclusive: 1},
	}}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", OwnerReferences: controlledBy("bg", "AnalysisRun")}}
	job.Status.Active = 1
	v := Build(canaryRollout(), Owned{ReplicaSets: canaryOwned().ReplicaSets, AnalysisRuns: []*v1alpha1.AnalysisRun{run}, Jobs: []*batchv1.Job{job}}, now)
	r := v.Revisions[0].AnalysisRuns[0]
	if r.Successful != 3 || r.Failed != 1 || r.Inconclusive != 1 || r.Revision != 2 || r.Kind != "Background" {
		t.Errorf("run %+v", r)
	}
	var names []string
	for _, m := range r.Metrics {
		names = append(names, m.Name+"/"+string(m.Phase))
	}
	if !reflect.DeepEqual(names, []string{"success-rate/Running", "smoke/Pending", "latency/Successful"}) {
		t.Errorf("metrics %v", names)
	}
	ms := r.Metrics[0].Measurements
	if ms[0].Number == nil || *ms[0].Number != 0.99 || ms[1].Number != nil || ms[0].StartedAt == nil || !ms[0].StartedAt.Equal(started.Time) {
		t.Errorf("measurements %+v", ms)
	}
	if len(r.Jobs) != 1 || r.Jobs[0].Status != JobRunning {
		t.Errorf("jobs %+v", r.Jobs)
	}
}

func TestDescribeStep(t *testing.T) {
	for want, s := range map[string]v1alpha1.CanaryStep{
		"setWeight 20":                      {SetWeight: ptr(int32(20))},
		"pause (until promoted)":            {Pause: &v1alpha1.RolloutPause{}},
		"pause 10s":                         {Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromInt32(10))}},
		"pause 5m":                          {Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("5m"))}},
		"analysis: success-rate, latency":   {Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "success-rate"}, {TemplateName: "latency"}}}},
		"experiment: baseline":              {Experiment: &v1alpha1.RolloutExperimentStep{Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "baseline"}}}},
		"setCanaryScale 3 replicas":         {SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr(int32(3))}},
		"setCanaryScale 25%":                {SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: ptr(int32(25))}},
		"setCanaryScale matchTrafficWeight": {SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}},
		"setHeaderRoute beta":               {SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta"}},
		"setMirrorRoute shadow":             {SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow"}},
		"(empty step)":                      {},
	} {
		if got := DescribeStep(s); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]float64{"0.99": 0.99, "[0.5]": 0.5, " 12 ": 12, "[ 3e2 ]": 300} {
		if got := ParseNumber(in); got == nil || *got != want {
			t.Errorf("%q: got %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"", "ok", "[1,2]", "NaN", "+Inf", "{}"} {
		if got := ParseNumber(in); got != nil {
			t.Errorf("%q: got %v, want no number", in, *got)
		}
	}
}

// TestBuildDoesNotModifyItsInputs guards the promise readers rely on when
// they pass objects straight from a shared cache.
func TestBuildDoesNotModifyItsInputs(t *testing.T) {
	ro := canaryRollout()
	owned := canaryOwned()
	before, _ := json.Marshal([]any{ro, owned.ReplicaSets, owned.Pods})
	Build(ro, owned, now)
	after, _ := json.Marshal([]any{ro, owned.ReplicaSets, owned.Pods})
	if string(before) != string(after) {
		t.Errorf("Build changed its inputs")
	}
}

// TestEveryStepIndexReadsWithinTheSteps writes every index from well below
// zero to well past the end, with and without steps: the view never fails
// and always names a step within them, as the controller reads it.
func TestEveryStepIndexReadsWithinTheSteps(t *testing.T) {
	for n := 0; n <= 4; n++ {
		for w := int32(-10); w <= 10; w++ {
			ro := canaryRollout()
			ro.Spec.Strategy.Canary.Steps = ro.Spec.Strategy.Canary.Steps[:n]
			ro.Status.CurrentStepIndex = ptr(w)
			v := Build(ro, canaryOwned(), now)
			if n == 0 {
				if v.Step != nil || v.Weights.Set != 100 {
					t.Errorf("no steps, index %d: step %+v set %d", w, v.Step, v.Weights.Set)
				}
				continue
			}
			want, inRange := w, w >= 0 && w <= int32(n)
			if w < 0 {
				want = 0
			} else if w > int32(n) {
				want = int32(n)
			}
			if v.Step.Index != want || v.Step.OutOfRange == inRange || len(v.Step.Steps) != n {
				t.Errorf("%d steps, index %d: read as %d (out of range %v), want %d", n, w, v.Step.Index, v.Step.OutOfRange, want)
			}
			if i, ok := StepIndex(&w, n); int32(i) != want || ok != inRange {
				t.Errorf("StepIndex(%d, %d) = %d %v", w, n, i, ok)
			}
		}
	}
}

// TestConfigCopies: a ReplicaSet of a Rollout with config snapshots names
// the copies its Pods run, from its annotation; one without has none.
func TestConfigCopies(t *testing.T) {
	owned := canaryOwned()
	owned.ReplicaSets[1].Annotations[configsnap.CopiesAnnotation] = "ConfigMap/app-config-0a1b2c3d4e,Secret/api-secret-5f6a7b8c9d"
	v := Build(canaryRollout(), owned, now)
	canary, stable := v.Revisions[0].ReplicaSets[0], v.Revisions[1].ReplicaSets[0]
	if want := []string{"ConfigMap/app-config-0a1b2c3d4e", "Secret/api-secret-5f6a7b8c9d"}; !reflect.DeepEqual(canary.Config, want) {
		t.Errorf("canary config %v, want %v", canary.Config, want)
	}
	if stable.Config != nil {
		t.Errorf("stable config %v, want none", stable.Config)
	}
}
