package decide

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// experimentStep is a baseline (stable) and a canary template, the second
// with a weight, and one analysis fed the canary's hash.
func experimentStep(weight *int32) *v1alpha1.RolloutExperimentStep {
	latest := v1alpha1.Latest
	return &v1alpha1.RolloutExperimentStep{
		Duration: "30s",
		Templates: []v1alpha1.RolloutExperimentTemplate{
			{Name: "baseline", SpecRef: v1alpha1.StableSpecRef, Replicas: ptr(int32(1))},
			{Name: "canary", SpecRef: v1alpha1.CanarySpecRef, Weight: weight,
				Metadata: v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "exp"}, Annotations: map[string]string{"note": "x"}}},
		},
		Analyses: []v1alpha1.RolloutExperimentStepAnalysisTemplateRef{{
			Name: "smoke", TemplateName: "smoke", RequiredForCompletion: true,
			Args: []v1alpha1.AnalysisRunArgument{{Name: "hash", ValueFrom: &v1alpha1.ArgumentValueFrom{PodTemplateHashValue: &latest}}, {Name: "env", Value: "prod"}},
		}},
		AnalysisRunMetadata: v1alpha1.AnalysisRunMetadata{Labels: map[string]string{"team": "shop"}},
	}
}

// liveExperiment returns the only Experiment that is neither finished nor
// terminated, failing otherwise.
func (s *sim) liveExperiment() *v1alpha1.Experiment {
	s.t.Helper()
	var found *v1alpha1.Experiment
	for _, ex := range s.exps {
		if !ex.Spec.Terminate && !ex.Status.Phase.Completed() {
			if found != nil {
				s.t.Fatalf("two live Experiments: %s and %s", found.Name, ex.Name)
			}
			found = ex
		}
	}
	if found == nil {
		s.t.Fatalf("no live Experiment among %v", sortedKeys(s.exps))
	}
	return found
}

// experimentSim is the manual-gates Rollout with steps setWeight 20, an
// experiment, setWeight 60, updated to rails:6.1 and waiting at the
// experiment.
func experimentSim(t *testing.T) (*sim, string, string) {
	s := newManualGatesSim(t)
	s.ro.Labels = map[string]string{"app.kubernetes.io/name": "rails"}
	s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Experiment: experimentStep(nil)}, {SetWeight: ptr(int32(60))}}
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	if stepIndex(s) != 1 {
		t.Fatalf("step %d, want waiting at the experiment step 1", stepIndex(s))
	}
	return s, v1, v2
}

func TestExperimentStepCreatesTheReferenceExperiment(t *testing.T) {
	s, v1, v2 := experimentSim(t)
	ex := s.liveExperiment()
	if want := "rails-" + v2 + "-2-1"; ex.Name != want {
		t.Fatalf("Experiment name %q, want %q (rollout-hash-revision-step)", ex.Name, want)
	}
	if s.ro.Status.Canary.CurrentExperiment != ex.Name {
		t.Fatalf("status.canary.currentExperiment %q, want %q", s.ro.Status.Canary.CurrentExperiment, ex.Name)
	}
	if ex.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != v2 || ex.Labels["app.kubernetes.io/name"] != "rails" {
		t.Fatalf("labels %v, want the Rollout's labels and the pod-template hash", ex.Labels)
	}
	if ex.Annotations[v1alpha1.RevisionAnnotation] != "2" {
		t.Fatalf("annotations %v, want revision 2", ex.Annotations)
	}
	if ref := metav1.GetControllerOf(ex); ref == nil || ref.Kind != "Rollout" || ref.UID != s.ro.UID {
		t.Fatalf("controller %+v, want the Rollout", ref)
	}
	if ex.Spec.Duration != "30s" || len(ex.Spec.Templates) != 2 || ex.Spec.AnalysisRunMetadata.Labels["team"] != "shop" {
		t.Fatalf("spec %+v", ex.Spec)
	}
	base, canary := ex.Spec.Templates[0], ex.Spec.Templates[1]
	if base.Template.Spec.Containers[0].Image != "rails:6.0" || base.Template.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != v1 || base.Service != nil {
		t.Fatalf("baseline template %+v, want the stable's Pod template and no Service", base)
	}
	if canary.Template.Spec.Containers[0].Image != "rails:6.1" || canary.Template.Labels["role"] != "exp" ||
		canary.Selector.MatchLabels["role"] != "exp" || canary.Template.Annotations["note"] != "x" {
		t.Fatalf("canary template %+v, want the new Pod template with the step's metadata in template and selector", canary)
	}
	a := ex.Spec.Analyses
	if len(a) != 1 || !a[0].RequiredForCompletion || len(a[0].Args) != 2 || *a[0].Args[0].Value != v2 || *a[0].Args[1].Value != "prod" {
		t.Fatalf("analyses %+v, want the latest hash and the literal resolved", a)
	}
	if !strings.Contains(s.ro.Status.Message, "waiting for Experiment "+ex.Name) {
		t.Fatalf("message %q does not say what the step waits on", s.ro.Status.Message)
	}
	if !s.hasEvent(ReasonExperimentCreated) {
		t.Fatalf("no ExperimentCreated event:\n%s", joinEvents(s.events))
	}
	// The stable Service keeps the stable version while the step waits.
	wantSelectors(t, s, v1, v2)
}

