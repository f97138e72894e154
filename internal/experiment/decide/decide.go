package decide

import (
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/validation"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// Condition reasons and messages, worded as the reference words them so
// tools that show them read the same.
const (
	ReasonInvalidSpec            = "InvalidSpec"
	ReasonExperimentCompleted    = "ExperimentCompleted"
	ReasonReplicaSetUpdated      = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable = "NewReplicaSetAvailable"

	msgProgressing = "Experiment %q is progressing."
	msgRunning     = "Experiment %q is running."
	msgCompleted   = "Experiment %q has successfully ran and completed."
	// MessageRequiredRunsCompleted ends an Experiment whose required
	// analyses all succeeded.
	MessageRequiredRunsCompleted = "Required AnalysisRuns completed"
)

// Event reasons that are not built from a phase.
const (
	ReasonNewReplicaSet      = "NewReplicaSetCreated"
	ReasonScalingReplicaSet  = "ScalingReplicaSet"
	ReasonRunTerminating     = "AnalysisRunTerminating"
	ReasonServiceCreated     = "ServiceCreated"
	ReasonServiceDeleted     = "ServiceDeleted"
	ReasonInvalidSpecFixed   = "SpecFixed"
	ReasonAnalysisRunCreated = "AnalysisRunCreated"
)

// decider carries one decision; its fields are read by the steps below.
type decider struct {
	s  Snapshot
	ex *v1alpha1.Experiment
	// now is the clock; stamp is the same time as the status stores it,
	// to the second, so a written time reads back equal.
	now   time.Time
	stamp metav1.Time
	// st is the new status, starting as a copy of the current one.
	st   *v1alpha1.ExperimentStatus
	plan Plan
	// terminating: the Experiment is over or ending (terminate, a failed
	// template or analysis, required analyses done), from the status as
	// it was read; nothing new starts and the ReplicaSets go to zero.
	terminating bool
	// passed: the duration has run out, by the status as it was read.
	passed bool
	// planned are the ReplicaSets this reconcile creates, by template name.
	planned map[string]*appsv1.ReplicaSet
}

// Decide returns the plan for the snapshot.
func Decide(s Snapshot) Plan {
	ex := s.Experiment
	d := &decider{
		s: s, ex: ex, now: s.Now, stamp: metav1.NewTime(s.Now.Truncate(time.Second)),
		st: ex.Status.DeepCopy(), planned: map[string]*appsv1.ReplicaSet{},
	}
	if !ex.DeletionTimestamp.IsZero() {
		d.plan.Status = *d.st
		return d.plan
	}
	if errs := Validate(ex, s.Templates); len(errs) > 0 {
		d.invalidSpec(errs)
		d.plan.Status = *d.st
		return d.plan
	}
	d.clearInvalidSpec()
	d.terminating = terminating(ex, &ex.Status)
	d.passed = d.durationPassed(ex.Status.AvailableAt)

	for i := range ex.Spec.Templates {
		d.template(&ex.Spec.Templates[i])
	}
	if !d.st.Phase.Completed() && d.st.AvailableAt == nil && d.templatesPhase() == v1alpha1.AnalysisPhaseRunning {
		d.st.AvailableAt = &d.stamp
	}
	for i := range ex.Spec.Analyses {
		d.analysis(&ex.Spec.Analyses[i])
	}
	d.phase()
	d.conditions()
	d.plan.RequeueAfter = d.requeue()
	d.plan.Status = *d.st
	return d.plan
}

func (d *decider) add(a Action) { d.plan.Actions = append(d.plan.Actions, a) }

func (d *decider) event(typ, reason, msg string) {
	d.plan.Events = append(d.plan.Events, Event{Type: typ, Reason: reason, Message: msg})
}

// invalidSpec reports what is wrong and touches nothing. The phase turns
// Error (the reference only sets the condition, which leaves Argo CD and
// a Rollout waiting on the phase for ever); a fixed spec with a cleared
// status (kanaria retry experiment) starts afresh.
func (d *decider) invalidSpec(errs field.ErrorList) {
	msg := validation.Message(errs)
	prev := findCondition(d.st, v1alpha1.InvalidExperimentSpec)
	if prev == nil || prev.Message != msg || prev.Status != corev1.ConditionTrue {
		removeCondition(d.st, v1alpha1.InvalidExperimentSpec)
		d.setCondition(v1alpha1.InvalidExperimentSpec, corev1.ConditionTrue, ReasonInvalidSpec, msg)
		d.event(corev1.EventTypeWarning, ReasonInvalidSpec, msg)
	}
	if !d.st.Phase.Completed() {
		d.st.Phase = v1alpha1.AnalysisPhaseError
		d.st.Message = ReasonInvalidSpec + ": " + msg
	}
}

func (d *decider) clearInvalidSpec() {
	if findCondition(d.st, v1alpha1.InvalidExperimentSpec) != nil {
		removeCondition(d.st, v1alpha1.InvalidExperimentSpec)
		d.event(corev1.EventTypeNormal, ReasonInvalidSpecFixed, "the spec is valid again")
	}
}

// terminating reports whether an Experiment with this status is over or
// ending: terminated by a client, finished, a template failed, an analysis
// failed, errored or was inconclusive, or every required analysis succeeded.
func terminating(ex *v1alpha1.Experiment, st *v1alpha1.ExperimentStatus) bool {
	if ex.Spec.Terminate || st.Phase.Completed() {
		return true
	}
	for _, ts := range st.TemplateStatuses {
		if ts.Status == v1alpha1.TemplateStatusFailed || ts.Status == v1alpha1.TemplateStatusError {
			return true
		}
	}
	for _, rs := range st.AnalysisRuns {
		switch rs.Phase {
		case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
			return true
		}
	}
	return requiredRunsSucceeded(ex, st)
}

// requiredRunsSucceeded reports whether the spec has analyses required for
// completion and every one of them succeeded.
func requiredRunsSucceeded(ex *v1alpha1.Experiment, st *v1alpha1.ExperimentStatus) bool {
	found := false
	for _, a := range ex.Spec.Analyses {
		if !a.RequiredForCompletion {
			continue
		}
		found = true
		if rs := findRun(st, a.Name); rs == nil || rs.Phase != v1alpha1.AnalysisPhaseSuccessful {
			return false
		}
	}
	return found
}

func hasRequiredRuns(ex *v1alpha1.Experiment) bool {
	return slices.ContainsFunc(ex.Spec.Analyses, func(a v1alpha1.ExperimentAnalysisTemplateRef) bool { return a.RequiredForCompletion })
}

// durationPassed reports whether the duration has run out, counted from
// availableAt; an Experiment without a duration never runs out.
func (d *decider) durationPassed(availableAt *metav1.Time) bool {
	end, ok := d.end(availableAt)
	return ok && !d.now.Before(end)
}

// end is when the duration runs out, if the Experiment has a duration and
// became available.
func (d *decider) end(availableAt *metav1.Time) (time.Time, bool) {
	if d.ex.Spec.Duration == "" || availableAt == nil {
		return time.Time{}, false
	}
	dur, err := d.ex.Spec.Duration.Duration()
	if err != nil {
		return time.Time{}, false
	}
	return availableAt.Add(dur), true
}

// desiredReplicas is how many Pods a template should run now: none once
// the Experiment ends or the template finished.
func (d *decider) desiredReplicas(t *v1alpha1.TemplateSpec, prev *v1alpha1.TemplateStatus) int32 {
	if d.terminating || prev != nil && prev.Status.Completed() {
		return 0
	}
	return replicasOf(t)
}

// template creates, scales and assesses one template's ReplicaSet and
// Service, and records its status.
func (d *decider) template(t *v1alpha1.TemplateSpec) {
	prev := findTemplate(&d.ex.Status, t.Name)
	ts := v1alpha1.TemplateStatus{Name: t.Name}
	if prev != nil {
		ts = *prev.DeepCopy()
	}
	desired := d.desiredReplicas(t, prev)
	rs := d.s.ReplicaSets[t.Name]
	switch {
	case rs == nil && desired > 0:
		rs = d.createReplicaSet(t, &ts, desired)
	case rs != nil:
		d.scale(t, rs, &ts, desired)
	}
	if rs != nil && desired > 0 && ts.Status != v1alpha1.TemplateStatusError {
		d.ensureService(t, rs, &ts)
	}

	if rs != nil && d.planned[t.Name] == nil {
		ts.Replicas = rs.Status.Replicas
		ts.UpdatedReplicas = rs.Status.Replicas
		ts.ReadyReplicas = rs.Status.ReadyReplicas
		ts.AvailableReplicas = rs.Status.AvailableReplicas
	} else {
		ts.Replicas, ts.UpdatedReplicas, ts.ReadyReplicas, ts.AvailableReplicas = 0, 0, 0, 0
	}
	if prev == nil || prev.Replicas != ts.Replicas || prev.UpdatedReplicas != ts.UpdatedReplicas ||
		prev.ReadyReplicas != ts.ReadyReplicas || prev.AvailableReplicas != ts.AvailableReplicas {
		ts.LastTransitionTime = &d.stamp
	}

	// A finished template keeps its state; the others follow their Pods.
	if !ts.Status.Completed() {
		// An ending Experiment's templates end well whatever their Pods do
		// during the scale-down delay; only a running one can miss its
		// progress deadline.
		switch {
		case d.terminating, ts.AvailableReplicas == desired && d.passed:
			ts.Status = v1alpha1.TemplateStatusSuccessful
		case ts.AvailableReplicas == desired:
			ts.Status = v1alpha1.TemplateStatusRunning
		case d.pastProgressDeadline(&ts):
			ts.Status = v1alpha1.TemplateStatusFailed
			ts.Message = fmt.Sprintf("Template '%s' exceeded its progressDeadlineSeconds (%d)", t.Name, progressDeadline(d.ex))
		default:
			ts.Status = v1alpha1.TemplateStatusProgressing
		}
	}
	prevCode := v1alpha1.TemplateStatusCode("")
	if prev != nil {
		prevCode = prev.Status
	}
	if prevCode != ts.Status {
		msg := fmt.Sprintf("Template '%s' transitioned from %s -> %s", t.Name, prevCode, ts.Status)
		if ts.Message != "" {
			msg += ": " + ts.Message
		}
		typ := corev1.EventTypeNormal
		if ts.Status == v1alpha1.TemplateStatusFailed || ts.Status == v1alpha1.TemplateStatusError {
			typ = corev1.EventTypeWarning
		}
		d.event(typ, "Template"+string(ts.Status), msg)
	}
	setTemplate(d.st, ts)
}

// pastProgressDeadline reports whether a template that is not available
// has been without progress for longer than progressDeadlineSeconds.
func (d *decider) pastProgressDeadline(ts *v1alpha1.TemplateStatus) bool {
	from := d.stamp.Time
	if ts.LastTransitionTime != nil {
		from = ts.LastTransitionTime.Time
	}
	return d.now.After(from.Add(time.Duration(progressDeadline(d.ex)) * time.Second))
}

// newReplicaSet builds a template's ReplicaSet as the reference does: the
// pod-template hash on the ReplicaSet, its Pod template and its selector,
// the experiment and template names in annotations.
func newReplicaSet(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec, collisionCount *int32, replicas int32, bucket string) *appsv1.ReplicaSet {
	tmpl := t.Template.DeepCopy()
	delete(tmpl.Labels, v1alpha1.DefaultRolloutUniqueLabelKey)
	hash := templateHash(ex, t.Name, tmpl, collisionCount)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] = hash
	sel := t.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[v1alpha1.DefaultRolloutUniqueLabelKey] = hash
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ReplicaSetName(ex, t),
			Namespace: ex.Namespace,
			Labels:    map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash},
			Annotations: map[string]string{
				v1alpha1.ExperimentNameAnnotationKey:         ex.Name,
				v1alpha1.ExperimentTemplateNameAnnotationKey: t.Name,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ex, v1alpha1.GroupVersion.WithKind("Experiment"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &replicas,
			MinReadySeconds: t.MinReadySeconds,
			Selector:        sel,
			Template:        *tmpl,
		},
	}
	// After the hash, which it must not change.
	shard.Label(&rs.ObjectMeta, &rs.Spec.Template, bucket)
	return rs
}

