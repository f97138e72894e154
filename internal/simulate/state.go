package simulate

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/cli/view"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// State is what a person watching the release sees at one moment: the
// Rollout's phase and step, the weights, the Pods of each revision, what
// each Service selects and the verdicts of the analyses.
type State struct {
	// At is the virtual time since the simulation started; in JSON output
	// the entry's atSeconds carries it.
	At time.Duration `json:"-"`
	// Phase and Message are status.phase and status.message.
	Phase   string `json:"phase"`
	Message string `json:"message,omitempty"`
	// Aborted is status.abort.
	Aborted bool `json:"aborted,omitempty"`
	// Paused is true while a pause condition or spec.paused holds.
	Paused bool `json:"paused,omitempty"`
	// Step is status.currentStepIndex, StepCount the number of steps.
	Step      *int32 `json:"step,omitempty"`
	StepCount int32  `json:"stepCount,omitempty"`
	// SetWeight is the weight the current step asks for, ActualWeight the
	// one reached; both nil for blue-green.
	SetWeight    *int32 `json:"setWeight,omitempty"`
	ActualWeight *int32 `json:"actualWeight,omitempty"`
	// StableRevision is the revision status.stableRS names (0: none yet).
	StableRevision int `json:"stableRevision"`
	// Revisions are the ReplicaSets, newest first.
	Revisions []RevisionState `json:"revisions"`
	// Services are the Services the Rollout names and what they select.
	Services []ServiceState `json:"services,omitempty"`
	// Analyses are the Rollout's AnalysisRuns, oldest first.
	Analyses []AnalysisState `json:"analyses,omitempty"`
	// Available is the number of available Pods of every revision.
	Available int32 `json:"available"`
	// Experiments are the Experiments of experiment steps, by name.
	Experiments []ExperimentState `json:"experiments,omitempty"`
}

// ExperimentState is one Experiment's phase.
type ExperimentState struct {
	// Name is the Experiment's name.
	Name string `json:"name"`
	// Phase is its status.phase; empty before its controller saw it.
	Phase string `json:"phase"`
}

// RevisionState is one ReplicaSet's counts.
type RevisionState struct {
	// Revision is the ReplicaSet's rollout.argoproj.io/revision.
	Revision int `json:"revision"`
	// Hash is its rollouts-pod-template-hash.
	Hash string `json:"hash"`
	// Image is its first container's image.
	Image string `json:"image"`
	// Roles are stable, canary, active and preview, as get rollout shows.
	Roles []string `json:"roles,omitempty"`
	// Desired is spec.replicas; Pods, Ready and Available count its Pods.
	Desired   int32 `json:"desired"`
	Pods      int32 `json:"pods"`
	Ready     int32 `json:"ready"`
	Available int32 `json:"available"`
}

// ServiceState is what one Service selects.
type ServiceState struct {
	// Name is the Service's name.
	Name string `json:"name"`
	// Revision is the revision its pod-template hash selects; 0 when it
	// selects none by hash.
	Revision int `json:"revision"`
	// Hash is the rollouts-pod-template-hash of its selector.
	Hash string `json:"hash,omitempty"`
}

// AnalysisState is one AnalysisRun's verdict so far.
type AnalysisState struct {
	// Name is the AnalysisRun's name.
	Name string `json:"name"`
	// Revision is the revision it measures.
	Revision int `json:"revision"`
	// Phase is its status.phase; Pending before the first measurement.
	Phase string `json:"phase"`
}

// observeState reads the State out of the simulated objects. It is the one
// place that turns objects into what the timeline shows; the phase, step,
// weights and roles come from the read model the CLI and the dashboard
// share (internal/rolloutview, through view.SummarizeRollout).
func observeState(at time.Duration, ro *v1alpha1.Rollout, rss []*appsv1.ReplicaSet, services map[string]*corev1.Service, serviceNames []string, runs []v1alpha1.AnalysisRun) State {
	sum := view.SummarizeRollout(ro)
	st := State{At: at, Phase: string(ro.Status.Phase), Message: ro.Status.Message, Aborted: ro.Status.Abort,
		Paused: len(ro.Status.PauseConditions) > 0 || ro.Spec.Paused, SetWeight: sum.SetWeight, ActualWeight: sum.ActualWeight}
	if sum.Step != nil {
		st.Step = ro.Status.CurrentStepIndex
		st.StepCount = sum.Step.Total
	}
	revOfHash := map[string]int{}
	for _, rs := range rss {
		h := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
		revOfHash[h] = revisionOf(rs)
		image := ""
		if cs := rs.Spec.Template.Spec.Containers; len(cs) > 0 {
			image = cs[0].Image
		}
		st.Revisions = append(st.Revisions, RevisionState{Revision: revisionOf(rs), Hash: h, Image: image,
			Roles: rolloutview.Roles(ro, h), Desired: deref(rs.Spec.Replicas, 0), Pods: rs.Status.Replicas,
			Ready: rs.Status.ReadyReplicas, Available: rs.Status.AvailableReplicas})
		st.Available += rs.Status.AvailableReplicas
	}
	sort.SliceStable(st.Revisions, func(i, j int) bool { return st.Revisions[i].Revision > st.Revisions[j].Revision })
	st.StableRevision = revOfHash[ro.Status.StableRS]
	for _, name := range serviceNames {
		svc := services[name]
		if svc == nil {
			continue
		}
		h := svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
		st.Services = append(st.Services, ServiceState{Name: name, Hash: h, Revision: revOfHash[h]})
	}
	for _, r := range runs {
		phase := string(r.Status.Phase)
		if phase == "" {
			phase = string(v1alpha1.AnalysisPhasePending)
		}
		st.Analyses = append(st.Analyses, AnalysisState{Name: r.Name, Revision: revOfHash[r.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]], Phase: phase})
	}
	return st
}