func TestExperimentStepSuccessMovesOn(t *testing.T) {
	s, v1, v2 := experimentSim(t)
	ex := s.liveExperiment()
	ex.Status.Phase = v1alpha1.AnalysisPhaseRunning
	s.settle()
	if stepIndex(s) != 1 {
		t.Fatalf("step %d while the Experiment runs, want 1", stepIndex(s))
	}
	ex.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	wantCounts(t, s, []string{v2, v1}, 5, 0)
	if s.ro.Status.Canary.CurrentExperiment != "" {
		t.Fatalf("currentExperiment %q after the step, want none", s.ro.Status.Canary.CurrentExperiment)
	}
	if len(s.exps) != 1 || s.exps[ex.Name].Spec.Terminate {
		t.Fatalf("the successful Experiment should be kept as history and not terminated: %v", sortedKeys(s.exps))
	}
}

func TestExperimentStepFailureAbortsAndRetryStartsAnother(t *testing.T) {
	s, v1, v2 := experimentSim(t)
	ex := s.liveExperiment()
	ex.Status.Phase = v1alpha1.AnalysisPhaseFailed
	ex.Status.Message = "Metric \"smoke\" assessed Failed"
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	wantCounts(t, s, []string{v2, v1}, 0, 5)
	wantSelectors(t, s, v1, v1)
	if !strings.Contains(s.ro.Status.Message, "Experiment "+ex.Name+" Failed") || !strings.Contains(s.ro.Status.Message, `"smoke"`) {
		t.Fatalf("abort message %q does not name the Experiment and its cause", s.ro.Status.Message)
	}
	s.ro.Status.Abort = false
	s.settle()
	again := s.liveExperiment()
	if again.Name != ex.Name+"-1" {
		t.Fatalf("retry Experiment %q, want %q", again.Name, ex.Name+"-1")
	}
}

func TestExperimentStepInconclusivePausesForAPerson(t *testing.T) {
	s, _, _ := experimentSim(t)
	s.liveExperiment().Status.Phase = v1alpha1.AnalysisPhaseInconclusive
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	if p := s.ro.Status.PauseConditions; len(p) != 1 || p[0].Reason != v1alpha1.PauseReasonInconclusiveExperiment {
		t.Fatalf("pause conditions %+v, want InconclusiveExperiment", p)
	}
	s.promote()
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
}

