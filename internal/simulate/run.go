// Package simulate plays a Rollout's release offline: the controller's real
// decision code (package decide) and the real analysis controller run
// against a simulated cluster on a virtual clock, while a scenario scripts
// what the world does (new templates, Pods that never become ready, metric
// values, test Jobs, people promoting and aborting). The result is the
// timeline a person would have watched, checked against the scenario's
// expectations and the controller's safety invariants.
package simulate

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis"
	"github.com/kanaria-rollouts/kanaria/internal/cli/view"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/replicas"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/validation"
)

// Start is the virtual wall-clock time every simulation starts at, so the
// same scenario always prints the same timeline.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// maxSteps bounds the clock's steps; a simulation that needs more has a
// controller that never settles, which is reported, not looped on.
const maxSteps = 500000

// Options change what a run records and how the simulated controller is
// configured.
type Options struct {
	// Frames keeps a `kanaria get rollout` tree at every change of state,
	// for --watch.
	Frames bool
	// AnalysisStatusBatch is the analysis controller's
	// --analysis-status-batch window, on the virtual clock; nil means the
	// controller's default, so that simulated AnalysisRun status writes
	// are the ones a default controller makes. Zero writes every
	// measurement at once.
	AnalysisStatusBatch *time.Duration
}

// statusBatch is the batch window the simulated analysis controller uses.
func (o Options) statusBatch() time.Duration {
	if o.AnalysisStatusBatch == nil {
		return analysis.DefaultStatusBatch
	}
	return *o.AnalysisStatusBatch
}

// Entry is one line of the timeline.
type Entry struct {
	// At is the virtual time since the start; JSON output gives it as
	// atSeconds.
	At time.Duration `json:"-"`
	// Kind is state, action, event, measurement or violation.
	Kind string `json:"kind"`
	// State is set for kind state.
	State *State `json:"state,omitempty"`
	// Object is the object an event or measurement is about.
	Object string `json:"object,omitempty"`
	// Reason is an Event's reason, a measurement's phase or an action.
	Reason string `json:"reason,omitempty"`
	// Message explains the entry.
	Message string `json:"message,omitempty"`
	// Routine marks an Event the controller logs but does not record.
	Routine bool `json:"routine,omitempty"`
}

// Entry kinds.
const (
	// KindState is a change of what a person watching would see.
	KindState = "state"
	// KindAction is a scripted update or user action.
	KindAction = "action"
	// KindEvent is a decision of the Rollout or a verdict of an analysis.
	KindEvent = "event"
	// KindMeasurement is a finished measurement.
	KindMeasurement = "measurement"
	// KindViolation is a broken safety invariant.
	KindViolation = "violation"
)

// Frame is the `get rollout` view at a moment.
type Frame struct {
	// At is the virtual time of the frame.
	At time.Duration
	// Tree is what `kanaria get rollout` would draw.
	Tree view.Tree
}

// Result is a finished simulation.
type Result struct {
	// Scenario is the scenario's name.
	Scenario string `json:"scenario"`
	// Rollout is the simulated Rollout's name.
	Rollout string `json:"rollout"`
	// End is when the simulation stopped.
	End time.Duration `json:"end"`
	// Entries is the timeline.
	Entries []Entry `json:"timeline"`
	// Failures are the expectations and invariants that did not hold.
	Failures []Failure `json:"failures"`
	// Skipped names manifest objects the simulation does not model.
	Skipped []string `json:"skipped,omitempty"`
	// Frames are set when Options.Frames asks for them.
	Frames []Frame `json:"-"`
	// AnalysisRunStatusWrites is how many AnalysisRun status writes the
	// analysis controller made, with the batch window the run used.
	AnalysisRunStatusWrites int `json:"analysisRunStatusWrites"`

	states []State
}

// Failure is an expectation or invariant that did not hold.
type Failure struct {
	// Where names the scenario line, or "invariant".
	Where string `json:"where"`
	// What says what was expected.
	What string `json:"what"`
	// Got says what happened instead.
	Got string `json:"got"`
}

// Passed reports whether every expectation and invariant held.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }

// Run simulates the scenario against the manifests.
func Run(ctx context.Context, m *Manifests, sc *Scenario, opts Options) (*Result, error) {
	w, err := newWorld(m, sc, Start)
	if err != nil {
		return nil, err
	}
	w.analysis.StatusBatch = opts.statusBatch()
	end := Start.Add(MaxDuration)
	if sc.Duration > 0 {
		end = Start.Add(sc.Duration.D())
	}
	actions := append([]Action(nil), sc.Actions...)
	sort.SliceStable(actions, func(i, j int) bool { return actions[i].At < actions[j].At })
	r := &Result{Scenario: sc.Name, Rollout: w.ro.Name, Skipped: m.Skipped}
	ru := &runner{w: w, r: r, opts: opts, seenMeas: map[string]bool{}, violations: map[string]bool{}}
	next := 0
	for step := 0; ; step++ {
		if step >= maxSteps {
			return nil, fmt.Errorf("the simulation did not settle within %d steps (at %s)", maxSteps, fmtOffset(w.now.Sub(Start)))
		}
		busy := false
		for next < len(actions) && !Start.Add(actions[next].At.D()).After(w.now) {
			ru.userAction(actions[next])
			next++
			busy = true
		}
		if w.tickCluster() {
			busy = true
		}
		changed, err := w.tickJobs(ctx)
		if err != nil {
			return nil, err
		}
		busy = busy || changed
		changed, err = ru.reconcileAnalyses(ctx)
		if err != nil {
			return nil, err
		}
		busy = busy || changed
		changed, err = ru.reconcileExperiments(ctx)
		if err != nil {
			return nil, err
		}
		busy = busy || changed
		changed, err = ru.reconcileRollout(ctx)
		if err != nil {
			return nil, err
		}
		busy = busy || changed
		if err := ru.record(ctx); err != nil {
			return nil, err
		}
		if busy {
			if w.now.Add(reaction).After(end) {
				break
			}
			w.now = w.now.Add(reaction)
			continue
		}
		wake := ru.nextWake(actions, next)
		if wake.IsZero() || wake.After(end) {
			if sc.Duration > 0 {
				w.now = end
				w.tickCluster()
				if err := ru.record(ctx); err != nil {
					return nil, err
				}
			}
			break
		}
		w.now = wake
	}
	r.End = w.now.Sub(Start)
	r.AnalysisRunStatusWrites = w.runStatusWrites
	r.Failures = append(r.Failures, checkExpectations(sc, r)...)
	return r, nil
}

// runner carries one simulation's bookkeeping.
type runner struct {
	w    *world
	r    *Result
	opts Options
	// seenMeas holds the measurements already on the timeline.
	seenMeas map[string]bool
	// violations holds the invariant messages already reported.
	violations map[string]bool
	// events is how many of the world's events are on the timeline.
	events int
}

func (ru *runner) at() time.Duration { return ru.w.now.Sub(Start) }

// userAction applies a scripted update or user command.
func (ru *runner) userAction(a Action) {
	w := ru.w
	ro := w.ro
	add := func(reason, msg string) {
		ru.r.Entries = append(ru.r.Entries, Entry{At: ru.at(), Kind: KindAction, Reason: reason, Message: msg})
	}
	updating := ro.Status.CurrentPodHash != ro.Status.StableRS
	switch {
	case a.Update != nil:
		tmpl := &ro.Spec.Template
		if w.workload != nil {
			tmpl = &w.workload.Spec.Template
			w.workload.Generation++
		}
		applyTemplateChange(tmpl, a.Update)
		ro.Generation++
		add("update", describeChange(a.Update))
	case a.Promote:
		// What `kanaria promote` (and the public plugin) sends.
		canary := ro.Spec.Strategy.Canary
		switch {
		case ro.Spec.Paused || len(ro.Status.PauseConditions) > 0:
			if ro.Spec.Paused {
				ro.Spec.Paused = false
				ro.Generation++
			}
			ro.Status.PauseConditions = nil
			add("promote", "pause conditions cleared")
		case canary != nil && updating && len(canary.Steps) > 0 && int(deref(ro.Status.CurrentStepIndex, 0)) < len(canary.Steps):
			idx := deref(ro.Status.CurrentStepIndex, 0) + 1
			ro.Status.CurrentStepIndex = &idx
			add("promote", fmt.Sprintf("moved to step %d", idx))
		default:
			add("promote", "nothing to promote: the Rollout is not paused and not in the middle of steps")
		}
	case a.PromoteFull:
		if !updating {
			add("promoteFull", "nothing to promote: the Rollout already runs its desired version")
			break
		}
		ro.Status.PromoteFull = true
		add("promoteFull", "status.promoteFull set")
	case a.Abort:
		ro.Status.Abort = true
		add("abort", "status.abort set")
	case a.Retry:
		ro.Status.Abort = false
		add("retry", "status.abort cleared")
	case a.Pause:
		ro.Spec.Paused = true
		ro.Generation++
		add("pause", "spec.paused set")
	case a.Scale != nil:
		ro.Spec.Replicas = ptr(*a.Scale)
		ro.Generation++
		add("scale", fmt.Sprintf("spec.replicas set to %d", *a.Scale))
	case a.DeleteService != "":
		if _, ok := w.services[a.DeleteService]; !ok {
			add("deleteService", fmt.Sprintf("Service %s does not exist", a.DeleteService))
			break
		}
		delete(w.services, a.DeleteService)
		add("deleteService", fmt.Sprintf("Service %s deleted", a.DeleteService))
	}
}