func (d *decider) createReplicaSet(t *v1alpha1.TemplateSpec, ts *v1alpha1.TemplateStatus, replicas int32) *appsv1.ReplicaSet {
	name := ReplicaSetName(d.ex, t)
	if d.s.TakenNames["ReplicaSet/"+name] {
		ts.Status = v1alpha1.TemplateStatusError
		ts.Message = fmt.Sprintf("Failed to create ReplicaSet for template '%s': ReplicaSet %s already exists and is not owned by this Experiment", t.Name, name)
		return nil
	}
	rs := newReplicaSet(d.ex, t, ts.CollisionCount, replicas, d.s.ShardBucket)
	d.add(CreateReplicaSet{ReplicaSet: rs})
	d.planned[t.Name] = rs
	ts.LastTransitionTime = &d.stamp
	d.event(corev1.EventTypeNormal, ReasonNewReplicaSet, fmt.Sprintf("Created new replica set %q with size %d", name, replicas))
	return rs
}

// scale moves a ReplicaSet to the replicas its template wants. Going to
// zero waits scaleDownDelaySeconds, marked by the scale-down-deadline
// annotation, and takes the template's Service away with the Pods.
func (d *decider) scale(t *v1alpha1.TemplateSpec, rs *appsv1.ReplicaSet, ts *v1alpha1.TemplateStatus, desired int32) {
	cur := int32(1)
	if rs.Spec.Replicas != nil {
		cur = *rs.Spec.Replicas
	}
	deadline, hasDeadline := rs.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey]
	if desired > 0 {
		if hasDeadline {
			d.add(SetScaleDownDeadline{Name: rs.Name})
		}
		if cur != desired {
			d.scaleTo(rs.Name, cur, desired)
			ts.LastTransitionTime = &d.stamp
		}
		return
	}
	if cur > 0 {
		if delay := scaleDownDelay(d.ex); delay > 0 {
			if !hasDeadline {
				d.add(SetScaleDownDeadline{Name: rs.Name, Deadline: d.stamp.Add(time.Duration(delay) * time.Second).UTC().Format(time.RFC3339)})
				return
			}
			// A deadline that does not parse is not worth keeping Pods for.
			if at, err := time.Parse(time.RFC3339, deadline); err == nil && d.now.Before(at) {
				return
			}
		}
		d.scaleTo(rs.Name, cur, 0)
		ts.LastTransitionTime = &d.stamp
	}
	if svc := d.s.Services[t.Name]; svc != nil {
		d.add(DeleteService{Name: svc.Name, UID: svc.UID})
		d.event(corev1.EventTypeNormal, ReasonServiceDeleted, fmt.Sprintf("Deleted Service %s of template '%s'", svc.Name, t.Name))
		ts.ServiceName, ts.PodTemplateHash = "", ""
	}
}

