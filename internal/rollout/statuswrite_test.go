package rollout

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/statuspatch"
)

func TestCountsOnly(t *testing.T) {
	base := func() *v1alpha1.RolloutStatus {
		return &v1alpha1.RolloutStatus{
			Phase: v1alpha1.RolloutPhaseProgressing, Replicas: 3, AvailableReplicas: 2, CurrentStepIndex: ptrTo(int32(1)),
			Conditions: []v1alpha1.RolloutCondition{{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionTrue, LastUpdateTime: metav1.Unix(10, 0)}},
			Canary: v1alpha1.CanaryStatus{Weights: &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: 33}},
				CurrentBackgroundAnalysisRunStatus: &v1alpha1.RolloutAnalysisRunStatus{Name: "ro-abc-2", Status: v1alpha1.AnalysisPhasePending}},
		}
	}
	started := func(s *v1alpha1.RolloutStatus) {
		s.Canary.CurrentBackgroundAnalysisRunStatus.Status = v1alpha1.AnalysisPhaseRunning
	}
	cases := []struct {
		name   string
		change func(*v1alpha1.RolloutStatus)
		routed bool
		want   bool
	}{
		{"counts and update time", func(s *v1alpha1.RolloutStatus) {
			s.AvailableReplicas, s.Conditions[0].LastUpdateTime = 3, metav1.Unix(20, 0)
		}, false, true},
		{"pod-count weights of a basic canary", func(s *v1alpha1.RolloutStatus) { s.Canary.Weights.Canary.Weight = 50 }, false, true},
		{"router weights", func(s *v1alpha1.RolloutStatus) { s.Canary.Weights.Canary.Weight = 50 }, true, false},
		{"step index", func(s *v1alpha1.RolloutStatus) { s.CurrentStepIndex = ptrTo(int32(2)) }, false, false},
		{"phase", func(s *v1alpha1.RolloutStatus) { s.Phase = v1alpha1.RolloutPhaseHealthy }, false, false},
		{"message of a release still progressing", func(s *v1alpha1.RolloutStatus) {
			s.Message, s.UpdatedReplicas = "updated replicas are still becoming available", 3
		}, false, true},
		{"message with a new phase", func(s *v1alpha1.RolloutStatus) {
			s.Phase, s.Message = v1alpha1.RolloutPhasePaused, "CanaryPauseStep"
		}, false, false},
		{"condition status", func(s *v1alpha1.RolloutStatus) { s.Conditions[0].Status = corev1.ConditionFalse }, false, false},
		{"background run started", started, false, true},
		{"background run started, with counts", func(s *v1alpha1.RolloutStatus) { started(s); s.AvailableReplicas = 3 }, false, true},
		{"background run started, with a message", func(s *v1alpha1.RolloutStatus) {
			started(s)
			s.Canary.CurrentBackgroundAnalysisRunStatus.Message = "metric web is slow"
		}, false, false},
		{"background run completed", func(s *v1alpha1.RolloutStatus) {
			s.Canary.CurrentBackgroundAnalysisRunStatus.Status = v1alpha1.AnalysisPhaseSuccessful
		}, false, false},
		{"another background run", func(s *v1alpha1.RolloutStatus) {
			s.Canary.CurrentBackgroundAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "ro-abc-2.1", Status: v1alpha1.AnalysisPhaseRunning}
		}, false, false},
		{"step run named", func(s *v1alpha1.RolloutStatus) {
			s.Canary.CurrentStepAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "ro-abc-2-1", Status: v1alpha1.AnalysisPhasePending}
		}, false, false},
		{"background run gone", func(s *v1alpha1.RolloutStatus) { s.Canary.CurrentBackgroundAnalysisRunStatus = nil }, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := base()
			tc.change(next)
			if got := countsOnly(base(), next, tc.routed); got != tc.want {
				t.Fatalf("countsOnly = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWriteClockHolds(t *testing.T) {
	var w writeClock
	k := types.NamespacedName{Namespace: "ns", Name: "ro"}
	now := time.Unix(100, 0)
	if got := w.holdFor(k, now); got != 0 {
		t.Fatalf("hold before any write = %s", got)
	}
	w.wrote(k, now)
	if got := w.holdFor(k, now.Add(500*time.Millisecond)); got != countsDebounce-500*time.Millisecond {
		t.Fatalf("hold = %s", got)
	}
	if got := w.holdFor(k, now.Add(countsDebounce)); got != 0 {
		t.Fatalf("hold after the window = %s", got)
	}
	w.forget(k)
	if got := w.holdFor(k, now); got != 0 {
		t.Fatalf("hold after forget = %s", got)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestChangedFieldsNamesFieldsAndConditions(t *testing.T) {
	prev := &v1alpha1.RolloutStatus{
		Replicas: 2, Phase: v1alpha1.RolloutPhaseProgressing,
		Conditions: []v1alpha1.RolloutCondition{
			{Type: v1alpha1.RolloutProgressing, Status: "True", Reason: "ReplicaSetUpdated"},
			{Type: v1alpha1.RolloutPaused, Status: "True", Reason: "RolloutPaused"},
		},
	}
	next := prev.DeepCopy()
	next.Replicas = 3
	next.CurrentStepIndex = ptrTo(int32(1))
	next.Conditions[0].Reason = "RolloutResumed"
	next.Conditions = next.Conditions[:1]
	next.Conditions[0].LastUpdateTime = metav1.Now()
	got := changedFields(prev, next)
	want := []string{"currentStepIndex", "replicas", "condition/Progressing", "condition/Paused"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changedFields = %v, want %v", got, want)
	}
	if got := changedFields(prev, prev.DeepCopy()); len(got) != 0 {
		t.Fatalf("changedFields of equal statuses = %v, want none", got)
	}
}

func TestStatusPatchTurnsTheOldStatusIntoTheNew(t *testing.T) {
	ro := &v1alpha1.Rollout{}
	ro.ResourceVersion = "42"
	ro.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: "app:1"}}
	ro.Status = v1alpha1.RolloutStatus{
		Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep", CurrentStepIndex: ptrTo(int32(1)),
		PauseConditions: []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.Unix(100, 0)}},
		ControllerPause: true, Replicas: 3,
	}
	next := ro.Status.DeepCopy()
	next.Phase, next.Message, next.CurrentStepIndex = v1alpha1.RolloutPhaseProgressing, "more replicas need to be updated", ptrTo(int32(2))
	next.PauseConditions, next.ControllerPause = nil, false

	body, err := statuspatch.Guarded(ro.ResourceVersion, ro.Status, next)
	if err != nil {
		t.Fatal(err)
	}
	var patch struct {
		Metadata map[string]string `json:"metadata"`
		Status   json.RawMessage   `json:"status"`
		Spec     json.RawMessage   `json:"spec"`
	}
	if err := json.Unmarshal(body, &patch); err != nil {
		t.Fatalf("patch is not JSON: %v: %s", err, body)
	}
	if patch.Metadata["resourceVersion"] != "42" {
		t.Fatalf("patch does not carry the read version: %s", body)
	}
	if patch.Spec != nil {
		t.Fatalf("patch touches the spec: %s", body)
	}
	before, _ := json.Marshal(ro.Status)
	merged, err := jsonpatch.MergePatch(before, patch.Status)
	if err != nil {
		t.Fatal(err)
	}
	var got v1alpha1.RolloutStatus
	if err := json.Unmarshal(merged, &got); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(&got, next) {
		t.Fatalf("old status + patch = %+v, want %+v", got, *next)
	}
}

// TestSplitAfterStatus: metadata writes on the Rollout and the ending of
// runs the status no longer names go after the status write, everything
// else before it, each side in the plan's order.
func TestSplitAfterStatus(t *testing.T) {
	plan := []decide.Action{
		decide.ScaleReplicaSet{Name: "ro-old", From: 1, To: 0},
		decide.TerminateAnalysisRun{Name: "ro-new-2"},
		decide.CreateAnalysisRun{Run: &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "ro-new-2-1"}}},
		decide.SetRolloutRevision{Revision: "2"},
		decide.DeleteAnalysisRun{Name: "ro-older-1"},
		decide.ScaleReplicaSet{Name: "ro-new", From: 1, To: 2},
	}
	before, after := splitAfterStatus(plan)
	wantBefore := []decide.Action{plan[0], plan[2], plan[5]}
	wantAfter := []decide.Action{plan[1], plan[3], plan[4]}
	if !reflect.DeepEqual(before, wantBefore) {
		t.Fatalf("before the status write: %#v, want %#v", before, wantBefore)
	}
	if !reflect.DeepEqual(after, wantAfter) {
		t.Fatalf("after the status write: %#v, want %#v", after, wantAfter)
	}
}
