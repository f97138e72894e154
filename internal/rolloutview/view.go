// Package rolloutview is the one read model of a Rollout: it turns a Rollout
// and the objects it owns into the view every reader shows (the CLI, the
// dashboard, notification templates, the simulation's timeline), so that
// they all agree on its status, step, weights, images, revisions and Pods.
//
// The entry points are Build for a Rollout and BuildExperiment for an
// Experiment:
//
//	v := rolloutview.Build(ro, rolloutview.Owned{ReplicaSets: rss, Pods: pods, AnalysisRuns: runs}, now)
//
// Both are pure: they read no cluster and no clock (the time is an argument)
// and never modify their inputs. Owned may hold more than the Rollout owns,
// such as every object of the namespace; ownership is read from controller
// references, so objects of other owners are left out.
package rolloutview

import (
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/compare"
)

// Strategy is the kind of release a Rollout makes.
type Strategy string

const (
	// StrategyCanary is a canary Rollout.
	StrategyCanary Strategy = "Canary"
	// StrategyBlueGreen is a blue-green Rollout.
	StrategyBlueGreen Strategy = "BlueGreen"
)

// Roles a version (a pod-template hash) has for its Rollout. They come from
// the Rollout's status hashes, not from labels, because the status is what
// the controller and the Services act on.
const (
	// RoleStable is the version whose hash is status.stableRS.
	RoleStable = "stable"
	// RoleCanary is the desired version of a canary while it is not yet stable.
	RoleCanary = "canary"
	// RoleActive is the version the blue-green active Service selects.
	RoleActive = "active"
	// RolePreview is the version the blue-green preview Service selects
	// while it differs from the active one.
	RolePreview = "preview"
)

// ReplicaSet states, derived from counts and conditions since ReplicaSets
// have no phase.
const (
	// RSHealthy means every desired Pod exists and is available.
	RSHealthy = "Healthy"
	// RSProgressing means Pods are still being created, becoming ready or going away.
	RSProgressing = "Progressing"
	// RSScaledDown means the ReplicaSet wants and has no Pods.
	RSScaledDown = "ScaledDown"
	// RSDegraded means the ReplicaSet reports a ReplicaFailure condition.
	RSDegraded = "Degraded"
)

// Job states, from a Job's conditions and counts.
const (
	// JobSuccessful means the Job completed.
	JobSuccessful = "Successful"
	// JobFailed means the Job failed.
	JobFailed = "Failed"
	// JobRunning means the Job has active Pods.
	JobRunning = "Running"
	// JobPending means the Job has not started a Pod yet.
	JobPending = "Pending"
)

// StepState is where a canary step stands relative to the current one.
type StepState string

const (
	// StepDone is a step before the current one.
	StepDone StepState = "done"
	// StepCurrent is the step being executed.
	StepCurrent StepState = "current"
	// StepPending is a step still to come.
	StepPending StepState = "pending"
)

// PodState sorts a Pod into one of a few buckets for counting; Pod.Status
// keeps the precise word kubectl would print.
type PodState string

const (
	// PodReady is a Pod whose Ready condition is true.
	PodReady PodState = "Ready"
	// PodRunning is a running Pod that is not ready.
	PodRunning PodState = "Running"
	// PodPending is a Pod not yet running.
	PodPending PodState = "Pending"
	// PodTerminating is a Pod being deleted.
	PodTerminating PodState = "Terminating"
	// PodSucceeded is a Pod whose containers all ended successfully.
	PodSucceeded PodState = "Succeeded"
	// PodFailed is a Pod that failed.
	PodFailed PodState = "Failed"
	// PodUnknown is a Pod whose node does not report on it.
	PodUnknown PodState = "Unknown"
)