func (d *decider) scaleTo(name string, from, to int32) {
	d.add(ScaleReplicaSet{Name: name, From: from, To: to})
	dir := "up"
	if to < from {
		dir = "down"
	}
	d.event(corev1.EventTypeNormal, ReasonScalingReplicaSet, fmt.Sprintf("Scaled %s ReplicaSet %s from %d to %d", dir, name, from, to))
}

// servicePorts are a Service's ports for every container port of tmpl.
func servicePorts(tmpl *corev1.PodTemplateSpec) []corev1.ServicePort {
	var ports []corev1.ServicePort
	for _, c := range tmpl.Spec.Containers {
		for _, p := range c.Ports {
			ports = append(ports, corev1.ServicePort{
				Name: p.Name, Protocol: p.Protocol, Port: p.ContainerPort, TargetPort: intstr.FromInt32(p.ContainerPort),
			})
		}
	}
	return ports
}

// ensureService creates a template's Service, selecting only its Pods by
// their pod-template hash, and records it in the template's status.
func (d *decider) ensureService(t *v1alpha1.TemplateSpec, rs *appsv1.ReplicaSet, ts *v1alpha1.TemplateStatus) {
	name := ServiceName(d.ex, t)
	if name == "" {
		return
	}
	hash := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
	if svc := d.s.Services[t.Name]; svc != nil {
		ts.ServiceName, ts.PodTemplateHash = svc.Name, hash
		return
	}
	if d.s.TakenNames["Service/"+name] {
		ts.Status = v1alpha1.TemplateStatusError
		ts.Message = fmt.Sprintf("Failed to create Service %s for template '%s': service %s already exists and is not owned by experiment template %s", name, t.Name, name, t.Name)
		return
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: d.ex.Namespace,
			Annotations: map[string]string{
				v1alpha1.ExperimentNameAnnotationKey:         d.ex.Name,
				v1alpha1.ExperimentTemplateNameAnnotationKey: t.Name,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d.ex, v1alpha1.GroupVersion.WithKind("Experiment"))},
		},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash},
			Ports:    servicePorts(&rs.Spec.Template),
		},
	}
	d.add(CreateService{Service: svc})
	d.event(corev1.EventTypeNormal, ReasonServiceCreated, fmt.Sprintf("Created Service %s for template '%s'", name, t.Name))
	ts.ServiceName, ts.PodTemplateHash = name, hash
}