// applyTemplateChange edits a Pod template as a new manifest would.
func applyTemplateChange(t *corev1.PodTemplateSpec, c *TemplateChange) {
	cs := t.Spec.Containers
	if c.Image != "" && len(cs) > 0 {
		cs[0].Image = c.Image
	}
	for i := range cs {
		if img, ok := c.Images[cs[i].Name]; ok {
			cs[i].Image = img
		}
	}
	for k, v := range c.Labels {
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		if v == "" {
			delete(t.Labels, k)
		} else {
			t.Labels[k] = v
		}
	}
	for i := range t.Spec.Volumes {
		v := &t.Spec.Volumes[i]
		if name, ok := c.SecretNames[v.Name]; ok && v.Secret != nil {
			v.Secret.SecretName = name
		}
	}
	if len(cs) > 0 {
		for _, k := range sortedKeys(c.Env) {
			found := false
			for i := range cs[0].Env {
				if cs[0].Env[i].Name == k {
					cs[0].Env[i].Value, cs[0].Env[i].ValueFrom = c.Env[k], nil
					found = true
				}
			}
			if !found {
				cs[0].Env = append(cs[0].Env, corev1.EnvVar{Name: k, Value: c.Env[k]})
			}
		}
	}
}

func describeChange(c *TemplateChange) string {
	var parts []string
	if c.Image != "" {
		parts = append(parts, "image "+c.Image)
	}
	for _, k := range sortedKeys(c.Images) {
		parts = append(parts, fmt.Sprintf("image of %s %s", k, c.Images[k]))
	}
	for _, k := range sortedKeys(c.Labels) {
		parts = append(parts, fmt.Sprintf("label %s=%s", k, c.Labels[k]))
	}
	for _, k := range sortedKeys(c.Env) {
		parts = append(parts, fmt.Sprintf("env %s=%s", k, c.Env[k]))
	}
	for _, k := range sortedKeys(c.SecretNames) {
		parts = append(parts, fmt.Sprintf("volume %s from Secret %s", k, c.SecretNames[k]))
	}
	return "new Pod template: " + strings.Join(parts, ", ")
}

// reconcileAnalyses lets the real analysis controller measure and judge
// every run that is due.
func (ru *runner) reconcileAnalyses(ctx context.Context) (bool, error) {
	w := ru.w
	runs, err := w.runsOf(ctx, "")
	if err != nil {
		return false, err
	}
	changed := false
	for _, run := range runs {
		wake, ok := w.runWake[run.Name]
		if !ok || wake.IsZero() || wake.After(w.now) {
			continue
		}
		w.querier.now = w.now
		res, err := w.analysis.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: run.Name}})
		if err != nil {
			return false, fmt.Errorf("analysis of %s: %w", run.Name, err)
		}
		switch {
		case res.RequeueAfter > 0:
			w.runWake[run.Name] = w.now.Add(res.RequeueAfter)
		case res.Requeue:
			w.runWake[run.Name] = w.now.Add(reaction)
		default:
			w.runWake[run.Name] = time.Time{}
		}
		var after v1alpha1.AnalysisRun
		if err := w.c.Get(ctx, client.ObjectKeyFromObject(&run), &after); err != nil {
			return false, fmt.Errorf("reading AnalysisRun %s: %w", run.Name, err)
		}
		// A run that only moved an in-flight measurement's next check
		// (a Job still running) changes nothing the Rollout decides on.
		if run.Status.Phase != after.Status.Phase || completedMeasurements(&run) != completedMeasurements(&after) {
			changed = true
			ru.measurements(&after)
		}
	}
	return changed, nil
}

// completedMeasurements counts the run's finished measurements.
func completedMeasurements(run *v1alpha1.AnalysisRun) int {
	n := 0
	for _, mr := range run.Status.MetricResults {
		n += int(mr.Count + mr.Error)
	}
	return n
}