// Rollout is the view of one Rollout.
type Rollout struct {
	// Name of the Rollout.
	Name string `json:"name"`
	// Namespace of the Rollout.
	Namespace string `json:"namespace"`
	// CreatedAt is the Rollout's creation time.
	CreatedAt time.Time `json:"createdAt"`
	// AsOf is the time the view was built for.
	AsOf time.Time `json:"asOf"`

	// Phase is status.phase as the controller wrote it; empty before it did.
	Phase v1alpha1.RolloutPhase `json:"phase"`
	// Message is status.message as the controller wrote it.
	Message string `json:"message,omitempty"`
	// Status is the phase readers show: Phase, except Progressing while the
	// controller has not observed the latest spec or reported a phase, and
	// Degraded as soon as an abort is asked for.
	Status v1alpha1.RolloutPhase `json:"status"`
	// StatusMessage explains Status.
	StatusMessage string `json:"statusMessage,omitempty"`
	// Stale is true while status.observedGeneration lags metadata.generation.
	Stale bool `json:"stale,omitempty"`
	// Aborted is status.abort.
	Aborted bool `json:"aborted,omitempty"`
	// SpecPaused is spec.paused.
	SpecPaused bool `json:"specPaused,omitempty"`
	// PauseReasons are the reasons of status.pauseConditions, in order.
	PauseReasons []string `json:"pauseReasons,omitempty"`

	// Strategy is StrategyCanary, StrategyBlueGreen, or empty when the spec has neither.
	Strategy Strategy `json:"strategy,omitempty"`
	// Step is a canary's position in its steps; nil without steps.
	Step *Step `json:"step,omitempty"`
	// Weights are a canary's traffic weights; nil for other strategies.
	Weights *Weights `json:"weights,omitempty"`
	// Replicas are the Rollout's Pod counts as its status carries them.
	Replicas Replicas `json:"replicas"`
	// Pods counts the Pods of every ReplicaSet of the Rollout by state.
	Pods PodCounts `json:"pods"`
	// Images are the images that run or are about to, with the roles of their versions.
	Images []Image `json:"images,omitempty"`
	// CurrentRevision is the revision of the desired version's ReplicaSet
	// (status.currentPodHash); 0 while it does not exist.
	CurrentRevision int64 `json:"currentRevision"`
	// Revisions newest first; revision 0 (objects whose revision could not
	// be told) comes last.
	Revisions []Revision `json:"revisions,omitempty"`
}

// Revision returns the revision numbered n, or nil when the view has none.
func (v *Rollout) Revision(n int64) *Revision {
	for i := range v.Revisions {
		if v.Revisions[i].Number == n {
			return &v.Revisions[i]
		}
	}
	return nil
}

// Step is a canary's position in its steps.
type Step struct {
	// Index is the step being executed, read as the controller reads
	// status.currentStepIndex: unset is 0, a negative index is 0 and one
	// past the last step is Total (every step done).
	Index int32 `json:"index"`
	// Total is the number of steps.
	Total int32 `json:"total"`
	// Written is status.currentStepIndex as written; nil when unset.
	Written *int32 `json:"written,omitempty"`
	// OutOfRange is true when Written is negative or past Total, so Index
	// differs from it.
	OutOfRange bool `json:"outOfRange,omitempty"`
	// Description says what the current step does; empty once every step is done.
	Description string `json:"description,omitempty"`
	// Steps are every step with its state.
	Steps []StepEntry `json:"steps"`
}

// StepEntry is one canary step.
type StepEntry struct {
	// Index of the step, from 0.
	Index int `json:"index"`
	// Description such as "setWeight 20" or "pause (until promoted)".
	Description string `json:"description"`
	// State is done, current or pending.
	State StepState `json:"state"`
}

// Weights are a canary's traffic weights in percent.
type Weights struct {
	// Set is the weight the steps ask for at the current step: the last
	// setWeight at or before it, 100 once every step is done or the desired
	// version is stable (or without steps), 0 after an abort.
	Set int32 `json:"set"`
	// Reached is the share of traffic the desired version receives: with a
	// traffic router, from status.canary.weights (the canary weight, or 100
	// once the desired version is also the stable one; nil while the status
	// reports no weights); without one, its share of the available Pods.
	Reached *int32 `json:"reached,omitempty"`
	// Actual are status.canary.weights as the controller wrote them; nil
	// when it has not.
	Actual *ActualWeights `json:"actual,omitempty"`
}

// ActualWeights are status.canary.weights.
type ActualWeights struct {
	// Canary is the canary's destination.
	Canary Destination `json:"canary"`
	// Stable is the stable's destination.
	Stable Destination `json:"stable"`
	// Additional are other destinations, such as an experiment's templates.
	Additional []Destination `json:"additional,omitempty"`
	// Verified is whether the router confirmed the weights; nil when not checked.
	Verified *bool `json:"verified,omitempty"`
}

