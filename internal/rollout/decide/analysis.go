package decide

import (
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// Defaults of spec.analysis.
const (
	defaultSuccessfulRunHistory   = 5
	defaultUnsuccessfulRunHistory = 5
)

// analysisBlock is one analysis the spec configures, with where it sits.
type analysisBlock struct {
	path     *field.Path
	analysis *v1alpha1.RolloutAnalysis
}

// analysisBlocks lists every analysis of the spec.
func analysisBlocks(ro *v1alpha1.Rollout) []analysisBlock {
	var out []analysisBlock
	p := field.NewPath("spec", "strategy")
	if c := ro.Spec.Strategy.Canary; c != nil {
		if c.Analysis != nil {
			out = append(out, analysisBlock{p.Child("canary", "analysis"), &c.Analysis.RolloutAnalysis})
		}
		for i := range c.Steps {
			if a := c.Steps[i].Analysis; a != nil {
				out = append(out, analysisBlock{p.Child("canary", "steps").Index(i).Child("analysis"), a})
			}
		}
	}
	if b := ro.Spec.Strategy.BlueGreen; b != nil {
		if b.PrePromotionAnalysis != nil {
			out = append(out, analysisBlock{p.Child("blueGreen", "prePromotionAnalysis"), b.PrePromotionAnalysis})
		}
		if b.PostPromotionAnalysis != nil {
			out = append(out, analysisBlock{p.Child("blueGreen", "postPromotionAnalysis"), b.PostPromotionAnalysis})
		}
	}
	return out
}

// TemplateRefs lists every template the spec names directly, for the
// observer to fetch (nested references are followed by the observer).
func TemplateRefs(ro *v1alpha1.Rollout) []template.Ref {
	var out []template.Ref
	for _, b := range analysisBlocks(ro) {
		out = append(out, template.RefsOf(b.analysis)...)
	}
	return out
}

// validateAnalysis checks that every analysis's templates exist and merge.
func (d *decider) validateAnalysis() field.ErrorList {
	var errs field.ErrorList
	for _, b := range analysisBlocks(d.ro) {
		if len(b.analysis.Templates) == 0 {
			continue
		}
		if _, err := template.Merge(template.RefsOf(b.analysis), d.s.Templates); err != nil {
			errs = append(errs, field.Invalid(b.path.Child("templates"), templateNames(b.analysis), err.Error()))
		}
	}
	return errs
}

func templateNames(a *v1alpha1.RolloutAnalysis) string {
	var names []string
	for _, t := range a.Templates {
		names = append(names, t.TemplateName)
	}
	return fmt.Sprint(names)
}

// runKind is the purpose of an AnalysisRun, as its rollout-type label says.
type runKind string

const (
	kindBackground runKind = v1alpha1.RolloutTypeBackgroundRunLabel
	kindStep       runKind = v1alpha1.RolloutTypeStepLabel
	kindPre        runKind = v1alpha1.RolloutTypePrePromotionLabel
	kindPost       runKind = v1alpha1.RolloutTypePostPromotionLabel
)

// runStatusField is where the status names the current run of a kind.
func (d *decider) runStatusField(k runKind) **v1alpha1.RolloutAnalysisRunStatus {
	switch k {
	case kindBackground:
		return &d.st.Canary.CurrentBackgroundAnalysisRunStatus
	case kindStep:
		return &d.st.Canary.CurrentStepAnalysisRunStatus
	case kindPre:
		return &d.st.BlueGreen.PrePromotionAnalysisRunStatus
	default:
		return &d.st.BlueGreen.PostPromotionAnalysisRunStatus
	}
}

func (d *decider) runByName(name string) *v1alpha1.AnalysisRun {
	for _, r := range d.s.AnalysisRuns {
		if r.Name == name {
			return r
		}
	}
	for _, a := range d.plan.Actions {
		if c, ok := a.(CreateAnalysisRun); ok && c.Run.Name == name {
			return c.Run
		}
	}
	return nil
}

// analysisRun returns the phase of the current run of kind for the current
// revision, creating the run when there is none yet. The status names the
// run; a run of an earlier attempt (before an abort and retry) is never
// reused, so a retry measures again.
func (d *decider) analysisRun(k runKind, a *v1alpha1.RolloutAnalysis, step int) v1alpha1.AnalysisPhase {
	slot := d.runStatusField(k)
	base := fmt.Sprintf("%s-%s-%d", d.ro.Name, d.newHash, d.currentRevision())
	switch k {
	case kindStep:
		base += "-" + strconv.Itoa(step)
	case kindPre:
		base += "-pre"
	case kindPost:
		base += "-post"
	}
	if cur := *slot; cur != nil && isAttempt(cur.Name, base) {
		if run := d.runByName(cur.Name); run != nil {
			phase := run.Status.Phase
			if phase == "" {
				phase = v1alpha1.AnalysisPhasePending
			}
			*slot = &v1alpha1.RolloutAnalysisRunStatus{Name: run.Name, Status: phase, Message: run.Status.Message}
			return phase
		}
	}
	// The status may not name a run yet that an earlier reconcile created
	// (its status write not seen yet): take over a live attempt of this
	// revision rather than start another.
	for _, r := range d.s.AnalysisRuns {
		if isAttempt(r.Name, base) && !r.Status.Phase.Completed() && !r.Spec.Terminate {
			phase := r.Status.Phase
			if phase == "" {
				phase = v1alpha1.AnalysisPhasePending
			}
			*slot = &v1alpha1.RolloutAnalysisRunStatus{Name: r.Name, Status: phase, Message: r.Status.Message}
			return phase
		}
	}
	name := base
	for n := 1; d.runByName(name) != nil || d.s.HeldRunNames[name]; n++ {
		name = fmt.Sprintf("%s.%d", base, n)
	}
	run, err := template.Build(template.Input{
		Rollout: d.ro, Analysis: a, Name: name, Labels: d.runLabels(k, a, step),
		StableHash: d.st.StableRS, LatestHash: d.newHash,
	}, d.s.Templates)
	if err != nil {
		// Validation checked the templates; a fieldRef that does not
		// resolve ends up here. Report it as the run's error.
		*slot = &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: v1alpha1.AnalysisPhaseError, Message: err.Error()}
		return v1alpha1.AnalysisPhaseError
	}
	// Tools group a Rollout's runs by revision, as the reference annotates
	// them; the Rollout's analysisRunMetadata may set its own value.
	if _, set := a.AnalysisRunMetadata.Annotations[v1alpha1.RevisionAnnotation]; !set {
		if run.Annotations == nil {
			run.Annotations = map[string]string{}
		}
		run.Annotations[v1alpha1.RevisionAnnotation] = strconv.FormatInt(d.currentRevision(), 10)
	}
	d.add(CreateAnalysisRun{Run: run})
	d.event(corev1.EventTypeNormal, "AnalysisRunCreated", fmt.Sprintf("created %s AnalysisRun %s", k, name))
	*slot = &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: v1alpha1.AnalysisPhasePending}
	return v1alpha1.AnalysisPhasePending
}