func TestExperimentStepTerminatedOnPromoteFullAndAbort(t *testing.T) {
	for _, tc := range []struct {
		name  string
		act   func(*sim)
		phase v1alpha1.RolloutPhase
	}{
		{"promote full", func(s *sim) { s.ro.Status.PromoteFull = true }, v1alpha1.RolloutPhaseHealthy},
		{"abort", func(s *sim) { s.ro.Status.Abort = true }, v1alpha1.RolloutPhaseDegraded},
		{"promote past the step", func(s *sim) { s.ro.Status.CurrentStepIndex = ptr(int32(2)) }, v1alpha1.RolloutPhaseHealthy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := experimentSim(t)
			ex := s.liveExperiment()
			ex.Status.Phase = v1alpha1.AnalysisPhaseRunning
			s.settle()
			tc.act(s)
			p := s.reconcile()
			terminated := false
			for _, a := range p.Actions {
				if a, ok := a.(TerminateExperiment); ok && a.Name == ex.Name {
					terminated = true
				}
			}
			if !terminated {
				t.Fatalf("no TerminateExperiment of %s in %v", ex.Name, describeAll(p.Actions))
			}
			s.tick(time.Second)
			s.settle()
			wantPhase(t, s, tc.phase)
			if !ex.Spec.Terminate {
				t.Fatalf("Experiment %s not terminated", ex.Name)
			}
		})
	}
}

func TestExperimentStepWaitsWhilePausedByAPerson(t *testing.T) {
	s, _, _ := experimentSim(t)
	ex := s.liveExperiment()
	ex.Status.Phase = v1alpha1.AnalysisPhaseRunning
	s.ro.Spec.Paused = true
	s.settle()
	if ex.Spec.Terminate || s.ro.Status.Canary.CurrentExperiment != ex.Name {
		t.Fatalf("a manual pause must not end the Experiment (terminate %v, current %q)", ex.Spec.Terminate, s.ro.Status.Canary.CurrentExperiment)
	}
}

func TestExperimentHistoryLimits(t *testing.T) {
	s, v1, v2 := experimentSim(t)
	s.ro.Spec.Analysis = &v1alpha1.AnalysisRunStrategy{SuccessfulRunHistoryLimit: ptr(int32(1)), UnsuccessfulRunHistoryLimit: ptr(int32(1))}
	old := func(name, hash string, phase v1alpha1.AnalysisPhase, age time.Duration) {
		s.exps[name] = &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(s.now.Add(-age)), Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash}},
			Status: v1alpha1.ExperimentStatus{Phase: phase}}
	}
	old("ok-old", v1, v1alpha1.AnalysisPhaseSuccessful, 3*time.Hour)
	old("ok-new", v2, v1alpha1.AnalysisPhaseSuccessful, 2*time.Hour)
	old("bad-old", v1, v1alpha1.AnalysisPhaseFailed, 3*time.Hour)
	old("bad-new", v1, v1alpha1.AnalysisPhaseInconclusive, 2*time.Hour)
	old("gone", "no-such-hash", v1alpha1.AnalysisPhaseSuccessful, time.Hour)
	s.reconcile()
	got := strings.Join(sortedKeys(s.exps), ",")
	live := s.liveExperiment().Name
	if want := strings.Join(sortedKeys(map[string]bool{"bad-new": true, "ok-new": true, live: true}), ","); got != want {
		t.Fatalf("Experiments kept %s, want %s", got, want)
	}
}