// argValues are the values an analysis argument's placeholders may name.
func (d *decider) argValues() map[string]string {
	v := map[string]string{}
	for i := range d.ex.Spec.Templates {
		t := &d.ex.Spec.Templates[i]
		rs := d.s.ReplicaSets[t.Name]
		if rs == nil {
			rs = d.planned[t.Name]
		}
		if rs != nil {
			v["templates."+t.Name+".podTemplateHash"] = rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
			v["templates."+t.Name+".replicaset.name"] = rs.Name
		}
	}
	if at := d.st.AvailableAt; at != nil {
		v["experiment.availableAt"] = at.UTC().Format(time.RFC3339)
		if end, ok := d.end(at); ok {
			v["experiment.finishedAt"] = end.UTC().Format(time.RFC3339)
		}
	}
	return v
}

// analysis starts, follows or terminates one analysis's AnalysisRun. Runs
// start once every template is available.
func (d *decider) analysis(a *v1alpha1.ExperimentAnalysisTemplateRef) {
	prev := findRun(&d.ex.Status, a.Name)
	rs := v1alpha1.ExperimentAnalysisRunStatus{Name: a.Name}
	if prev != nil {
		rs = *prev
	}
	defer func() {
		prevPhase := v1alpha1.AnalysisPhase("")
		if prev != nil {
			prevPhase = prev.Phase
		}
		if rs.Phase != prevPhase && rs.Phase != "" {
			msg := fmt.Sprintf("AnalysisRun '%s' transitioned from %s -> %s", a.Name, prevPhase, rs.Phase)
			if rs.Message != "" {
				msg += ": " + rs.Message
			}
			typ := corev1.EventTypeNormal
			switch rs.Phase {
			case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
				typ = corev1.EventTypeWarning
			}
			d.event(typ, "AnalysisRun"+string(rs.Phase), msg)
		}
		if prev != nil || rs.AnalysisRun != "" || rs.Phase != "" {
			setRun(d.st, rs)
		}
	}()

	base := RunName(d.ex, a)
	if rs.AnalysisRun == "" {
		// A live run the status does not name was created by a reconcile
		// whose status write was lost: take it over. A finished one is
		// from before a retry cleared the status, and a new run is made
		// beside it, as the reference does, under the next free name.
		for n := 0; ; n++ {
			name := runAttempt(base, n)
			r := d.s.AnalysisRuns[name]
			if r == nil {
				if d.s.TakenNames[TakenRun(name)] {
					continue
				}
				break
			}
			if !r.Status.Phase.Completed() && !r.Spec.Terminate {
				rs.AnalysisRun = name
				break
			}
		}
	}
	if rs.AnalysisRun == "" {
		if d.terminating || d.st.AvailableAt == nil || d.st.Phase.Completed() {
			return
		}
		name := base
		for n := 1; d.s.AnalysisRuns[name] != nil || d.s.TakenNames[TakenRun(name)]; n++ {
			name = runAttempt(base, n)
		}
		ar, err := template.BuildForExperiment(template.ExperimentInput{
			Experiment: d.ex, Analysis: a, Name: name, Values: d.argValues(),
		}, d.s.Templates)
		if err != nil {
			rs.Phase = v1alpha1.AnalysisPhaseError
			rs.Message = fmt.Sprintf("Failed to create AnalysisRun for analysis '%s': %v", a.Name, err)
			return
		}
		d.add(CreateAnalysisRun{Run: ar})
		d.event(corev1.EventTypeNormal, ReasonAnalysisRunCreated, fmt.Sprintf("Created AnalysisRun %s for analysis '%s'", name, a.Name))
		rs.AnalysisRun, rs.Phase = name, v1alpha1.AnalysisPhasePending
		return
	}
	if rs.Phase.Completed() {
		return
	}
	run := d.s.AnalysisRuns[rs.AnalysisRun]
	if run == nil {
		// A run just created may not be in the cache yet; one that was
		// seen running and is gone was deleted.
		if rs.Phase != v1alpha1.AnalysisPhasePending && rs.Phase != "" {
			rs.Phase = v1alpha1.AnalysisPhaseError
			rs.Message = fmt.Sprintf("AnalysisRun %s was deleted", rs.AnalysisRun)
		}
		return
	}
	if d.terminating {
		if !run.Status.Phase.Completed() && !run.Spec.Terminate {
			d.add(TerminateAnalysisRun{Name: run.Name})
			d.event(corev1.EventTypeNormal, ReasonRunTerminating, fmt.Sprintf("Terminating %s (%s)", a.Name, run.Name))
		}
		if !run.Status.Phase.Completed() {
			return
		}
	}
	rs.Phase, rs.Message = run.Status.Phase, run.Status.Message
	if rs.Phase == "" {
		rs.Phase = v1alpha1.AnalysisPhasePending
	}
}