// runLabels returns the labels of a new run of kind k, layered as the
// reference layers them so selectors written for it find the same runs: the
// purpose (hash, type, step, controller instance), then the analysis's
// analysisRunMetadata labels, then the Rollout's selector labels (a workloadRef's Deployment's when the
// Rollout names none) on top.
func (d *decider) runLabels(k runKind, a *v1alpha1.RolloutAnalysis, step int) map[string]string {
	labels := map[string]string{
		v1alpha1.DefaultRolloutUniqueLabelKey: d.newHash,
		v1alpha1.RolloutTypeLabel:             string(k),
	}
	if k == kindStep {
		labels[v1alpha1.RolloutCanaryStepIndexLabel] = strconv.Itoa(step)
	}
	if id := d.ro.Labels[v1alpha1.LabelKeyControllerInstanceID]; id != "" {
		// The run belongs to the Rollout's controller instance, whose
		// caches see only its own objects.
		labels[v1alpha1.LabelKeyControllerInstanceID] = id
	}
	for key, v := range a.AnalysisRunMetadata.Labels {
		labels[key] = v
	}
	if d.sel != nil {
		for key, v := range d.sel.MatchLabels {
			labels[key] = v
		}
	}
	if b := d.ro.Labels[shard.LabelBucket]; b != "" {
		// The run belongs to its Rollout's shard from its first watch
		// event, whatever analysisRunMetadata says: a run labelled for
		// another shard would be acted on by no replica.
		labels[shard.LabelBucket] = b
	}
	return labels
}

// isAttempt reports whether name is base or a retry of it (base.N).
func isAttempt(name, base string) bool {
	if name == base {
		return true
	}
	if len(name) > len(base)+1 && name[:len(base)] == base && name[len(base)] == '.' {
		_, err := strconv.Atoi(name[len(base)+1:])
		return err == nil
	}
	return false
}