// Destination is one destination's share of traffic.
type Destination struct {
	// Weight in percent.
	Weight int32 `json:"weight"`
	// ServiceName is the destination Service.
	ServiceName string `json:"serviceName,omitempty"`
	// PodTemplateHash is the destination version.
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// Replicas are a Rollout's Pod counts.
type Replicas struct {
	// Desired is spec.replicas (1 when unset).
	Desired int32 `json:"desired"`
	// Current is status.replicas.
	Current int32 `json:"current"`
	// Updated is status.updatedReplicas.
	Updated int32 `json:"updated"`
	// Ready is status.readyReplicas.
	Ready int32 `json:"ready"`
	// Available is status.availableReplicas.
	Available int32 `json:"available"`
}

// PodCounts counts Pods by state.
type PodCounts struct {
	// Total is every Pod counted.
	Total int32 `json:"total"`
	// Ready Pods.
	Ready int32 `json:"ready"`
	// Running Pods that are not ready.
	Running int32 `json:"running"`
	// Pending Pods.
	Pending int32 `json:"pending"`
	// Terminating Pods.
	Terminating int32 `json:"terminating"`
	// Succeeded Pods.
	Succeeded int32 `json:"succeeded"`
	// Failed Pods.
	Failed int32 `json:"failed"`
	// Unknown Pods.
	Unknown int32 `json:"unknown"`
}

// Image is a container image and the roles of the versions running it.
type Image struct {
	// Name is the image reference as written in the Pod template.
	Name string `json:"name"`
	// Roles of the versions that run it; empty for a version without one.
	Roles []string `json:"roles"`
}

// Revision groups the objects of one revision of the Rollout's Pod template.
type Revision struct {
	// Number is the rollout.argoproj.io/revision value; 0 means unknown.
	Number int64 `json:"number"`
	// Roles of the revision's versions.
	Roles []string `json:"roles"`
	// ReplicaSets of the revision (normally one), oldest first.
	ReplicaSets []ReplicaSet `json:"replicaSets"`
	// AnalysisRuns made for the revision, oldest first.
	AnalysisRuns []AnalysisRun `json:"analysisRuns"`
	// Experiments made for the revision, oldest first.
	Experiments []Experiment `json:"experiments"`
}

// ReplicaSet is one ReplicaSet with its Pods.
type ReplicaSet struct {
	// Name of the ReplicaSet.
	Name string `json:"name"`
	// Hash is its rollouts-pod-template-hash label.
	Hash string `json:"hash"`
	// Revision is its rollout.argoproj.io/revision; 0 when missing.
	Revision int64 `json:"revision"`
	// Status is one of RSHealthy, RSProgressing, RSScaledDown, RSDegraded.
	Status string `json:"status"`
	// Roles are stable, canary, active, preview as the Rollout's status says.
	Roles []string `json:"roles"`
	// Template is the experiment template it runs, for an Experiment's ReplicaSets.
	Template string `json:"template,omitempty"`
	// TemplateStatus is that template's state in the Experiment's status.
	TemplateStatus string `json:"templateStatus,omitempty"`
	// Service is the template's Service while it exists.
	Service string `json:"service,omitempty"`
	// Images of its Pod template's containers.
	Images []string `json:"images"`
	// Config are the configuration copies its Pods run ("Secret/name-hash"),
	// for a Rollout with config snapshots on.
	Config []string `json:"config,omitempty"`
	// Desired is spec.replicas (1 when unset, as the API server defaults it).
	Desired int32 `json:"desired"`
	// Current is status.replicas.
	Current int32 `json:"current"`
	// Ready is status.readyReplicas.
	Ready int32 `json:"ready"`
	// Available is status.availableReplicas.
	Available int32 `json:"available"`
	// CreatedAt is its creation time.
	CreatedAt time.Time `json:"createdAt"`
	// PodCounts counts its Pods by state.
	PodCounts PodCounts `json:"podCounts"`
	// Pods it controls, oldest first.
	Pods []Pod `json:"pods"`
}

// Pod is one Pod.
type Pod struct {
	// Name of the Pod.
	Name string `json:"name"`
	// Status is what kubectl's STATUS column shows: Running, Pending,
	// CrashLoopBackOff, Init:0/2, Terminating, ...
	Status string `json:"status"`
	// State is the Pod's bucket for counting.
	State PodState `json:"state"`
	// Ready is the Pod's Ready condition.
	Ready bool `json:"ready"`
	// ReadyContainers is the number of ready containers.
	ReadyContainers int32 `json:"readyContainers"`
	// Containers is the number of containers.
	Containers int32 `json:"containers"`
	// Restarts sums the containers' restart counts.
	Restarts int32 `json:"restarts"`
	// CreatedAt is its creation time.
	CreatedAt time.Time `json:"createdAt"`
}

// AnalysisRun is one AnalysisRun with its metrics and Jobs.
type AnalysisRun struct {
	// Name of the run.
	Name string `json:"name"`
	// Phase of the run; Pending while the controller has not set one.
	Phase v1alpha1.AnalysisPhase `json:"phase"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// Kind is the rollout-type label: Step, Background, PrePromotion, PostPromotion.
	Kind string `json:"kind,omitempty"`
	// StepIndex is the step that made a step analysis.
	StepIndex *int32 `json:"stepIndex,omitempty"`
	// Hash is the version it measures (its rollouts-pod-template-hash label).
	Hash string `json:"hash,omitempty"`
	// Revision is the revision it was placed under; 0 when unknown.
	Revision int64 `json:"revision"`
	// CreatedAt is its creation time.
	CreatedAt time.Time `json:"createdAt"`
	// Successful measurements, summed over the metrics.
	Successful int32 `json:"successful"`
	// Failed measurements, summed over the metrics.
	Failed int32 `json:"failed"`
	// Inconclusive measurements, summed over the metrics.
	Inconclusive int32 `json:"inconclusive"`
	// Error measurements, summed over the metrics.
	Error int32 `json:"error"`
	// Metrics in spec order, then any the status adds.
	Metrics []Metric `json:"metrics"`
	// Jobs the run controls (job metrics), oldest first.
	Jobs []Job `json:"jobs,omitempty"`
}

// Metric is one metric of an AnalysisRun.
type Metric struct {
	// Name of the metric.
	Name string `json:"name"`
	// Phase of the metric; Pending before it has a result.
	Phase v1alpha1.AnalysisPhase `json:"phase"`
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
	Phase v1alpha1.AnalysisPhase `json:"phase"`
	// Value as the provider returned it.
	Value string `json:"value,omitempty"`
	// Number is Value as a number, when it is one or a list of one.
	Number *float64 `json:"number,omitempty"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// StartedAt is when the measurement started.
	StartedAt *time.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the value was taken.
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// Judgement is what a kanaria.dev/compare measurement recorded per
	// metric, so a person can see why it passed or failed.
	Judgement *compare.Report `json:"judgement,omitempty"`
}

// Job is one Job of a job metric.
type Job struct {
	// Name of the Job.
	Name string `json:"name"`
	// Status is one of JobSuccessful, JobFailed, JobRunning, JobPending.
	Status string `json:"status"`
	// CreatedAt is its creation time.
	CreatedAt time.Time `json:"createdAt"`
}

// Experiment is one Experiment with its templates, ReplicaSets and analyses.
type Experiment struct {
	// Name of the Experiment.
	Name string `json:"name"`
	// Namespace of the Experiment.
	Namespace string `json:"namespace"`
	// Phase of the Experiment; Pending while its controller has not set one.
	Phase v1alpha1.AnalysisPhase `json:"phase"`
	// Message is status.message.
	Message string `json:"message,omitempty"`
	// Current is true for the Experiment its Rollout waits on
	// (status.canary.currentExperiment).
	Current bool `json:"current,omitempty"`
	// Hash is the version it tests (its rollouts-pod-template-hash label).
	Hash string `json:"hash,omitempty"`
	// Revision is the revision it was placed under; 0 when unknown or standalone.
	Revision int64 `json:"revision"`
	// Duration is spec.duration as written; empty runs until ended.
	Duration string `json:"duration,omitempty"`
	// AvailableAt is when every template became available; the duration counts from it.
	AvailableAt *time.Time `json:"availableAt,omitempty"`
	// Remaining is how much of Duration is left at the view's time (in
	// nanoseconds in JSON); nil without a duration, before it counts or once
	// the Experiment ended.
	Remaining *time.Duration `json:"remaining,omitempty"`
	// CreatedAt is its creation time.
	CreatedAt time.Time `json:"createdAt"`
	// Templates in spec order with their states.
	Templates []ExperimentTemplate `json:"templates"`
	// Analyses are status.analysisRuns: each analysis with its run's state.
	Analyses []ExperimentAnalysis `json:"analyses"`
	// ReplicaSets it controls, one per template, oldest first.
	ReplicaSets []ReplicaSet `json:"replicaSets"`
	// AnalysisRuns it controls, oldest first.
	AnalysisRuns []AnalysisRun `json:"analysisRuns"`
}

// ExperimentTemplate is the state of one template of an Experiment.
type ExperimentTemplate struct {
	// Name of the template.
	Name string `json:"name"`
	// Status is Progressing (also before the controller reported), Running,
	// Successful, Failed or Error.
	Status string `json:"status"`
	// Replicas is the number of Pods.
	Replicas int32 `json:"replicas"`
	// Available is the number of available Pods.
	Available int32 `json:"available"`
	// ServiceName is the template's Service while it exists.
	ServiceName string `json:"serviceName,omitempty"`
}

// ExperimentAnalysis is the state of one analysis of an Experiment.
type ExperimentAnalysis struct {
	// Name of the analysis within the Experiment.
	Name string `json:"name"`
	// AnalysisRun is the run's name.
	AnalysisRun string `json:"analysisRun"`
	// Phase of the run.
	Phase v1alpha1.AnalysisPhase `json:"phase"`
	// Message of the run.
	Message string `json:"message,omitempty"`
}