// TakenRun is the TakenNames key of an AnalysisRun name that a run the
// Experiment must not take as its own holds: another owner's, or a finished
// one of its own that the cache did not show yet.
func TakenRun(name string) string { return "AnalysisRun/" + name }

// runAttempt is the name of the nth run of an analysis: base, then base.1,
// base.2, ...
func runAttempt(base string, n int) string {
	if n == 0 {
		return base
	}
	return fmt.Sprintf("%s.%d", base, n)
}

// templatesPhase is the worst state of the templates as an Experiment
// phase: Pending while one is progressing, Running when all are available,
// Successful when all finished well, Failed or Error when one did.
func (d *decider) templatesPhase() v1alpha1.AnalysisPhase {
	p, _ := d.assessTemplates()
	return p
}

// templateOrder lists template states from best to worst.
var templateOrder = []v1alpha1.TemplateStatusCode{
	v1alpha1.TemplateStatusSuccessful, v1alpha1.TemplateStatusRunning, v1alpha1.TemplateStatusProgressing,
	v1alpha1.TemplateStatusError, v1alpha1.TemplateStatusFailed,
}

func (d *decider) assessTemplates() (v1alpha1.AnalysisPhase, string) {
	if len(d.ex.Spec.Templates) == 0 {
		// With nothing to wait for, an Experiment of analyses alone runs.
		if d.passed || d.terminating {
			return v1alpha1.AnalysisPhaseSuccessful, ""
		}
		return v1alpha1.AnalysisPhaseRunning, ""
	}
	worst, msg := v1alpha1.TemplateStatusSuccessful, ""
	for _, t := range d.ex.Spec.Templates {
		code := v1alpha1.TemplateStatusProgressing
		ts := findTemplate(d.st, t.Name)
		if ts != nil {
			code = ts.Status
		}
		if slices.Index(templateOrder, code) > slices.Index(templateOrder, worst) {
			worst = code
			if ts != nil {
				msg = ts.Message
			}
		}
	}
	switch worst {
	case v1alpha1.TemplateStatusProgressing:
		return v1alpha1.AnalysisPhasePending, msg
	case v1alpha1.TemplateStatusRunning:
		return v1alpha1.AnalysisPhaseRunning, msg
	case v1alpha1.TemplateStatusFailed:
		return v1alpha1.AnalysisPhaseFailed, msg
	case v1alpha1.TemplateStatusError:
		return v1alpha1.AnalysisPhaseError, msg
	}
	return v1alpha1.AnalysisPhaseSuccessful, msg
}

