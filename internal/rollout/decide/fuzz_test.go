package decide

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

// Bits of FuzzDecide's flags argument.
const (
	fuzzHasIndex = 1 << iota
	fuzzPauseCondition
	fuzzControllerPause
	fuzzAbort
	fuzzPromoteFull
	fuzzSpecPaused
	fuzzRouted
	fuzzAbortedAt
	fuzzInconclusive
	fuzzBlueGreen
	fuzzNoStable
	fuzzCanaryIsStable
)

// fuzzSteps are the step lists FuzzDecide picks from; weight replaces every
// setWeight.
func fuzzSteps(kind uint8, weight int32, pause string) []v1alpha1.CanaryStep {
	dur := intstr.FromString(pause)
	lists := [][]v1alpha1.CanaryStep{
		{{SetWeight: &weight}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: &weight}, {Pause: &v1alpha1.RolloutPause{Duration: &dur}}},
		{{SetWeight: &weight}, {Analysis: analysisRef("smoke")}, {SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: &weight}}},
		{{Pause: &v1alpha1.RolloutPause{}}, {Pause: &v1alpha1.RolloutPause{}}},
		{{Experiment: &v1alpha1.RolloutExperimentStep{}}, {SetWeight: &weight}},
		nil,
	}
	return lists[int(kind)%len(lists)]
}

// FuzzDecide feeds Decide Rollouts and statuses that anyone with write access
// to them could produce (step indices, weights, replicas, pause bookkeeping,
// abort and promote flags out of any order) and ReplicaSets in any state, and
// checks that every decision returns, with a step index within the steps.
func FuzzDecide(f *testing.F) {
	f.Add(int32(1), int32(10), int32(5), int32(5), int32(1), int32(1), uint16(fuzzHasIndex|fuzzPauseCondition|fuzzControllerPause), int64(30), uint8(0), "20s")
	f.Add(int32(-1), int32(10), int32(5), int32(5), int32(1), int32(1), uint16(fuzzHasIndex|fuzzPauseCondition), int64(0), uint8(0), "20s")
	f.Add(int32(7), int32(50), int32(3), int32(0), int32(3), int32(2), uint16(fuzzHasIndex|fuzzRouted), int64(-5), uint8(1), "1h")
	f.Add(int32(0), int32(150), int32(-2), int32(1), int32(9), int32(0), uint16(fuzzAbort|fuzzAbortedAt|fuzzBlueGreen), int64(1), uint8(2), "x")
	f.Add(int32(2147483647), int32(-1), int32(0), int32(0), int32(0), int32(0), uint16(0xffff), int64(1<<40), uint8(3), "")
	f.Fuzz(func(t *testing.T, idx, weight, replicas, stableAvail, canaryReplicas, canaryAvail int32, flags uint16, pauseAge int64, kind uint8, pause string) {
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		ro := manualGates()
		ro.UID, ro.Namespace, ro.Generation = "rollout-uid", "default", 1
		ro.Spec.Replicas = &replicas
		c := ro.Spec.Strategy.Canary
		c.Steps = fuzzSteps(kind, weight, pause)
		if flags&fuzzRouted != 0 {
			c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "rails"}}
		}
		if flags&fuzzBlueGreen != 0 {
			ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "rails-stable", PreviewService: "rails-canary"}}
		}
		ro.Spec.Paused = flags&fuzzSpecPaused != 0

		stableTmpl := ro.Spec.Template.DeepCopy()
		stableTmpl.Spec.Containers[0].Image = "rails:5.0"
		v1 := podhash.Template(stableTmpl, nil)
		v2 := podhash.Template(&ro.Spec.Template, nil)
		mkRS := func(h string, tmpl *corev1.PodTemplateSpec, spec, avail int32, rev string) *appsv1.ReplicaSet {
			t := tmpl.DeepCopy()
			t.Labels = map[string]string{"app": "rails", v1alpha1.DefaultRolloutUniqueLabelKey: h}
			return &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Name: "rails-" + h, Namespace: "default", UID: types.UID(h), Generation: 1,
					Labels:          t.Labels,
					Annotations:     map[string]string{v1alpha1.RevisionAnnotation: rev},
					OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}},
				Spec:   appsv1.ReplicaSetSpec{Replicas: &spec, Selector: &metav1.LabelSelector{MatchLabels: t.Labels}, Template: *t},
				Status: appsv1.ReplicaSetStatus{Replicas: spec, ReadyReplicas: avail, AvailableReplicas: avail, ObservedGeneration: 1},
			}
		}
		snap := Snapshot{Now: now, Rollout: ro, Services: map[string]*corev1.Service{},
			Templates: template.Lookup{Templates: map[string]*v1alpha1.AnalysisTemplate{"smoke": webTemplate("smoke")}}}
		for _, name := range []string{"rails-stable", "rails-canary"} {
			snap.Services[name] = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
				Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "rails", v1alpha1.DefaultRolloutUniqueLabelKey: v1}}}
		}
		if flags&fuzzNoStable == 0 {
			snap.ReplicaSets = append(snap.ReplicaSets, mkRS(v1, stableTmpl, replicas, stableAvail, "1"))
		}
		snap.ReplicaSets = append(snap.ReplicaSets, mkRS(v2, &ro.Spec.Template, canaryReplicas, canaryAvail, "2"))

		st := &ro.Status
		st.CurrentPodHash, st.StableRS, st.CurrentStepHash = v2, v1, podhash.Steps(c.Steps)
		if flags&fuzzCanaryIsStable != 0 {
			st.StableRS = v2
		}
		if flags&fuzzHasIndex != 0 {
			st.CurrentStepIndex = &idx
		}
		start := metav1.NewTime(now.Add(-time.Duration(pauseAge) * time.Second))
		if flags&fuzzPauseCondition != 0 {
			st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: start})
		}
		if flags&fuzzInconclusive != 0 {
			st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: v1alpha1.PauseReasonInconclusiveAnalysis, StartTime: start})
		}
		st.ControllerPause = flags&fuzzControllerPause != 0
		st.Abort = flags&fuzzAbort != 0
		st.PromoteFull = flags&fuzzPromoteFull != 0
		if flags&fuzzAbortedAt != 0 {
			st.AbortedAt = &start
		}

		before := ro.DeepCopy()
		p := Decide(snap)
		if !reflect.DeepEqual(before, ro) {
			t.Fatal("Decide modified its snapshot")
		}
		// An invalid spec stops the decision before the steps are read, and
		// leaves the status as it was.
		invalid := FindCondition(&p.Status, v1alpha1.InvalidSpec) != nil
		if i := p.Status.CurrentStepIndex; i != nil && !invalid && ro.Spec.Strategy.Canary != nil && (*i < 0 || int(*i) > len(c.Steps)) {
			t.Fatalf("plan leaves status.currentStepIndex at %d with %d steps", *i, len(c.Steps))
		}
	})
}