// measurements puts the run's newly finished measurements on the timeline.
func (ru *runner) measurements(run *v1alpha1.AnalysisRun) {
	for _, mr := range run.Status.MetricResults {
		for _, m := range mr.Measurements {
			if !m.Phase.Completed() || m.StartedAt == nil {
				continue
			}
			key := fmt.Sprintf("%s/%s/%s", run.Name, mr.Name, m.StartedAt.UTC().Format(time.RFC3339Nano))
			if ru.seenMeas[key] {
				continue
			}
			ru.seenMeas[key] = true
			msg := fmt.Sprintf("%s = %s", mr.Name, m.Value)
			if m.Value == "" {
				msg = mr.Name
			}
			if m.Message != "" {
				msg += " (" + m.Message + ")"
			}
			ru.r.Entries = append(ru.r.Entries, Entry{At: ru.at(), Kind: KindMeasurement, Object: "AnalysisRun/" + run.Name, Reason: string(m.Phase), Message: msg})
		}
	}
}

// reconcileRollout runs the controller's decision on a snapshot of the
// simulated cluster and applies the plan as its executor would.
func (ru *runner) reconcileRollout(ctx context.Context) (bool, error) {
	w := ru.w
	snap, err := w.snapshot(ctx)
	if err != nil {
		return false, err
	}
	plan := decide.Decide(snap)
	ru.checkPlan(snap, plan)
	busy := false
	traffic := w.traffic
	for _, a := range plan.Actions {
		if t, ok := a.(decide.SyncTraffic); ok && traffic != nil && reflect.DeepEqual(t.Desired, *traffic) {
			continue
		}
		busy = true
		if err := w.apply(ctx, a); err != nil {
			return false, err
		}
	}
	for _, e := range plan.Events {
		w.events = append(w.events, recordedEvent{at: w.now, object: "Rollout/" + w.ro.Name, typ: e.Type, reason: e.Reason, message: e.Message, routine: e.Routine})
	}
	if !equality.Semantic.DeepEqual(w.ro.Status, plan.Status) {
		busy = true
		w.ro.Status = plan.Status
	}
	w.rolloutW = time.Time{}
	if plan.RequeueAfter > 0 {
		w.rolloutW = w.now.Add(plan.RequeueAfter)
	}
	return busy, nil
}

// nextWake is the earliest moment something is due: a scripted action, a
// Pod becoming ready or crashing, a Job ending, an analysis measurement,
// or the Rollout's own requeue.
func (ru *runner) nextWake(actions []Action, next int) time.Time {
	w := ru.w
	var wake time.Time
	consider := func(t time.Time) {
		if t.IsZero() || !t.After(w.now) {
			return
		}
		if wake.IsZero() || t.Before(wake) {
			wake = t
		}
	}
	if next < len(actions) {
		consider(Start.Add(actions[next].At.D()))
	}
	for _, p := range w.pods {
		consider(p.readyAt)
		consider(p.crashAt)
		for _, rs := range w.rs {
			if rs.Spec.MinReadySeconds > 0 && !p.readyAt.IsZero() {
				consider(p.readyAt.Add(time.Duration(rs.Spec.MinReadySeconds) * time.Second))
			}
		}
	}
	for _, j := range w.jobs {
		consider(j.endsAt)
	}
	for _, t := range w.runWake {
		consider(t)
	}
	for _, t := range w.expWake {
		consider(t)
	}
	consider(w.rolloutW)
	return wake
}

// record adds the new events and, when it changed, the state.
func (ru *runner) record(ctx context.Context) error {
	w := ru.w
	for _, e := range w.events[ru.events:] {
		ru.r.Entries = append(ru.r.Entries, Entry{At: e.at.Sub(Start), Kind: KindEvent, Object: e.object, Reason: e.reason, Message: e.message, Routine: e.routine})
	}
	ru.events = len(w.events)
	runs, err := w.runs(ctx)
	if err != nil {
		return err
	}
	st := observeState(ru.at(), w.ro, w.rolloutRS(), w.services, validation.ServiceNames(w.ro), runs)
	for _, name := range sortedKeys(w.exps) {
		st.Experiments = append(st.Experiments, ExperimentState{Name: name, Phase: string(w.exps[name].Status.Phase)})
	}
	if n := len(ru.r.states); n > 0 && ru.r.states[n-1].same(st) {
		return nil
	}
	ru.r.states = append(ru.r.states, st)
	s := st
	ru.r.Entries = append(ru.r.Entries, Entry{At: st.At, Kind: KindState, State: &s})
	if ru.opts.Frames {
		var jobs batchv1.JobList
		if err := w.c.List(ctx, &jobs, client.InNamespace(namespace)); err != nil {
			return fmt.Errorf("listing Jobs: %w", err)
		}
		all, err := w.runsOf(ctx, "")
		if err != nil {
			return err
		}
		ru.r.Frames = append(ru.r.Frames, Frame{At: st.At, Tree: w.tree(all, jobs.Items)})
	}
	return nil
}

