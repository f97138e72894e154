package decide

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// ReasonExperimentCreated is the Event reason of a new experiment step's
// Experiment, as the reference records it.
const ReasonExperimentCreated = "ExperimentCreated"

// experimentBase is the name the Experiment of step idx of the current
// revision gets: the Rollout's name, the pod-template hash, the revision and
// the step index, as in the reference. A name taken by an earlier attempt
// (an abort and retry) gets a "-N" suffix.
func (d *decider) experimentBase(idx int) string {
	return fmt.Sprintf("%s-%s-%d-%d", d.ro.Name, d.newHash, d.currentRevision(), idx)
}

// isExperimentAttempt reports whether name is base or a retry of it (base-N).
func isExperimentAttempt(name, base string) bool {
	if name == base {
		return true
	}
	if len(name) > len(base)+1 && name[:len(base)] == base && name[len(base)] == '-' {
		_, err := strconv.Atoi(name[len(base)+1:])
		return err == nil
	}
	return false
}

func (d *decider) experimentByName(name string) *v1alpha1.Experiment {
	for _, ex := range d.s.Experiments {
		if ex.Name == name {
			return ex
		}
	}
	for _, a := range d.plan.Actions {
		if c, ok := a.(CreateExperiment); ok && c.Experiment.Name == name {
			return c.Experiment
		}
	}
	return nil
}

// experimentStep runs the experiment step idx and reports whether it is
// over: it creates the step's Experiment, waits while it runs, moves on
// when it succeeds, aborts the update when it fails and pauses for a person
// when it is inconclusive.
func (d *decider) experimentStep(idx int, step *v1alpha1.RolloutExperimentStep) bool {
	st := d.st
	ex, missing := d.currentExperiment(idx)
	if ex == nil {
		var err error
		ex, err = d.buildExperiment(idx, step, missing)
		if err != nil {
			// Validation checked the step; an argument whose fieldRef does
			// not resolve ends up here and stops the update like a failed
			// experiment would, naming the cause.
			if !st.Abort {
				st.Abort = true
				d.event(corev1.EventTypeWarning, "ExperimentFailed", fmt.Sprintf("cannot build the Experiment of step %d: %v", idx+1, err))
				d.requeue(time.Millisecond)
			}
			return false
		}
		d.add(CreateExperiment{Experiment: ex})
		d.event(corev1.EventTypeNormal, ReasonExperimentCreated, fmt.Sprintf("Created Experiment '%s'", ex.Name))
	}
	st.Canary.CurrentExperiment = ex.Name
	switch ex.Status.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		d.note("ExperimentSuccessful", fmt.Sprintf("Experiment %s of step %d succeeded", ex.Name, idx+1))
		return true
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		if !st.Abort {
			st.Abort = true
			d.event(corev1.EventTypeWarning, "ExperimentFailed", fmt.Sprintf("Experiment %s %s: %s", ex.Name, ex.Status.Phase, ex.Status.Message))
			d.requeue(time.Millisecond)
		}
		return false
	case v1alpha1.AnalysisPhaseInconclusive:
		return d.inconclusiveExperiment(ex)
	}
	d.stepNote = fmt.Sprintf("waiting for Experiment %s", ex.Name)
	return false
}

// currentExperiment finds the Experiment of step idx of this attempt: the
// one the status names, or a live one an earlier reconcile created before
// its status write was seen. An Experiment the status names but the cache
// does not hold is returned as missing: it is created again under the same
// name, which the API server answers with AlreadyExists when it only is
// the cache lagging, unless a create found that name held by another
// object.
func (d *decider) currentExperiment(idx int) (ex *v1alpha1.Experiment, missing string) {
	base := d.experimentBase(idx)
	if cur := d.st.Canary.CurrentExperiment; cur != "" && isExperimentAttempt(cur, base) {
		if ex := d.experimentByName(cur); ex != nil {
			return ex, ""
		}
		if !d.s.HeldExperimentNames[cur] {
			return nil, cur
		}
		// Another object holds the name the status gives: the step gets
		// an Experiment under the next free name.
	}
	for _, ex := range d.s.Experiments {
		if isExperimentAttempt(ex.Name, base) && !ex.Status.Phase.Completed() && !ex.Spec.Terminate && ex.DeletionTimestamp.IsZero() {
			return ex, ""
		}
	}
	return nil, ""
}

