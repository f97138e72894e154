package view

import (
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// The snapshot types below hold only what the renderer prints, copied from
// the shared read model (internal/rolloutview), which resolves roles,
// revisions, counts and states; rendering needs no cluster access and tests
// can build snapshots by hand.

// Role names printed next to ReplicaSets and images. They are derived from
// the Rollout's status hashes, not from labels, because the status is what
// the controller and the Services act on.
const (
	// RoleStable marks the ReplicaSet whose hash is status.stableRS.
	RoleStable = rolloutview.RoleStable
	// RoleCanary marks the desired ReplicaSet of a canary while it is not yet stable.
	RoleCanary = rolloutview.RoleCanary
	// RoleActive marks the ReplicaSet the blue-green active Service selects.
	RoleActive = rolloutview.RoleActive
	// RolePreview marks the ReplicaSet the blue-green preview Service selects.
	RolePreview = rolloutview.RolePreview
)

// ReplicaSet states, derived from the counts because ReplicaSets have no phase.
const (
	// RSHealthy means every desired Pod is available.
	RSHealthy = rolloutview.RSHealthy
	// RSProgressing means Pods are still being created, becoming ready or going away.
	RSProgressing = rolloutview.RSProgressing
	// RSScaledDown means the ReplicaSet wants and has no Pods.
	RSScaledDown = rolloutview.RSScaledDown
	// RSDegraded means the ReplicaSet reports a ReplicaFailure condition.
	RSDegraded = rolloutview.RSDegraded
)

// Job states, from the Job's conditions and counts.
const (
	// JobSuccessful means the Job completed.
	JobSuccessful = rolloutview.JobSuccessful
	// JobFailed means the Job failed.
	JobFailed = rolloutview.JobFailed
	// JobRunning means the Job has active Pods.
	JobRunning = rolloutview.JobRunning
	// JobPending means the Job has not started a Pod yet.
	JobPending = rolloutview.JobPending
)

// Strategy names printed in the header and the list.
const (
	// StrategyCanary is a canary Rollout.
	StrategyCanary = string(rolloutview.StrategyCanary)
	// StrategyBlueGreen is a blue-green Rollout.
	StrategyBlueGreen = string(rolloutview.StrategyBlueGreen)
)

// RolloutSummary is what the header of `get rollout` and a row of `list
// rollouts` show; both read only the Rollout object itself.
type RolloutSummary struct {
	// Name of the Rollout.
	Name string
	// Namespace of the Rollout.
	Namespace string
	// Phase is the status the read model shows: status.phase, or Progressing
	// while the controller has not caught up with the spec.
	Phase v1alpha1.RolloutPhase
	// Message explains Phase.
	Message string
	// Strategy is StrategyCanary, StrategyBlueGreen or empty when the spec has neither.
	Strategy string
	// Step is the canary's position in its steps; nil without steps.
	Step *Step
	// SetWeight is the canary weight the current step asks for; nil for blue-green.
	SetWeight *int32
	// ActualWeight is the share of traffic the desired version reaches
	// (from status.canary.weights); nil when not reported.
	ActualWeight *int32
	// Replicas are the Rollout's Pod counts.
	Replicas Replicas
}

// Step is a canary's position: Current is status.currentStepIndex as the
// controller reads it (equal to Total once every step is done).
type Step struct {
	// Current is the index of the step being executed.
	Current int32
	// Total is the number of steps.
	Total int32
	// Written is status.currentStepIndex when it was out of range (negative
	// or past Total) and Current is the controller's reading of it; nil
	// otherwise.
	Written *int32
}

// Replicas are the Pod counts of a Rollout.
type Replicas struct {
	// Desired is spec.replicas (1 when unset).
	Desired int32
	// Current is the number of non-terminated Pods.
	Current int32
	// Updated is the number of Pods running the desired template.
	Updated int32
	// Ready is the number of ready Pods.
	Ready int32
	// Available is the number of Pods ready for at least minReadySeconds.
	Available int32
}

// Tree is the snapshot `get rollout` renders: the Rollout's summary, the
// images it runs and its revisions with the objects under each.
type Tree struct {
	RolloutSummary
	// Images are the container images that run, or are about to, with their roles.
	Images []Image
	// Revisions, newest first. A Revision with Number 0 collects objects
	// whose revision could not be told and comes last.
	Revisions []Revision
}

// Image is a container image and the roles of the ReplicaSets running it.
type Image struct {
	// Name is the image reference as written in the Pod template.
	Name string
	// Roles are the roles of the ReplicaSets that run it, e.g. stable, active.
	Roles []string
}

// Revision groups the objects of one revision of the Rollout's Pod template.
type Revision struct {
	// Number is the rollout.argoproj.io/revision value; 0 means unknown.
	Number int64
	// ReplicaSets of this revision (normally one).
	ReplicaSets []ReplicaSet
	// AnalysisRuns made for this revision.
	AnalysisRuns []AnalysisRun
	// Experiments made for this revision.
	Experiments []Experiment
}

// ReplicaSet is one ReplicaSet with its Pods.
type ReplicaSet struct {
	// Name of the ReplicaSet.
	Name string
	// Hash is its rollouts-pod-template-hash label.
	Hash string
	// Status is one of RSHealthy, RSProgressing, RSScaledDown, RSDegraded.
	Status string
	// Roles are stable, canary, active, preview as the Rollout's status says.
	Roles []string
	// Template is the experiment template the ReplicaSet runs, for experiments.
	Template string
	// TemplateStatus is that template's state in the Experiment's status
	// (Progressing, Running, Successful, Failed, Error), empty elsewhere.
	TemplateStatus string
	// Service is the template's Service while it exists, for experiments.
	Service string
	// Images are the container images of its Pod template.
	Images []string
	// Config are the configuration copies its Pods run ("Secret/name-hash"),
	// for a Rollout with config snapshots on.
	Config []string
	// Desired is spec.replicas.
	Desired int32
	// Ready is status.readyReplicas.
	Ready int32
	// CreatedAt is the creation time, for the age.
	CreatedAt time.Time
	// Pods owned by the ReplicaSet.
	Pods []Pod
}

// Pod is one Pod.
type Pod struct {
	// Name of the Pod.
	Name string
	// Status is what kubectl shows: Running, Pending, CrashLoopBackOff, Terminating, ...
	Status string
	// Ready is the number of ready containers.
	Ready int32
	// Total is the number of containers.
	Total int32
	// Restarts is the sum of the containers' restart counts.
	Restarts int32
	// CreatedAt is the creation time, for the age.
	CreatedAt time.Time
}

// AnalysisRun is one AnalysisRun with its measurement counts and Jobs.
type AnalysisRun struct {
	// Name of the AnalysisRun.
	Name string
	// Phase of the run; Pending when the controller has not set one.
	Phase v1alpha1.AnalysisPhase
	// Successful measurements, summed over the metrics.
	Successful int32
	// Failed measurements, summed over the metrics.
	Failed int32
	// Inconclusive measurements, summed over the metrics.
	Inconclusive int32
	// Error measurements, summed over the metrics.
	Error int32
	// CreatedAt is the creation time, for the age.
	CreatedAt time.Time
	// Jobs owned by the run (job metrics).
	Jobs []Job
}

// Job is one Job of a job metric.
type Job struct {
	// Name of the Job.
	Name string
	// Status is one of JobSuccessful, JobFailed, JobRunning, JobPending.
	Status string
	// CreatedAt is the creation time, for the age.
	CreatedAt time.Time
}

// Experiment is one Experiment with its ReplicaSets and AnalysisRuns; `get
// experiment` renders it on its own, `get rollout` under a revision.
type Experiment struct {
	// Name of the Experiment.
	Name string
	// Namespace of the Experiment.
	Namespace string
	// Phase of the Experiment; Pending when the controller has not set one.
	Phase v1alpha1.AnalysisPhase
	// Message is status.message.
	Message string
	// Duration is spec.duration as written; empty runs until ended.
	Duration string
	// AvailableAt is when every template became available; the duration counts from it.
	AvailableAt *time.Time
	// Remaining is how much of Duration is left; nil when it has no
	// duration, has not started counting, or has ended.
	Remaining *time.Duration
	// CreatedAt is the creation time, for the age.
	CreatedAt time.Time
	// ReplicaSets owned by the Experiment, one per template.
	ReplicaSets []ReplicaSet
	// AnalysisRuns owned by the Experiment.
	AnalysisRuns []AnalysisRun
}