func TestRoutedExperimentWeights(t *testing.T) {
	s := routedSim(t)
	c := s.ro.Spec.Strategy.Canary
	c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(5))}, {Experiment: experimentStep(ptr(int32(10)))}, {SetWeight: ptr(int32(50))}, {Pause: &v1alpha1.RolloutPause{}}}
	s.settle()
	s.setImage("rails:6.1")
	s.settle()
	if stepIndex(s) != 1 {
		t.Fatalf("step %d, want 1", stepIndex(s))
	}
	ex := s.liveExperiment()
	if ex.Spec.Templates[1].Service == nil || ex.Spec.Templates[0].Service != nil {
		t.Fatalf("only the weighted template gets a Service: %+v", ex.Spec.Templates)
	}
	if len(s.traffic.Additional) != 0 {
		t.Fatalf("experiment traffic %+v before the Experiment runs", s.traffic.Additional)
	}
	ex.Status.Phase = v1alpha1.AnalysisPhaseRunning
	ex.Status.TemplateStatuses = []v1alpha1.TemplateStatus{
		{Name: "baseline", PodTemplateHash: "b1"},
		{Name: "canary", ServiceName: "rails-exp-canary", PodTemplateHash: "c1"},
	}
	s.settle()
	if a := s.traffic.Additional; len(a) != 1 || a[0].ServiceName != "rails-exp-canary" || a[0].Weight != 10 || s.traffic.StableWeight() != 85 {
		t.Fatalf("routers show %+v, want 10 to rails-exp-canary and 85 to stable", s.traffic)
	}
	w := s.ro.Status.Canary.Weights
	if len(w.Additional) != 1 || w.Additional[0].ServiceName != "rails-exp-canary" || w.Additional[0].PodTemplateHash != "c1" || w.Stable.Weight != 85 || w.Canary.Weight != 5 {
		t.Fatalf("status.canary.weights %+v", w)
	}
	ex.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
	p := s.reconcile()
	if len(s.traffic.Additional) != 0 || len(s.ro.Status.Canary.Weights.Additional) != 0 {
		t.Fatalf("experiment traffic kept after it ended: %+v (%v)", s.traffic, describeAll(p.Actions))
	}
	s.settle()
	if stepIndex(s) != 3 {
		t.Fatalf("step %d, want the pause at 3", stepIndex(s))
	}
}

func TestRoutedExperimentTrafficLeavesFirstOnAbortAndPromoteFull(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(*sim)
	}{
		{"abort", func(s *sim) { s.ro.Status.Abort = true }},
		{"promote full", func(s *sim) { s.ro.Status.PromoteFull = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := routedSim(t)
			c := s.ro.Spec.Strategy.Canary
			c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(5))}, {Experiment: experimentStep(ptr(int32(10)))}}
			s.settle()
			s.setImage("rails:6.1")
			s.settle()
			ex := s.liveExperiment()
			ex.Status.Phase = v1alpha1.AnalysisPhaseRunning
			ex.Status.TemplateStatuses = []v1alpha1.TemplateStatus{{Name: "canary", ServiceName: "rails-exp-canary", PodTemplateHash: "c1"}}
			s.settle()
			if len(s.traffic.Additional) != 1 {
				t.Fatalf("no experiment traffic while it runs: %+v", s.traffic)
			}
			tc.act(s)
			p := s.reconcile()
			sync, term := -1, -1
			for i, a := range p.Actions {
				switch a := a.(type) {
				case SyncTraffic:
					if len(a.Desired.Additional) == 0 {
						sync = i
					}
				case TerminateExperiment:
					term = i
				}
			}
			if sync < 0 || term < 0 || sync > term {
				t.Fatalf("want the experiment's traffic removed before it is terminated: %v", describeAll(p.Actions))
			}
		})
	}
}

func TestExperimentMissingFromTheCacheIsCreatedUnderTheSameName(t *testing.T) {
	s, _, _ := experimentSim(t)
	ex := s.liveExperiment()
	ex.Status.Phase = v1alpha1.AnalysisPhaseRunning
	s.settle()
	// The cache has not seen the Experiment the status names (or someone
	// deleted it): the next decision asks for the same name, not a new one.
	delete(s.exps, ex.Name)
	p := s.reconcile()
	var created []string
	for _, a := range p.Actions {
		if c, ok := a.(CreateExperiment); ok {
			created = append(created, c.Experiment.Name)
		}
	}
	if len(created) != 1 || created[0] != ex.Name || s.ro.Status.Canary.CurrentExperiment != ex.Name {
		t.Fatalf("created %v, current %q; want %s again", created, s.ro.Status.Canary.CurrentExperiment, ex.Name)
	}
}

