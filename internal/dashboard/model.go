package dashboard

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/compare"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// The statuses a Rollout is shown with, as the kubectl plugin shows them.
const (
	StatusHealthy     = "Healthy"
	StatusProgressing = "Progressing"
	StatusPaused      = "Paused"
	StatusDegraded    = "Degraded"
)

// The states of a canary step on the timeline.
const (
	StepDone    = "done"
	StepCurrent = "current"
	StepPending = "pending"
)

// RolloutList is the JSON of the rollouts page: the Rollouts of one
// namespace, or of all when Namespace is empty.
type RolloutList struct {
	// Namespace the list is of; empty means all namespaces.
	Namespace string `json:"namespace"`
	// ReadOnly tells the page to offer no actions.
	ReadOnly bool `json:"readOnly"`
	// Rollouts sorted by namespace and name.
	Rollouts []RolloutSummary `json:"rollouts"`
}

// RolloutSummary is one Rollout as the rollouts page and the header of the
// rollout page show it.
type RolloutSummary struct {
	// Namespace of the Rollout.
	Namespace string `json:"namespace"`
	// Name of the Rollout.
	Name string `json:"name"`
	// Status is Healthy, Progressing, Paused or Degraded.
	Status string `json:"status"`
	// Message explains the status.
	Message string `json:"message,omitempty"`
	// Strategy is "canary" or "blueGreen".
	Strategy string `json:"strategy"`
	// Step is the canary's progress through its steps; nil without steps.
	Step *StepProgress `json:"step,omitempty"`
	// Weight is the canary's traffic weight; nil for blue-green.
	Weight *Weight `json:"weight,omitempty"`
	// Images are the images that run, with the roles of their versions.
	Images []Image `json:"images"`
	// Replicas counts the Rollout's Pods.
	Replicas Replicas `json:"replicas"`
	// Created is the Rollout's creation time.
	Created metav1.Time `json:"created"`
}

// StepProgress is "step Current/Total", counted as the kubectl plugin does:
// Current is the index of the step being executed, Total once done.
type StepProgress struct {
	// Current is status.currentStepIndex.
	Current int32 `json:"current"`
	// Total is the number of steps.
	Total int32 `json:"total"`
}

// Weight is the canary's traffic weight in percent.
type Weight struct {
	// Set is the weight the steps ask for at the current step.
	Set int32 `json:"set"`
	// Actual is the weight reached.
	Actual int32 `json:"actual"`
}

// Image is one container image and the roles of the versions running it
// (stable, canary, active, preview).
type Image struct {
	// Image reference.
	Image string `json:"image"`
	// Roles of the versions that run it.
	Roles []string `json:"roles"`
}

// Replicas counts the Pods of a Rollout.
type Replicas struct {
	// Desired is spec.replicas.
	Desired int32 `json:"desired"`
	// Current is the number of non-terminated Pods.
	Current int32 `json:"current"`
	// Updated is the number of Pods of the desired version.
	Updated int32 `json:"updated"`
	// Ready is the number of ready Pods.
	Ready int32 `json:"ready"`
	// Available is the number of available Pods.
	Available int32 `json:"available"`
}

// RolloutDetail is the JSON of the rollout page.
type RolloutDetail struct {
	RolloutSummary
	// ReadOnly tells the page to offer no actions.
	ReadOnly bool `json:"readOnly"`
	// SpecPaused is spec.paused.
	SpecPaused bool `json:"specPaused"`
	// Aborted is status.abort.
	Aborted bool `json:"aborted"`
	// PauseReasons are the reasons of status.pauseConditions.
	PauseReasons []string `json:"pauseReasons"`
	// Containers of the Pod template, for the set-image form; init
	// containers last.
	Containers []Container `json:"containers"`
	// Steps of a canary, each with its state.
	Steps []Step `json:"steps"`
	// Revisions newest first.
	Revisions []Revision `json:"revisions"`
	// OtherAnalysisRuns are the Rollout's runs that belong to no revision shown.
	OtherAnalysisRuns []AnalysisRun `json:"otherAnalysisRuns"`
}

// Container is a container of the Rollout's Pod template.
type Container struct {
	// Name of the container.
	Name string `json:"name"`
	// Image it runs.
	Image string `json:"image"`
	// Init is true for an init container.
	Init bool `json:"init,omitempty"`
}

// Step is one canary step on the timeline.
type Step struct {
	// Index of the step, from 0.
	Index int `json:"index"`
	// Description such as "setWeight 20" or "pause (until promoted)".
	Description string `json:"description"`
	// State is done, current or pending.
	State string `json:"state"`
}