// runOrder lists analysis phases from best to worst; a phase not listed
// (an analysis not started) counts as the best.
var runOrder = []v1alpha1.AnalysisPhase{
	v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhasePending,
	v1alpha1.AnalysisPhaseInconclusive, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseFailed,
}

func runRank(p v1alpha1.AnalysisPhase) int { return max(0, slices.Index(runOrder, p)) }

// assessRuns is the worst phase of the analyses with its message; Pending
// reads as Running, and required analyses that all succeeded (with no
// other analysis failed) make it Successful.
func (d *decider) assessRuns() (v1alpha1.AnalysisPhase, string) {
	worst, msg := v1alpha1.AnalysisPhaseSuccessful, ""
	for _, a := range d.ex.Spec.Analyses {
		if rs := findRun(d.st, a.Name); rs != nil && runRank(rs.Phase) > runRank(worst) {
			worst, msg = rs.Phase, rs.Message
		}
	}
	if requiredRunsSucceeded(d.ex, d.st) && runRank(worst) <= runRank(v1alpha1.AnalysisPhasePending) {
		return v1alpha1.AnalysisPhaseSuccessful, MessageRequiredRunsCompleted
	}
	if worst == v1alpha1.AnalysisPhasePending {
		worst = v1alpha1.AnalysisPhaseRunning
	}
	return worst, msg
}

