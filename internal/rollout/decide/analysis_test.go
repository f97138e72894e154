package decide

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func webTemplate(name string) *v1alpha1.AnalysisTemplate {
	return &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1alpha1.AnalysisTemplateSpec{
			Args: []v1alpha1.Argument{{Name: "hash"}},
			Metrics: []v1alpha1.Metric{{Name: "errors", SuccessCondition: "result.ok",
				Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x/{{args.hash}}"}}}},
		},
	}
}

func analysisRef(name string) *v1alpha1.RolloutAnalysis {
	latest := v1alpha1.Latest
	return &v1alpha1.RolloutAnalysis{
		Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: name}},
		Args:      []v1alpha1.AnalysisRunArgument{{Name: "hash", ValueFrom: &v1alpha1.ArgumentValueFrom{PodTemplateHashValue: &latest}}},
	}
}

// runOf returns the only run of a kind, failing otherwise.
func (s *sim) runOf(kind string) *v1alpha1.AnalysisRun {
	s.t.Helper()
	var found *v1alpha1.AnalysisRun
	for _, r := range s.runs {
		if r.Labels[v1alpha1.RolloutTypeLabel] == kind && !r.Spec.Terminate && !r.Status.Phase.Completed() {
			if found != nil {
				s.t.Fatalf("two live %s runs: %s and %s", kind, found.Name, r.Name)
			}
			found = r
		}
	}
	if found == nil {
		s.t.Fatalf("no live %s run among %v", kind, sortedKeys(s.runs))
	}
	return found
}

func TestCanaryStepAnalysisGatesTheStep(t *testing.T) {
	s := newManualGatesSim(t)
	s.templates.Templates["smoke"] = webTemplate("smoke")
	c := s.ro.Spec.Strategy.Canary
	c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: analysisRef("smoke")}, {SetWeight: ptr(int32(60))}}
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	if stepIndex(s) != 1 {
		t.Fatalf("step %d, want waiting at the analysis step 1", stepIndex(s))
	}
	run := s.runOf(v1alpha1.RolloutTypeStepLabel)
	if run.Labels[v1alpha1.RolloutCanaryStepIndexLabel] != "1" || run.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != v2 {
		t.Fatalf("run labels %v", run.Labels)
	}
	if got := *run.Spec.Args[0].Value; got != v2 {
		t.Fatalf("hash argument %q, want the latest hash %q", got, v2)
	}
	if s.ro.Status.Canary.CurrentStepAnalysisRunStatus == nil || s.ro.Status.Canary.CurrentStepAnalysisRunStatus.Name != run.Name {
		t.Fatalf("status does not name the step run: %+v", s.ro.Status.Canary)
	}
	run.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
}

func TestCanaryStepAnalysisFailureAborts(t *testing.T) {
	s := newManualGatesSim(t)
	s.templates.Templates["smoke"] = webTemplate("smoke")
	s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: analysisRef("smoke")}}
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	run := s.runOf(v1alpha1.RolloutTypeStepLabel)
	run.Status.Phase = v1alpha1.AnalysisPhaseFailed
	run.Status.Message = `metric "errors" assessed Failed due to failed (1) > failureLimit (0)`
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	wantCounts(t, s, []string{v2, v1}, 0, 5)
	if !strings.Contains(s.ro.Status.Message, `metric "errors"`) {
		t.Fatalf("abort message %q does not name the metric", s.ro.Status.Message)
	}
	// Retry measures again with a new run.
	s.ro.Status.Abort = false
	s.settle()
	retried := s.runOf(v1alpha1.RolloutTypeStepLabel)
	if retried.Name == run.Name {
		t.Fatalf("the retry reused the failed run %s", run.Name)
	}
}