// inconclusiveExperiment pauses the rollout for a person to judge an
// inconclusive Experiment, with the reference's pause reason. It reports
// true once a person resumed, i.e. accepted the result.
func (d *decider) inconclusiveExperiment(ex *v1alpha1.Experiment) bool {
	st := d.st
	if findPause(st, v1alpha1.PauseReasonInconclusiveExperiment) != nil {
		d.stepNote = fmt.Sprintf("Experiment %s was inconclusive; promote or abort", ex.Name)
		return false
	}
	if st.ControllerPause {
		st.ControllerPause = false
		d.event(corev1.EventTypeNormal, ReasonResumed, fmt.Sprintf("resumed past the inconclusive Experiment %s", ex.Name))
		return true
	}
	st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: v1alpha1.PauseReasonInconclusiveExperiment, StartTime: d.now})
	st.ControllerPause = true
	d.event(corev1.EventTypeWarning, ReasonPaused, fmt.Sprintf("Experiment %s was inconclusive; paused for a person to promote or abort", ex.Name))
	return false
}

// buildExperiment returns the Experiment of step idx: one template per
// step template running the stable or the canary Pod template, the step's
// duration and analyses with arguments resolved against the Rollout, the
// Rollout's labels and the pod-template hash as labels, and the revision
// as an annotation.
func (d *decider) buildExperiment(idx int, step *v1alpha1.RolloutExperimentStep, name string) (*v1alpha1.Experiment, error) {
	if name == "" {
		name = d.experimentBase(idx)
		for n := 1; d.experimentByName(name) != nil || d.s.HeldExperimentNames[name]; n++ {
			name = fmt.Sprintf("%s-%d", d.experimentBase(idx), n)
		}
	}
	labels := map[string]string{}
	for k, v := range d.ro.Labels {
		labels[k] = v
	}
	labels[v1alpha1.DefaultRolloutUniqueLabelKey] = d.newHash
	if id := d.ro.Labels[v1alpha1.LabelKeyControllerInstanceID]; id != "" {
		labels[v1alpha1.LabelKeyControllerInstanceID] = id
	}
	ex := &v1alpha1.Experiment{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Experiment"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       d.ro.Namespace,
			Labels:          labels,
			Annotations:     map[string]string{v1alpha1.RevisionAnnotation: strconv.FormatInt(d.currentRevision(), 10)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d.ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: v1alpha1.ExperimentSpec{
			Duration:                step.Duration,
			ProgressDeadlineSeconds: d.ro.Spec.ProgressDeadlineSeconds,
			DryRun:                  append([]v1alpha1.DryRun(nil), step.DryRun...),
			AnalysisRunMetadata:     *step.AnalysisRunMetadata.DeepCopy(),
		},
	}
	for _, t := range step.Templates {
		src := d.newRS
		if t.SpecRef == v1alpha1.StableSpecRef {
			src = d.stableRS
		}
		ts := v1alpha1.TemplateSpec{
			Name:            t.Name,
			Replicas:        t.Replicas,
			MinReadySeconds: src.Spec.MinReadySeconds,
			Template:        *src.Spec.Template.DeepCopy(),
		}
		if t.Weight != nil || t.Service != nil {
			// A weight needs a Service for the router to send to.
			ts.Service = &v1alpha1.TemplateService{}
			if t.Service != nil {
				ts.Service.Name = t.Service.Name
			}
		}
		if t.Selector != nil {
			ts.Selector = t.Selector.DeepCopy()
		} else {
			ts.Selector = src.Spec.Selector.DeepCopy()
		}
		if len(t.Metadata.Labels) > 0 {
			if ts.Template.Labels == nil {
				ts.Template.Labels = map[string]string{}
			}
			if ts.Selector.MatchLabels == nil {
				ts.Selector.MatchLabels = map[string]string{}
			}
			for k, v := range t.Metadata.Labels {
				ts.Template.Labels[k] = v
				ts.Selector.MatchLabels[k] = v
			}
		}
		if len(t.Metadata.Annotations) > 0 {
			if ts.Template.Annotations == nil {
				ts.Template.Annotations = map[string]string{}
			}
			for k, v := range t.Metadata.Annotations {
				ts.Template.Annotations[k] = v
			}
		}
		ex.Spec.Templates = append(ex.Spec.Templates, ts)
	}
	for _, a := range step.Analyses {
		args, err := template.ResolveRolloutArgs(a.Args, d.ro, d.st.StableRS, d.newHash)
		if err != nil {
			return nil, fmt.Errorf("analysis %q: %w", a.Name, err)
		}
		ex.Spec.Analyses = append(ex.Spec.Analyses, v1alpha1.ExperimentAnalysisTemplateRef{
			Name: a.Name, TemplateName: a.TemplateName, ClusterScope: a.ClusterScope,
			Args: args, RequiredForCompletion: a.RequiredForCompletion,
		})
	}
	return ex, nil
}

// experimentAbortMessage explains an abort that a failed Experiment caused.
func (d *decider) experimentAbortMessage() string {
	name := d.st.Canary.CurrentExperiment
	if name == "" {
		return ""
	}
	ex := d.experimentByName(name)
	if ex == nil || (ex.Status.Phase != v1alpha1.AnalysisPhaseFailed && ex.Status.Phase != v1alpha1.AnalysisPhaseError) {
		return ""
	}
	msg := fmt.Sprintf("Experiment %s %s", ex.Name, ex.Status.Phase)
	if ex.Status.Message != "" {
		msg += ": " + ex.Status.Message
	}
	return msg
}

// experimentDestinations are the extra traffic destinations of the
// experiment step idx: each template with a weight, at the Service its
// Experiment made for it. As in the reference they exist only while the
// Experiment runs, so its Pods get traffic only once they are available and
// lose it before the Experiment scales them down.
func (d *decider) experimentDestinations(idx int) []trafficrouting.Destination {
	steps := d.ro.Spec.Strategy.Canary.Steps
	if d.st.Abort || d.st.PromoteFull || idx >= len(steps) || steps[idx].Experiment == nil {
		return nil
	}
	cur := d.st.Canary.CurrentExperiment
	if cur == "" || !isExperimentAttempt(cur, d.experimentBase(idx)) {
		return nil
	}
	ex := d.experimentByName(cur)
	if ex == nil || ex.Status.Phase != v1alpha1.AnalysisPhaseRunning || ex.Spec.Terminate {
		return nil
	}
	weights := map[string]int32{}
	for _, t := range steps[idx].Experiment.Templates {
		if t.Weight != nil {
			weights[t.Name] = *t.Weight
		}
	}
	var out []trafficrouting.Destination
	for _, ts := range ex.Status.TemplateStatuses {
		w, ok := weights[ts.Name]
		if !ok || ts.ServiceName == "" {
			continue
		}
		out = append(out, trafficrouting.Destination{ServiceName: ts.ServiceName, PodTemplateHash: ts.PodTemplateHash, Weight: w})
	}
	return out
}

// releaseEndedExperimentTraffic takes an experiment's share away from the
// routers while every count is held (a person paused the Rollout, an
// inconclusive analysis waits): the Experiment may end meanwhile and scale
// its Pods down, and its Service must not keep a share of the requests.
// The canary keeps the weight the routers show.
func (d *decider) releaseEndedExperimentTraffic(stable *appsv1.ReplicaSet) {
	prev := d.ro.Status.Canary.Weights
	if !d.routed() || prev == nil || len(prev.Additional) == 0 {
		return
	}
	idx := int(deref(d.st.CurrentStepIndex, 0))
	additional := d.experimentDestinations(idx)
	if len(additional) == len(prev.Additional) {
		return
	}
	var headers []trafficrouting.HeaderRoute
	var mirrors []trafficrouting.MirrorRoute
	if idx < len(d.ro.Spec.Strategy.Canary.Steps) {
		headers, mirrors = managedRoutesAt(d.ro.Spec.Strategy.Canary, idx)
	}
	d.syncTraffic(d.appliedWeight(), d.newHash, hashOf(stable), headers, mirrors, additional)
}

// reconcileExperiments terminates every running Experiment of the Rollout
// but the current step's (the release moved on, was promoted fully or
// aborted) and deletes finished ones beyond the history limits, as the
// reference does: spec.analysis's successful and unsuccessful limits, and
// at once those of a version whose ReplicaSet is gone.
func (d *decider) reconcileExperiments() {
	st := d.st
	keep := ""
	if c := d.ro.Spec.Strategy.Canary; c != nil && !st.Abort && !st.PromoteFull && st.StableRS != d.newHash {
		idx := int(deref(st.CurrentStepIndex, 0))
		if idx < len(c.Steps) && c.Steps[idx].Experiment != nil && isExperimentAttempt(st.Canary.CurrentExperiment, d.experimentBase(idx)) {
			keep = st.Canary.CurrentExperiment
		}
	}
	if keep == "" && !st.Abort {
		// An aborted release keeps the name so its message can say which
		// Experiment failed; otherwise nothing is current any more.
		st.Canary.CurrentExperiment = ""
	}
	hashes := map[string]bool{}
	for h, rs := range d.rsByHash {
		hashes[h] = rs.DeletionTimestamp.IsZero()
	}
	var ok, bad []*v1alpha1.Experiment
	for _, ex := range d.s.Experiments {
		if ex.Name == keep || !ex.DeletionTimestamp.IsZero() {
			continue
		}
		finished := ex.Status.Phase.Completed()
		if !finished && !ex.Spec.Terminate {
			d.add(TerminateExperiment{Name: ex.Name})
			continue
		}
		if !hashes[ex.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]] {
			d.add(DeleteExperiment{Name: ex.Name, UID: ex.UID})
			continue
		}
		switch {
		case !finished:
		case ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful:
			ok = append(ok, ex)
		default:
			bad = append(bad, ex)
		}
	}
	okLimit, badLimit := d.historyLimits()
	for _, set := range []struct {
		exs   []*v1alpha1.Experiment
		limit int32
	}{{ok, okLimit}, {bad, badLimit}} {
		exs := set.exs
		sort.Slice(exs, func(i, j int) bool {
			return exs[i].CreationTimestamp.Before(&exs[j].CreationTimestamp) ||
				exs[i].CreationTimestamp.Equal(&exs[j].CreationTimestamp) && exs[i].Name < exs[j].Name
		})
		for i := 0; i < len(exs)-int(set.limit); i++ {
			d.add(DeleteExperiment{Name: exs[i].Name, UID: exs[i].UID})
		}
	}
}

// historyLimits are spec.analysis's limits of finished AnalysisRuns and
// Experiments kept, successful and unsuccessful.
func (d *decider) historyLimits() (int32, int32) {
	okLimit, badLimit := int32(defaultSuccessfulRunHistory), int32(defaultUnsuccessfulRunHistory)
	if limits := d.ro.Spec.Analysis; limits != nil {
		okLimit = deref(limits.SuccessfulRunHistoryLimit, okLimit)
		badLimit = deref(limits.UnsuccessfulRunHistoryLimit, badLimit)
	}
	return okLimit, badLimit
}