// Revision is one revision of the Rollout with its ReplicaSets, their
// Pods and its AnalysisRuns.
type Revision struct {
	// Number is the rollout.argoproj.io/revision of its ReplicaSets.
	Number int `json:"number"`
	// Roles of the revision: stable, canary, active, preview.
	Roles []string `json:"roles"`
	// ReplicaSets of the revision.
	ReplicaSets []ReplicaSet `json:"replicaSets"`
	// AnalysisRuns made for the revision, newest first.
	AnalysisRuns []AnalysisRun `json:"analysisRuns"`
	// Experiments made for the revision by experiment steps, newest first.
	Experiments []Experiment `json:"experiments"`
}

// Experiment is one Experiment an experiment step of the Rollout made.
type Experiment struct {
	// Name of the Experiment.
	Name string `json:"name"`
	// Phase of the Experiment; Pending before its controller set one.
	Phase string `json:"phase"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// Current is true for the Experiment the Rollout waits on
	// (status.canary.currentExperiment).
	Current bool `json:"current,omitempty"`
	// Hash is the pod-template hash of the version it tests.
	Hash string `json:"hash,omitempty"`
	// Created is the Experiment's creation time.
	Created metav1.Time `json:"created"`
	// Templates are the states of its templates.
	Templates []ExperimentTemplate `json:"templates"`
	// AnalysisRuns are the states of its analyses.
	AnalysisRuns []ExperimentAnalysis `json:"analysisRuns"`
}

// ExperimentTemplate is the state of one template of an Experiment.
type ExperimentTemplate struct {
	// Name of the template.
	Name string `json:"name"`
	// Status is Progressing, Running, Successful, Failed or Error.
	Status string `json:"status"`
	// Replicas is the number of Pods.
	Replicas int32 `json:"replicas"`
	// Available is the number of available Pods.
	Available int32 `json:"available"`
	// ServiceName is the Service made for the template, if any.
	ServiceName string `json:"serviceName,omitempty"`
}

// ExperimentAnalysis is the state of one analysis of an Experiment.
type ExperimentAnalysis struct {
	// Name of the analysis within the Experiment.
	Name string `json:"name"`
	// AnalysisRun is the run's name.
	AnalysisRun string `json:"analysisRun"`
	// Phase of the run.
	Phase string `json:"phase"`
	// Message of the run.
	Message string `json:"message,omitempty"`
}

// ReplicaSet is one ReplicaSet of the Rollout and its Pods.
type ReplicaSet struct {
	// Name of the ReplicaSet.
	Name string `json:"name"`
	// Hash is its pod-template hash.
	Hash string `json:"hash"`
	// Status is Healthy, Progressing, ScaledDown or Degraded.
	Status string `json:"status"`
	// Images its Pods run.
	Images []string `json:"images"`
	// Config are the configuration copies its Pods run ("Secret/name-hash"),
	// for a Rollout with config snapshots on.
	Config []string `json:"config,omitempty"`
	// Desired is spec.replicas.
	Desired int32 `json:"desired"`
	// Current is status.replicas.
	Current int32 `json:"current"`
	// Ready is status.readyReplicas.
	Ready int32 `json:"ready"`
	// Available is status.availableReplicas.
	Available int32 `json:"available"`
	// Pods of the ReplicaSet, by name.
	Pods []Pod `json:"pods"`
}

// Pod is one Pod of a ReplicaSet.
type Pod struct {
	// Name of the Pod.
	Name string `json:"name"`
	// Status as kubectl shows it: Running, Pending, Terminating, a
	// container's waiting reason, ...
	Status string `json:"status"`
	// Ready is whether the Pod is ready.
	Ready bool `json:"ready"`
	// ReadyContainers is "ready/total" containers.
	ReadyContainers string `json:"readyContainers"`
	// Restarts sums the containers' restart counts.
	Restarts int32 `json:"restarts"`
	// Created is the Pod's creation time.
	Created metav1.Time `json:"created"`
}

// AnalysisRun is one AnalysisRun of the Rollout.
type AnalysisRun struct {
	// Name of the run.
	Name string `json:"name"`
	// Phase of the run.
	Phase string `json:"phase"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// Kind is the rollout-type label: Step, Background, PrePromotion, PostPromotion.
	Kind string `json:"kind,omitempty"`
	// StepIndex is the step that made a step analysis.
	StepIndex *int32 `json:"stepIndex,omitempty"`
	// Hash is the pod-template hash of the version it measures.
	Hash string `json:"hash,omitempty"`
	// Created is the run's creation time.
	Created metav1.Time `json:"created"`
	// Metrics with their measurements.
	Metrics []Metric `json:"metrics"`
}