func TestCanaryInconclusiveAnalysisPausesForAPerson(t *testing.T) {
	s := newManualGatesSim(t)
	s.templates.Templates["smoke"] = webTemplate("smoke")
	s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: analysisRef("smoke")}}
	s.settle()
	s.setImage("rails:6.1")
	s.settle()
	s.runOf(v1alpha1.RolloutTypeStepLabel).Status.Phase = v1alpha1.AnalysisPhaseInconclusive
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	if p := s.ro.Status.PauseConditions; len(p) != 1 || p[0].Reason != v1alpha1.PauseReasonInconclusiveAnalysis {
		t.Fatalf("pause conditions %+v", p)
	}
	s.promote()
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
}

func TestCanaryBackgroundAnalysis(t *testing.T) {
	s := newManualGatesSim(t)
	s.templates.Templates["smoke"] = webTemplate("smoke")
	c := s.ro.Spec.Strategy.Canary
	c.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: *analysisRef("smoke"), StartingStep: ptr(int32(1))}
	v1 := s.hashOf("rails:6.0")
	s.settle()
	if len(s.runs) != 0 {
		t.Fatalf("the first version started analysis: %v", sortedKeys(s.runs))
	}
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.reconcile()
	if len(s.runs) != 0 {
		t.Fatal("background analysis started before its starting step")
	}
	s.settle() // paused at step 1 with the run measuring
	bg := s.runOf(v1alpha1.RolloutTypeBackgroundRunLabel)
	bg.Status.Phase = v1alpha1.AnalysisPhaseError
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	wantCounts(t, s, []string{v2, v1}, 0, 5)

	// A good release: the background run is terminated on completion.
	s.setImage("rails:6.2")
	s.settle()
	good := s.runOf(v1alpha1.RolloutTypeBackgroundRunLabel)
	s.ro.Status.PromoteFull = true
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	if !s.runs[good.Name].Spec.Terminate {
		t.Fatal("the background run of a completed update was not terminated")
	}
}

func TestCanaryMissingTemplateIsInvalidSpec(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{Analysis: analysisRef("nope")}}
	p := s.reconcile()
	if len(p.Actions) != 0 {
		t.Fatalf("an invalid spec planned writes: %v", p.Actions)
	}
	c := FindCondition(&s.ro.Status, v1alpha1.InvalidSpec)
	if c == nil || !strings.Contains(c.Message, `AnalysisTemplate "nope" not found`) {
		t.Fatalf("InvalidSpec %+v", c)
	}
}

func TestBlueGreenPrePromotionAnalysis(t *testing.T) {
	s, v1, v2 := blueGreenUpdated(t, true, func(s *sim) {
		s.templates.Templates["smoke"] = webTemplate("smoke")
		s.ro.Spec.Strategy.BlueGreen.PrePromotionAnalysis = analysisRef("smoke")
	})
	if svcHash(s, "api-active") != v1 {
		t.Fatal("promoted before the pre-promotion analysis finished")
	}
	pre := s.runOf(v1alpha1.RolloutTypePrePromotionLabel)
	pre.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
	s.settle()
	if svcHash(s, "api-active") != v2 || s.ro.Status.StableRS != v2 {
		t.Fatal("not promoted after a successful pre-promotion analysis")
	}

	// A failing test leaves production alone and scales the preview down later.
	s.setImage("api:3")
	v3 := s.hashOf("api:3")
	s.settle()
	s.runOf(v1alpha1.RolloutTypePrePromotionLabel).Status.Phase = v1alpha1.AnalysisPhaseFailed
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	if svcHash(s, "api-active") != v2 {
		t.Fatal("a failed pre-promotion analysis moved production")
	}
	s.tick(31 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v3, v2}, 0, 3)
}