// same reports whether two states show the same thing, time aside.
func (s State) same(o State) bool {
	s.At, o.At = 0, 0
	return fmt.Sprintf("%+v", s.flat()) == fmt.Sprintf("%+v", o.flat())
}

// flat is the state with pointers resolved, for comparison.
func (s State) flat() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%v|%v|%d|%d|%d|%d|%d|", s.Phase, s.Message, s.Aborted, s.Paused, deref(s.Step, -1), s.StepCount,
		deref(s.SetWeight, -1), deref(s.ActualWeight, -1), s.StableRevision)
	fmt.Fprintf(&b, "%v|%v|%v|%v", s.Revisions, s.Services, s.Analyses, s.Experiments)
	return b.String()
}

// Line renders the state as one timeline line.
func (s State) Line() string {
	var parts []string
	phase := s.Phase
	if phase == "" {
		phase = "-"
	}
	if s.Aborted {
		phase += " (aborted)"
	}
	parts = append(parts, fmt.Sprintf("%-11s", phase))
	if s.Step != nil {
		parts = append(parts, fmt.Sprintf("step %d/%d", *s.Step, s.StepCount))
	}
	if s.SetWeight != nil {
		w := fmt.Sprintf("weight %d", *s.SetWeight)
		if s.ActualWeight != nil && *s.ActualWeight != *s.SetWeight {
			w += fmt.Sprintf(" (actual %d)", *s.ActualWeight)
		}
		parts = append(parts, w)
	}
	var revs []string
	for _, r := range s.Revisions {
		if r.Desired == 0 && r.Pods == 0 {
			continue
		}
		role := ""
		if len(r.Roles) > 0 {
			role = " " + strings.Join(r.Roles, ",")
		}
		rev := fmt.Sprintf("rev%d%s %d/%d ready", r.Revision, role, r.Ready, r.Pods)
		if r.Pods != r.Desired {
			rev += fmt.Sprintf(" (wants %d)", r.Desired)
		}
		revs = append(revs, rev)
	}
	if len(revs) > 0 {
		parts = append(parts, "pods: "+strings.Join(revs, ", "))
	}
	var svcs []string
	for _, sv := range s.Services {
		target := "-"
		if sv.Revision > 0 {
			target = fmt.Sprintf("rev%d", sv.Revision)
		}
		svcs = append(svcs, sv.Name+"→"+target)
	}
	if len(svcs) > 0 {
		parts = append(parts, strings.Join(svcs, " "))
	}
	if n := len(s.Analyses); n > 0 {
		a := s.Analyses[n-1]
		parts = append(parts, fmt.Sprintf("analysis %s %s", a.Name, a.Phase))
	}
	if n := len(s.Experiments); n > 0 {
		e := s.Experiments[n-1]
		parts = append(parts, fmt.Sprintf("experiment %s %s", e.Name, cmp.Or(e.Phase, "-")))
	}
	return strings.Join(parts, " | ")
}

// fmtOffset prints a virtual time as 1h02m03s, dropping leading zeros.
func fmtOffset(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// tree builds what `kanaria get rollout` would draw from the simulated
// objects.
func (w *world) tree(runs []v1alpha1.AnalysisRun, jobs []batchv1.Job) view.Tree {
	objs := view.Objects{AnalysisRuns: runs, Jobs: jobs}
	for _, name := range sortedKeys(w.exps) {
		objs.Experiments = append(objs.Experiments, *w.exps[name].DeepCopy())
	}
	for _, rs := range w.sortedRS() {
		objs.ReplicaSets = append(objs.ReplicaSets, *rs.DeepCopy())
	}
	for _, name := range sortedKeys(w.pods) {
		objs.Pods = append(objs.Pods, *w.pods[name].pod.DeepCopy())
	}
	return view.BuildRolloutTree(w.ro, objs, w.now)
}