// phase sets the Experiment's phase and message from its templates and
// analyses. A finished Experiment keeps its phase.
func (d *decider) phase() {
	if d.st.Phase.Completed() {
		return
	}
	tPhase, tMsg := d.assessTemplates()
	aPhase, aMsg := d.assessRuns()
	phase, msg := tPhase, tMsg
	switch {
	case tPhase.Completed():
		// Templates that ran their course well defer to the analyses when
		// those finished too or some are required; a failed template
		// decides alone.
		if tPhase == v1alpha1.AnalysisPhaseSuccessful && (aPhase.Completed() || hasRequiredRuns(d.ex)) {
			phase, msg = aPhase, aMsg
		}
	case aPhase.Completed() && aPhase != v1alpha1.AnalysisPhaseSuccessful:
		phase, msg = aPhase, aMsg
	case requiredRunsSucceeded(d.ex, d.st):
		phase, msg = aPhase, aMsg
	}
	d.st.Phase, d.st.Message = phase, msg
}

// conditions keeps the Progressing condition as the reference does: True
// with ReplicaSetUpdated while Pod counts move, True with
// NewReplicaSetAvailable while the duration runs, False with
// ExperimentCompleted once the Experiment ends.
func (d *decider) conditions() {
	old := &d.ex.Status
	name := d.ex.Name
	switch {
	case d.st.Phase.Completed():
		d.setCondition(v1alpha1.ExperimentProgressing, corev1.ConditionFalse, ReasonExperimentCompleted, fmt.Sprintf(msgCompleted, name))
	case countsMoved(old, d.st):
		c := v1alpha1.ExperimentCondition{
			Type: v1alpha1.ExperimentProgressing, Status: corev1.ConditionTrue, Reason: ReasonReplicaSetUpdated,
			Message: fmt.Sprintf(msgProgressing, name), LastUpdateTime: d.stamp, LastTransitionTime: d.stamp,
		}
		if cur := findCondition(old, v1alpha1.ExperimentProgressing); cur != nil && cur.Status == corev1.ConditionTrue {
			c.LastTransitionTime = cur.LastTransitionTime
		}
		removeCondition(d.st, v1alpha1.ExperimentProgressing)
		d.st.Conditions = append(d.st.Conditions, c)
	case old.AvailableAt != nil && !d.passed:
		d.setCondition(v1alpha1.ExperimentProgressing, corev1.ConditionTrue, ReasonNewReplicaSetAvailable, fmt.Sprintf(msgRunning, name))
	}
}

// countsMoved reports whether a template appeared or its Pod counts changed.
func countsMoved(old, next *v1alpha1.ExperimentStatus) bool {
	for _, n := range next.TemplateStatuses {
		o := findTemplate(old, n.Name)
		if o == nil || o.Replicas != n.Replicas || o.UpdatedReplicas != n.UpdatedReplicas ||
			o.ReadyReplicas != n.ReadyReplicas || o.AvailableReplicas != n.AvailableReplicas {
			return true
		}
	}
	return false
}