func TestBlueGreenPostPromotionFailureSwitchesBack(t *testing.T) {
	s, v1, v2 := blueGreenUpdated(t, true, func(s *sim) {
		s.templates.Templates["smoke"] = webTemplate("smoke")
		s.ro.Spec.Strategy.BlueGreen.PostPromotionAnalysis = analysisRef("smoke")
	})
	if svcHash(s, "api-active") != v2 || s.ro.Status.StableRS != v1 {
		t.Fatalf("active %q stable %q: want switched to %q while %q stays stable", svcHash(s, "api-active"), s.ro.Status.StableRS, v2, v1)
	}
	wantCounts(t, s, []string{v2, v1}, 3, 3)
	s.runOf(v1alpha1.RolloutTypePostPromotionLabel).Status.Phase = v1alpha1.AnalysisPhaseFailed
	s.reconcile()
	if svcHash(s, "api-active") != v1 {
		t.Fatalf("a failed post-promotion analysis left active on %q", svcHash(s, "api-active"))
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	wantCounts(t, s, []string{v1}, 3)
}

// wantRunMeta checks a run's labels and annotations against what the
// reference writes on the runs it creates for a Rollout.
func wantRunMeta(t *testing.T, run *v1alpha1.AnalysisRun, labels, annotations map[string]string) {
	t.Helper()
	if fmt.Sprint(run.Labels) != fmt.Sprint(labels) {
		t.Errorf("run %s labels %v, want %v", run.Name, run.Labels, labels)
	}
	if fmt.Sprint(run.Annotations) != fmt.Sprint(annotations) {
		t.Errorf("run %s annotations %v, want %v", run.Name, run.Annotations, annotations)
	}
}

func TestCanaryRunsCarryTypeStepSelectorAndRevision(t *testing.T) {
	s := newManualGatesSim(t)
	s.templates.Templates["smoke"] = webTemplate("smoke")
	c := s.ro.Spec.Strategy.Canary
	step := analysisRef("smoke")
	step.AnalysisRunMetadata = v1alpha1.AnalysisRunMetadata{
		Labels:      map[string]string{"team": "payments", "app": "overridden-by-the-selector"},
		Annotations: map[string]string{"owner": "alice"},
	}
	c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: step}, {SetWeight: ptr(int32(60))}}
	c.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: *analysisRef("smoke")}
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	wantRunMeta(t, s.runOf(v1alpha1.RolloutTypeStepLabel), map[string]string{
		"app": "rails", "team": "payments",
		v1alpha1.DefaultRolloutUniqueLabelKey: v2,
		v1alpha1.RolloutTypeLabel:             v1alpha1.RolloutTypeStepLabel,
		v1alpha1.RolloutCanaryStepIndexLabel:  "1",
	}, map[string]string{"owner": "alice", v1alpha1.RevisionAnnotation: "2"})
	wantRunMeta(t, s.runOf(v1alpha1.RolloutTypeBackgroundRunLabel), map[string]string{
		"app":                                 "rails",
		v1alpha1.DefaultRolloutUniqueLabelKey: v2,
		v1alpha1.RolloutTypeLabel:             v1alpha1.RolloutTypeBackgroundRunLabel,
	}, map[string]string{v1alpha1.RevisionAnnotation: "2"})
}

func TestBlueGreenRunsCarryTypeSelectorAndRevision(t *testing.T) {
	s := newBlueGreenSim(t, true)
	s.templates.Templates["smoke"] = webTemplate("smoke")
	bg := s.ro.Spec.Strategy.BlueGreen
	bg.PrePromotionAnalysis = analysisRef("smoke")
	bg.PostPromotionAnalysis = analysisRef("smoke")
	// analysisRunMetadata may name the revision itself; its value wins.
	bg.PostPromotionAnalysis.AnalysisRunMetadata.Annotations = map[string]string{v1alpha1.RevisionAnnotation: "custom"}
	s.settle()
	s.setImage("api:2")
	v2 := s.hashOf("api:2")
	s.settle()
	pre := s.runOf(v1alpha1.RolloutTypePrePromotionLabel)
	wantRunMeta(t, pre, map[string]string{
		"app":                                 "api",
		v1alpha1.DefaultRolloutUniqueLabelKey: v2,
		v1alpha1.RolloutTypeLabel:             v1alpha1.RolloutTypePrePromotionLabel,
	}, map[string]string{v1alpha1.RevisionAnnotation: "2"})
	pre.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
	s.settle()
	wantRunMeta(t, s.runOf(v1alpha1.RolloutTypePostPromotionLabel), map[string]string{
		"app":                                 "api",
		v1alpha1.DefaultRolloutUniqueLabelKey: v2,
		v1alpha1.RolloutTypeLabel:             v1alpha1.RolloutTypePostPromotionLabel,
	}, map[string]string{v1alpha1.RevisionAnnotation: "custom"})
}