// violate reports a broken invariant once.
func (ru *runner) violate(msg string) {
	if ru.violations[msg] {
		return
	}
	ru.violations[msg] = true
	ru.r.Entries = append(ru.r.Entries, Entry{At: ru.at(), Kind: KindViolation, Message: msg})
	ru.r.Failures = append(ru.r.Failures, Failure{Where: "invariant", What: "the controller's safety rules hold", Got: fmt.Sprintf("at %s: %s", fmtOffset(ru.at()), msg)})
}

// checkTraffic checks that the plan sends no traffic to a version without
// available Pods: a Service it points by hash, and a routed canary weight,
// go to a ReplicaSet that has available Pods when the plan is made. (Pods
// that crash afterwards are the world's doing, not the controller's.) A
// first deploy, where no version has any available Pod, is exempt.
func (ru *runner) checkTraffic(snap decide.Snapshot, plan decide.Plan) {
	avail := map[string]int32{}
	var any int32
	for _, rs := range snap.ReplicaSets {
		avail[rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]] += rs.Status.AvailableReplicas
		any += rs.Status.AvailableReplicas
	}
	if any == 0 {
		return
	}
	for _, a := range plan.Actions {
		switch a := a.(type) {
		case decide.SetServiceSelector:
			if avail[a.Hash] == 0 {
				ru.violate(fmt.Sprintf("Service %s is pointed at %s, which has no available Pods", a.Service, a.Hash))
			}
		case decide.SyncTraffic:
			d := a.Desired
			if d.CanaryWeight > 0 && d.CanaryHash != "" && d.CanaryHash != d.StableHash && avail[d.CanaryHash] == 0 {
				ru.violate(fmt.Sprintf("%d/%d of the traffic is sent to %s, which has no available Pods", d.CanaryWeight, d.MaxWeight, d.CanaryHash))
			}
		}
	}
}

// checkPlan checks a plan against the rule that the stable version keeps
// its capacity until the new one is available: a scale-down of the stable
// ReplicaSet must leave, with the new version's available Pods, at least
// the Rollout's replicas less the allowed unavailability.
func (ru *runner) checkPlan(snap decide.Snapshot, plan decide.Plan) {
	ru.checkTraffic(snap, plan)
	ro := snap.Rollout
	stable := ro.Status.StableRS
	if stable == "" || plan.Status.StableRS != stable || ro.Status.Abort {
		return
	}
	want := deref(ro.Spec.Replicas, 1)
	allowed := int32(0)
	if c := ro.Spec.Strategy.Canary; c != nil {
		if _, u, err := replicas.ResolveSurgeUnavailable(c.MaxSurge, c.MaxUnavailable, want); err == nil {
			allowed = u
		}
	}
	for _, a := range plan.Actions {
		s, ok := a.(decide.ScaleReplicaSet)
		if !ok || s.To >= s.From {
			continue
		}
		var rsHash string
		var others int32
		for _, rs := range snap.ReplicaSets {
			h := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
			if rs.Name == s.Name {
				rsHash = h
			} else if h == ro.Status.CurrentPodHash {
				others += rs.Status.AvailableReplicas
			}
		}
		if rsHash != stable || s.To >= want {
			continue
		}
		if others+s.To < want-allowed {
			ru.violate(fmt.Sprintf("the stable ReplicaSet %s is scaled from %d to %d while the new version has %d available Pods (at least %d of %d must stay available)",
				s.Name, s.From, s.To, others, want-allowed, want))
		}
	}
}

// StateAt is the state that held at t: the last one recorded at or before.
func (r *Result) StateAt(t time.Duration) State {
	if len(r.states) == 0 {
		return State{}
	}
	return stateAt(r.states, t)
}

// States are the distinct states in time order.
func (r *Result) States() []State { return append([]State(nil), r.states...) }