// analysisFailed aborts the update because of a failed or errored run; the
// message names the run and its failing metric.
func (d *decider) analysisFailed(k runKind) {
	cur := *d.runStatusField(k)
	if !d.st.Abort {
		d.st.Abort = true
		// AnalysisRunFailed or AnalysisRunError, as the reference names them.
		d.plan.Events = append(d.plan.Events, Event{Type: corev1.EventTypeWarning, Reason: "AnalysisRun" + string(cur.Status),
			Message: fmt.Sprintf("%s AnalysisRun %s %s: %s", k, cur.Name, cur.Status, cur.Message), Observed: true})
	}
}

// analysisAbortMessage explains an abort that an analysis caused.
func (d *decider) analysisAbortMessage() string {
	for _, cur := range []*v1alpha1.RolloutAnalysisRunStatus{
		d.st.Canary.CurrentBackgroundAnalysisRunStatus, d.st.Canary.CurrentStepAnalysisRunStatus,
		d.st.BlueGreen.PrePromotionAnalysisRunStatus, d.st.BlueGreen.PostPromotionAnalysisRunStatus,
	} {
		if cur != nil && (cur.Status == v1alpha1.AnalysisPhaseFailed || cur.Status == v1alpha1.AnalysisPhaseError) {
			msg := fmt.Sprintf("AnalysisRun %s %s", cur.Name, cur.Status)
			if cur.Message != "" {
				msg += ": " + cur.Message
			}
			return msg
		}
	}
	return ""
}

// inconclusive pauses the rollout for a person to judge an inconclusive run.
// It reports true once a person resumed, i.e. accepted the result.
func (d *decider) inconclusive(k runKind) bool {
	st := d.st
	if findPause(st, v1alpha1.PauseReasonInconclusiveAnalysis) != nil {
		return false
	}
	if st.ControllerPause {
		st.ControllerPause = false
		d.event(corev1.EventTypeNormal, ReasonResumed, fmt.Sprintf("resumed past the inconclusive %s analysis", k))
		return true
	}
	st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: v1alpha1.PauseReasonInconclusiveAnalysis, StartTime: d.now})
	st.ControllerPause = true
	d.event(corev1.EventTypeWarning, ReasonPaused, fmt.Sprintf("%s analysis was inconclusive; paused for a person to promote or abort", k))
	return false
}

// clearRuns forgets the current runs: a new revision, a retry or a
// completed update. Runs still measuring are terminated by
// terminateStrayRuns.
func (d *decider) clearRuns() {
	d.st.Canary.CurrentBackgroundAnalysisRunStatus = nil
	d.st.Canary.CurrentStepAnalysisRunStatus = nil
	d.st.BlueGreen.PrePromotionAnalysisRunStatus = nil
	d.st.BlueGreen.PostPromotionAnalysisRunStatus = nil
	d.st.Canary.CurrentExperiment = ""
}

// terminateStrayRuns stops every run still measuring that the status does
// not name as current (the update moved on, was promoted or aborted), and
// removes finished runs beyond the history limits, oldest first.
func (d *decider) terminateStrayRuns() {
	current := map[string]bool{}
	if !d.st.Abort {
		for _, cur := range []*v1alpha1.RolloutAnalysisRunStatus{
			d.st.Canary.CurrentBackgroundAnalysisRunStatus, d.st.Canary.CurrentStepAnalysisRunStatus,
			d.st.BlueGreen.PrePromotionAnalysisRunStatus, d.st.BlueGreen.PostPromotionAnalysisRunStatus,
		} {
			if cur != nil {
				current[cur.Name] = true
			}
		}
	}
	var ok, bad []*v1alpha1.AnalysisRun
	for _, r := range d.s.AnalysisRuns {
		switch {
		case !r.Status.Phase.Completed():
			if !current[r.Name] && !r.Spec.Terminate {
				d.add(TerminateAnalysisRun{Name: r.Name})
			}
		case current[r.Name]:
		case r.Status.Phase == v1alpha1.AnalysisPhaseSuccessful:
			ok = append(ok, r)
		default:
			bad = append(bad, r)
		}
	}
	okLimit, badLimit := d.historyLimits()
	for _, set := range []struct {
		runs  []*v1alpha1.AnalysisRun
		limit int32
	}{{ok, okLimit}, {bad, badLimit}} {
		runs := set.runs
		sort.Slice(runs, func(i, j int) bool {
			return runs[i].CreationTimestamp.Before(&runs[j].CreationTimestamp) ||
				runs[i].CreationTimestamp.Equal(&runs[j].CreationTimestamp) && runs[i].Name < runs[j].Name
		})
		for i := 0; i < len(runs)-int(set.limit); i++ {
			d.add(DeleteAnalysisRun{Name: runs[i].Name, UID: runs[i].UID})
		}
	}
}