// Metric is one metric of an AnalysisRun.
type Metric struct {
	// Name of the metric.
	Name string `json:"name"`
	// Phase of the metric.
	Phase string `json:"phase"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// DryRun says the metric never decides.
	DryRun bool `json:"dryRun,omitempty"`
	// Successful measurements.
	Successful int32 `json:"successful"`
	// Failed measurements.
	Failed int32 `json:"failed"`
	// Inconclusive measurements.
	Inconclusive int32 `json:"inconclusive"`
	// Error measurements.
	Error int32 `json:"error"`
	// Measurements kept in the run, oldest first.
	Measurements []Measurement `json:"measurements"`
}

// Measurement is one measurement of a metric.
type Measurement struct {
	// Phase of the measurement.
	Phase string `json:"phase"`
	// Value as the provider returned it.
	Value string `json:"value,omitempty"`
	// Number is Value as a number, when it is one (or a list of one).
	Number *float64 `json:"number,omitempty"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// StartedAt is when the measurement started.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the value was taken.
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Judgement is a kanaria.dev/compare measurement's per-metric table.
	Judgement *compare.Report `json:"judgement,omitempty"`
}

// The functions below only copy the shared read model (internal/rolloutview)
// into the page's JSON; every value is worked out there, so the dashboard
// shows what the CLI and notifications show.

// strategyNames are the JSON names of the strategies.
var strategyNames = map[rolloutview.Strategy]string{
	rolloutview.StrategyCanary:    "canary",
	rolloutview.StrategyBlueGreen: "blueGreen",
}

// view builds the read model of ro from the namespace's objects.
func view(ro *v1alpha1.Rollout, rss []appsv1.ReplicaSet, pods []corev1.Pod, runs []v1alpha1.AnalysisRun, exps []v1alpha1.Experiment, now time.Time) rolloutview.Rollout {
	return rolloutview.Build(ro, rolloutview.Owned{
		ReplicaSets:  rolloutview.Refs(rss),
		Pods:         rolloutview.Refs(pods),
		AnalysisRuns: rolloutview.Refs(runs),
		Experiments:  rolloutview.Refs(exps),
	}, now)
}

// summarize is a Rollout's row of the rollouts page.
func summarize(v rolloutview.Rollout) RolloutSummary {
	s := RolloutSummary{
		Namespace: v.Namespace,
		Name:      v.Name,
		Status:    string(v.Status),
		Message:   v.StatusMessage,
		Strategy:  strategyNames[v.Strategy],
		Images:    make([]Image, 0, len(v.Images)),
		Replicas: Replicas{
			Desired:   v.Replicas.Desired,
			Current:   v.Replicas.Current,
			Updated:   v.Replicas.Updated,
			Ready:     v.Replicas.Ready,
			Available: v.Replicas.Available,
		},
		Created: metav1.NewTime(v.CreatedAt),
	}
	for _, img := range v.Images {
		s.Images = append(s.Images, Image{Image: img.Name, Roles: img.Roles})
	}
	if v.Step != nil {
		s.Step = &StepProgress{Current: v.Step.Index, Total: v.Step.Total}
	}
	if w := v.Weights; w != nil {
		s.Weight = &Weight{Set: w.Set}
		if w.Reached != nil {
			s.Weight.Actual = *w.Reached
		}
	}
	return s
}