// TestExperimentNameHeldByAnotherTakesTheNext: the status names an
// Experiment the cache does not hold, and a create found that name held by
// an object that is not the Rollout's. Creating it again would fail at
// every pass: the step gets an Experiment under the next name, as the
// reference's create does when it collides, and the status names that one.
func TestExperimentNameHeldByAnotherTakesTheNext(t *testing.T) {
	s, _, _ := experimentSim(t)
	ex := s.liveExperiment()
	delete(s.exps, ex.Name)
	s.heldExps = map[string]bool{ex.Name: true, ex.Name + "-1": true}
	p := s.reconcile()
	var created []string
	for _, a := range p.Actions {
		if c, ok := a.(CreateExperiment); ok {
			created = append(created, c.Experiment.Name)
		}
	}
	want := ex.Name + "-2"
	if len(created) != 1 || created[0] != want || s.ro.Status.Canary.CurrentExperiment != want {
		t.Fatalf("created %v, current %q; want %s", created, s.ro.Status.Canary.CurrentExperiment, want)
	}
}

// TestRunNameHeldByAnotherTakesTheNext: the background run's name and the
// next are held by objects that are not the Rollout's; the run is created
// as base.2 and the status names it.
func TestRunNameHeldByAnotherTakesTheNext(t *testing.T) {
	s := newManualGatesSim(t)
	s.templates.Templates["smoke"] = webTemplate("smoke")
	s.ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: *analysisRef("smoke")}
	s.settle()
	s.setImage("rails:6.1")
	base := "rails-" + s.hashOf("rails:6.1") + "-2"
	s.heldRuns = map[string]bool{base: true, base + ".1": true}
	s.reconcile()
	bg := s.runOf(v1alpha1.RolloutTypeBackgroundRunLabel)
	if bg.Name != base+".2" {
		t.Fatalf("background run %s, want %s.2", bg.Name, base)
	}
	if st := s.ro.Status.Canary.CurrentBackgroundAnalysisRunStatus; st == nil || st.Name != bg.Name {
		t.Fatalf("status names %+v, want %s", st, bg.Name)
	}
}

func TestExperimentStepLongerThanTheProgressDeadline(t *testing.T) {
	s, _, _ := experimentSim(t)
	s.ro.Spec.ProgressDeadlineSeconds = ptr(int32(60))
	s.ro.Spec.ProgressDeadlineAbort = true
	s.liveExperiment().Status.Phase = v1alpha1.AnalysisPhaseRunning
	for i := 0; i < 10; i++ {
		s.tick(time.Minute)
		s.reconcile()
	}
	if c := FindCondition(&s.ro.Status, v1alpha1.RolloutProgressing); c == nil || c.Reason == ReasonProgressDeadline || s.ro.Status.Abort {
		t.Fatalf("progressing %+v abort %v: an experiment step must not run out of progress deadline", c, s.ro.Status.Abort)
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseProgressing)
}

func TestRoutedExperimentTrafficLeavesWhenItEndsWhileHeld(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold func(*sim)
	}{
		{"paused by a person", func(s *sim) { s.ro.Spec.Paused = true }},
		{"inconclusive background analysis", func(s *sim) {
			s.ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonInconclusiveAnalysis, StartTime: metav1.NewTime(s.now)}}
			s.ro.Status.ControllerPause = true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := routedSim(t)
			c := s.ro.Spec.Strategy.Canary
			c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(5))}, {Experiment: experimentStep(ptr(int32(10)))}}
			s.settle()
			s.setImage("rails:6.1")
			s.settle()
			ex := s.liveExperiment()
			ex.Status.Phase = v1alpha1.AnalysisPhaseRunning
			ex.Status.TemplateStatuses = []v1alpha1.TemplateStatus{{Name: "canary", ServiceName: "rails-exp-canary", PodTemplateHash: "c1"}}
			s.settle()
			tc.hold(s)
			s.reconcile()
			if len(s.traffic.Additional) != 1 {
				t.Fatalf("the experiment's share went while it still runs: %+v", s.traffic)
			}
			// The Experiment ends while the counts are held; its Pods go
			// after its scale-down delay, so its share must go now.
			ex.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
			s.reconcile()
			if len(s.traffic.Additional) != 0 || s.traffic.CanaryWeight != 5 || len(s.ro.Status.Canary.Weights.Additional) != 0 {
				t.Fatalf("routers show %+v, status %+v; want the canary's 5 and no experiment share", s.traffic, s.ro.Status.Canary.Weights)
			}
		})
	}
}