// requeue is when the Experiment must be looked at again though nothing
// it watches changes: the end of its duration, the progress deadline of a
// template still coming up, or a ReplicaSet's scale-down deadline.
func (d *decider) requeue() time.Duration {
	var next time.Duration
	consider := func(at time.Time) {
		// A second past the moment, so the next look finds it passed.
		wait := at.Sub(d.now) + time.Second
		if wait > 0 && (next == 0 || wait < next) {
			next = wait
		}
	}
	if !d.st.Phase.Completed() && !d.ex.Spec.Terminate {
		if end, ok := d.end(d.st.AvailableAt); ok {
			consider(end)
		}
		for i := range d.ex.Spec.Templates {
			t := &d.ex.Spec.Templates[i]
			ts := findTemplate(d.st, t.Name)
			if ts == nil || ts.LastTransitionTime == nil || ts.Status.Completed() || ts.AvailableReplicas == replicasOf(t) {
				continue
			}
			consider(ts.LastTransitionTime.Add(time.Duration(progressDeadline(d.ex)) * time.Second))
		}
	}
	for _, a := range d.plan.Actions {
		if s, ok := a.(SetScaleDownDeadline); ok && s.Deadline != "" {
			consider(d.stamp.Add(time.Duration(scaleDownDelay(d.ex)) * time.Second))
		}
	}
	for _, rs := range d.s.ReplicaSets {
		if rs.Spec.Replicas != nil && *rs.Spec.Replicas == 0 {
			continue
		}
		if v, ok := rs.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey]; ok {
			if at, err := time.Parse(time.RFC3339, v); err == nil {
				consider(at)
			}
		}
	}
	return next
}

func findTemplate(st *v1alpha1.ExperimentStatus, name string) *v1alpha1.TemplateStatus {
	for i := range st.TemplateStatuses {
		if st.TemplateStatuses[i].Name == name {
			return &st.TemplateStatuses[i]
		}
	}
	return nil
}

func setTemplate(st *v1alpha1.ExperimentStatus, ts v1alpha1.TemplateStatus) {
	if cur := findTemplate(st, ts.Name); cur != nil {
		*cur = ts
		return
	}
	st.TemplateStatuses = append(st.TemplateStatuses, ts)
}

func findRun(st *v1alpha1.ExperimentStatus, name string) *v1alpha1.ExperimentAnalysisRunStatus {
	for i := range st.AnalysisRuns {
		if st.AnalysisRuns[i].Name == name {
			return &st.AnalysisRuns[i]
		}
	}
	return nil
}

func setRun(st *v1alpha1.ExperimentStatus, rs v1alpha1.ExperimentAnalysisRunStatus) {
	if cur := findRun(st, rs.Name); cur != nil {
		*cur = rs
		return
	}
	st.AnalysisRuns = append(st.AnalysisRuns, rs)
}

func findCondition(st *v1alpha1.ExperimentStatus, t v1alpha1.ExperimentConditionType) *v1alpha1.ExperimentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func removeCondition(st *v1alpha1.ExperimentStatus, t v1alpha1.ExperimentConditionType) {
	st.Conditions = slices.DeleteFunc(st.Conditions, func(c v1alpha1.ExperimentCondition) bool { return c.Type == t })
	if len(st.Conditions) == 0 {
		st.Conditions = nil
	}
}

// setCondition sets a condition; one with the same status and reason is
// left as it is, and lastTransitionTime moves only with the status.
func (d *decider) setCondition(t v1alpha1.ExperimentConditionType, status corev1.ConditionStatus, reason, msg string) {
	c := v1alpha1.ExperimentCondition{Type: t, Status: status, Reason: reason, Message: msg, LastUpdateTime: d.stamp, LastTransitionTime: d.stamp}
	if cur := findCondition(d.st, t); cur != nil {
		if cur.Status == status && cur.Reason == reason {
			return
		}
		if cur.Status == status {
			c.LastTransitionTime = cur.LastTransitionTime
		}
	}
	removeCondition(d.st, t)
	d.st.Conditions = append(d.st.Conditions, c)
}