// hangingPrePromotion starts a blue-green release whose pre-promotion
// analysis never finishes, and lets the clock run past progressDeadlineSeconds.
func hangingPrePromotion(t *testing.T, abort bool) (s *sim, v1, v2 string, pre *v1alpha1.AnalysisRun) {
	s = newBlueGreenSim(t, true)
	s.templates.Templates["smoke"] = webTemplate("smoke")
	s.ro.Spec.Strategy.BlueGreen.PrePromotionAnalysis = analysisRef("smoke")
	s.ro.Spec.ProgressDeadlineSeconds = ptr(int32(30))
	s.ro.Spec.ProgressDeadlineAbort = abort
	v1 = s.hashOf("api:1")
	s.settle()
	s.setImage("api:2")
	v2 = s.hashOf("api:2")
	s.settle()
	pre = s.runOf(v1alpha1.RolloutTypePrePromotionLabel)
	pre.Status.Phase = v1alpha1.AnalysisPhaseRunning
	for i := 0; i < 8; i++ {
		s.tick(10 * time.Second)
		s.reconcile()
	}
	return s, v1, v2, pre
}

// As in the reference, the deadline runs while a blue-green release waits for
// its pre-promotion analysis (only a canary's analysis and experiment steps
// stop it): the release times out, and without progressDeadlineAbort it keeps
// waiting for the verdict.
func TestBlueGreenPrePromotionPastTheDeadlineWithoutAbort(t *testing.T) {
	s, v1, v2, pre := hangingPrePromotion(t, false)
	c := FindCondition(&s.ro.Status, v1alpha1.RolloutProgressing)
	want := fmt.Sprintf("ReplicaSet %q has timed out progressing.", s.rsByHash(v2).Name)
	if c == nil || c.Status != "False" || c.Reason != ReasonProgressDeadline || c.Message != want {
		t.Fatalf("Progressing %+v, want False %s %q", c, ReasonProgressDeadline, want)
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	if s.ro.Status.Message != ReasonProgressDeadline+": "+want {
		t.Fatalf("message %q", s.ro.Status.Message)
	}
	if s.ro.Status.Abort || s.runs[pre.Name].Spec.Terminate || svcHash(s, "api-active") != v1 {
		t.Fatalf("abort %v, run terminated %v, active %q: want the release still waiting for its analysis",
			s.ro.Status.Abort, s.runs[pre.Name].Spec.Terminate, svcHash(s, "api-active"))
	}
	if !s.hasEvent(ReasonProgressDeadline) {
		t.Fatalf("no %s event:\n%s", ReasonProgressDeadline, joinEvents(s.events))
	}
	// A late verdict still promotes, and the release ends healthy.
	s.runs[pre.Name].Status.Phase = v1alpha1.AnalysisPhaseSuccessful
	s.settle()
	if svcHash(s, "api-active") != v2 || s.ro.Status.StableRS != v2 {
		t.Fatalf("active %q stable %q after a late success, want %q", svcHash(s, "api-active"), s.ro.Status.StableRS, v2)
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
}

// With progressDeadlineAbort the reference aborts the release when it times
// out: the analysis is terminated, production stays on the stable version
// and the preview is scaled down after abortScaleDownDelaySeconds.
// Kanaria does the same.
func TestBlueGreenPrePromotionPastTheDeadlineAborts(t *testing.T) {
	s, v1, v2, pre := hangingPrePromotion(t, true)
	if !s.ro.Status.Abort {
		t.Fatalf("not aborted; status %+v", s.ro.Status)
	}
	wantPhase(t, s, v1alpha1.RolloutPhaseDegraded)
	// The reference's message names the abort, not its cause: the timeout
	// is told by the ProgressDeadlineExceeded Event.
	if s.ro.Status.Message != ReasonAborted+": Rollout aborted update to revision 2" {
		t.Fatalf("message %q", s.ro.Status.Message)
	}
	if c := FindCondition(&s.ro.Status, v1alpha1.RolloutProgressing); c == nil || c.Reason != ReasonAborted {
		t.Fatalf("Progressing %+v, want reason %s", c, ReasonAborted)
	}
	if !s.runs[pre.Name].Spec.Terminate {
		t.Fatal("the hanging pre-promotion analysis was not terminated")
	}
	if svcHash(s, "api-active") != v1 || s.ro.Status.StableRS != v1 {
		t.Fatalf("active %q stable %q, want the stable %q", svcHash(s, "api-active"), s.ro.Status.StableRS, v1)
	}
	if !s.hasEvent(ReasonProgressDeadline) || !s.hasEvent(ReasonAborted) {
		t.Fatalf("events:\n%s", joinEvents(s.events))
	}
	s.tick(31 * time.Second)
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 3)
}

// TestRunsStartWithTheirStep checks that the reconcile which moves the index
// onto a step also creates the runs that step starts, and names them in the
// same status write: a run that waited for the next reconcile would cost
// each analysis step a watch round trip before its first measurement.
func TestRunsStartWithTheirStep(t *testing.T) {
	for _, tc := range []struct {
		name       string
		background bool
		kind       string
		slot       func(*v1alpha1.RolloutStatus) *v1alpha1.RolloutAnalysisRunStatus
	}{
		{"step analysis", false, v1alpha1.RolloutTypeStepLabel,
			func(st *v1alpha1.RolloutStatus) *v1alpha1.RolloutAnalysisRunStatus {
				return st.Canary.CurrentStepAnalysisRunStatus
			}},
		{"background analysis from its starting step", true, v1alpha1.RolloutTypeBackgroundRunLabel,
			func(st *v1alpha1.RolloutStatus) *v1alpha1.RolloutAnalysisRunStatus {
				return st.Canary.CurrentBackgroundAnalysisRunStatus
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newManualGatesSim(t)
			s.templates.Templates["smoke"] = webTemplate("smoke")
			c := s.ro.Spec.Strategy.Canary
			if tc.background {
				c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {SetWeight: ptr(int32(60))}}
				c.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: *analysisRef("smoke"), StartingStep: ptr(int32(1))}
			} else {
				c.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: analysisRef("smoke")}, {SetWeight: ptr(int32(60))}}
			}
			s.settle()
			s.setImage("rails:6.1")
			s.reconcile()
			if stepIndex(s) != 0 {
				t.Fatalf("the update starts at step %d, want 0", stepIndex(s))
			}
			for i := 0; stepIndex(s) == 0; i++ {
				if i == 20 {
					t.Fatalf("never left step 0: %+v", s.ro.Status)
				}
				if len(s.runs) != 0 {
					t.Fatalf("a run started at step 0: %v", sortedKeys(s.runs))
				}
				p := s.reconcile()
				if stepIndex(s) == 0 {
					s.tick(time.Second)
					continue
				}
				var created []string
				for _, a := range p.Actions {
					if cr, ok := a.(CreateAnalysisRun); ok {
						created = append(created, cr.Run.Name)
					}
				}
				if len(created) != 1 {
					t.Fatalf("the reconcile that moved to step 1 created runs %v, want one", created)
				}
				run := s.runOf(tc.kind)
				if run.Name != created[0] {
					t.Fatalf("created %s, live %s run is %s", created[0], tc.kind, run.Name)
				}
				got := tc.slot(&p.Status)
				if got == nil || got.Name != run.Name || got.Status != v1alpha1.AnalysisPhasePending {
					t.Fatalf("status names %+v, want %s Pending", got, run.Name)
				}
			}
			// The next reconciles take the run over rather than start another.
			s.settle()
			if n := len(s.runs); n != 1 {
				t.Fatalf("%d runs, want 1: %v", n, sortedKeys(s.runs))
			}
		})
	}
}