// detail is the rollout page of ro from its read model.
func detail(ro *v1alpha1.Rollout, v rolloutview.Rollout) RolloutDetail {
	d := RolloutDetail{
		RolloutSummary:    summarize(v),
		SpecPaused:        v.SpecPaused,
		Aborted:           v.Aborted,
		PauseReasons:      append([]string{}, v.PauseReasons...),
		Containers:        []Container{},
		Steps:             []Step{},
		Revisions:         []Revision{},
		OtherAnalysisRuns: []AnalysisRun{},
	}
	for _, c := range ro.Spec.Template.Spec.Containers {
		d.Containers = append(d.Containers, Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range ro.Spec.Template.Spec.InitContainers {
		d.Containers = append(d.Containers, Container{Name: c.Name, Image: c.Image, Init: true})
	}
	if v.Step != nil {
		for _, st := range v.Step.Steps {
			d.Steps = append(d.Steps, Step{Index: st.Index, Description: st.Description, State: string(st.State)})
		}
	}
	for _, rev := range v.Revisions {
		r := Revision{Number: int(rev.Number), Roles: rev.Roles, ReplicaSets: []ReplicaSet{}, AnalysisRuns: []AnalysisRun{}, Experiments: []Experiment{}}
		for _, rs := range rev.ReplicaSets {
			r.ReplicaSets = append(r.ReplicaSets, replicaSetJSON(rs))
		}
		sort.Slice(r.ReplicaSets, func(i, j int) bool { return r.ReplicaSets[i].Name < r.ReplicaSets[j].Name })
		// Newest first on the page; the read model lists oldest first.
		for i := len(rev.AnalysisRuns) - 1; i >= 0; i-- {
			r.AnalysisRuns = append(r.AnalysisRuns, analysisRunJSON(rev.AnalysisRuns[i]))
		}
		for i := len(rev.Experiments) - 1; i >= 0; i-- {
			r.Experiments = append(r.Experiments, experimentJSON(rev.Experiments[i]))
		}
		if rev.Number == 0 {
			// Runs whose revision cannot be told belong to no revision shown.
			d.OtherAnalysisRuns, r.AnalysisRuns = r.AnalysisRuns, []AnalysisRun{}
			if len(r.ReplicaSets) == 0 && len(r.Experiments) == 0 {
				continue
			}
		}
		d.Revisions = append(d.Revisions, r)
	}
	return d
}

func replicaSetJSON(rs rolloutview.ReplicaSet) ReplicaSet {
	out := ReplicaSet{
		Name:      rs.Name,
		Hash:      rs.Hash,
		Status:    rs.Status,
		Images:    rs.Images,
		Config:    rs.Config,
		Desired:   rs.Desired,
		Current:   rs.Current,
		Ready:     rs.Ready,
		Available: rs.Available,
		Pods:      []Pod{},
	}
	for _, p := range rs.Pods {
		out.Pods = append(out.Pods, Pod{
			Name:            p.Name,
			Status:          p.Status,
			Ready:           p.Ready,
			ReadyContainers: fmt.Sprintf("%d/%d", p.ReadyContainers, p.Containers),
			Restarts:        p.Restarts,
			Created:         metav1.NewTime(p.CreatedAt),
		})
	}
	sort.Slice(out.Pods, func(i, j int) bool { return out.Pods[i].Name < out.Pods[j].Name })
	return out
}

func analysisRunJSON(run rolloutview.AnalysisRun) AnalysisRun {
	out := AnalysisRun{
		Name:      run.Name,
		Phase:     string(run.Phase),
		Message:   run.Message,
		Kind:      run.Kind,
		StepIndex: run.StepIndex,
		Hash:      run.Hash,
		Created:   metav1.NewTime(run.CreatedAt),
		Metrics:   []Metric{},
	}
	for _, m := range run.Metrics {
		mj := Metric{Name: m.Name, Phase: string(m.Phase), Message: m.Message, DryRun: m.DryRun,
			Successful: m.Successful, Failed: m.Failed, Inconclusive: m.Inconclusive, Error: m.Error,
			Measurements: []Measurement{}}
		for _, ms := range m.Measurements {
			mj.Measurements = append(mj.Measurements, Measurement{
				Phase: string(ms.Phase), Value: ms.Value, Number: ms.Number, Message: ms.Message,
				StartedAt: kubeTime(ms.StartedAt), FinishedAt: kubeTime(ms.FinishedAt), Judgement: ms.Judgement,
			})
		}
		out.Metrics = append(out.Metrics, mj)
	}
	return out
}

func experimentJSON(ex rolloutview.Experiment) Experiment {
	out := Experiment{
		Name: ex.Name, Phase: string(ex.Phase), Message: ex.Message, Current: ex.Current, Hash: ex.Hash,
		Created: metav1.NewTime(ex.CreatedAt), Templates: []ExperimentTemplate{}, AnalysisRuns: []ExperimentAnalysis{},
	}
	for _, t := range ex.Templates {
		out.Templates = append(out.Templates, ExperimentTemplate{Name: t.Name, Status: t.Status,
			Replicas: t.Replicas, Available: t.Available, ServiceName: t.ServiceName})
	}
	for _, a := range ex.Analyses {
		out.AnalysisRuns = append(out.AnalysisRuns, ExperimentAnalysis{Name: a.Name, AnalysisRun: a.AnalysisRun, Phase: string(a.Phase), Message: a.Message})
	}
	return out
}

func kubeTime(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	v := metav1.NewTime(*t)
	return &v
}
