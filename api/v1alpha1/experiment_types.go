package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations that tie an Experiment's ReplicaSets to it.
const (
	// ExperimentNameAnnotationKey holds the Experiment's name on its ReplicaSets.
	ExperimentNameAnnotationKey = "experiment.argoproj.io/name"
	// ExperimentTemplateNameAnnotationKey holds the template's name on its ReplicaSet.
	ExperimentTemplateNameAnnotationKey = "experiment.argoproj.io/template-name"
)

// Experiment runs one or more ReplicaSets for a while, with analyses beside them.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=experiments,shortName=exp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.phase",description="Experiment status"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since the experiment was created"
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExperimentSpec   `json:"spec"`
	Status ExperimentStatus `json:"status,omitempty"`

	// DecodeError is set, on this side of the API only, when the stored
	// object could not be decoded into these types; see Rollout.DecodeError.
	// The controller then marks the Experiment invalid instead of acting on
	// a partial spec.
	DecodeError string `json:"-"`
}

// ExperimentList is a list of Experiments.
//
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []Experiment `json:"items"`
}

// ExperimentSpec is what a user asks of an Experiment.
type ExperimentSpec struct {
	// Templates are the ReplicaSets the Experiment runs.
	Templates []TemplateSpec `json:"templates"`
	// Duration the Experiment runs once its ReplicaSets are available, e.g.
	// 30s, 5m or 1h; empty runs until terminated or an analysis fails.
	// +optional
	Duration DurationString `json:"duration,omitempty"`
	// ProgressDeadlineSeconds is how long a ReplicaSet may take to become
	// available; nil means 600.
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// Terminate, set by a client, ends the Experiment early.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// Analyses run during the Experiment.
	// +optional
	Analyses []ExperimentAnalysisTemplateRef `json:"analyses,omitempty"`
	// ScaleDownDelaySeconds keeps the ReplicaSets up after the Experiment ends; nil means 30.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// DryRun lists metrics that are measured but never decide.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements of a metric are kept.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// AnalysisRunMetadata is put on the Experiment's AnalysisRuns.
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
}

// TemplateSpec is one ReplicaSet of an Experiment.
type TemplateSpec struct {
	// Name of the template.
	Name string `json:"name"`
	// Replicas is the Pod count; nil means 1.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// MinReadySeconds is how long a Pod must be ready to count as available.
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// Selector selects the template's Pods; unique among the templates.
	Selector *metav1.LabelSelector `json:"selector"`
	// Template is the Pod template; its schema is left open to keep the CRD small.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Template corev1.PodTemplateSpec `json:"template"`
	// Service asks for a Service in front of the template's Pods.
	// +optional
	Service *TemplateService `json:"service,omitempty"`
}

// TemplateService asks for a Service in front of an experiment template's Pods.
type TemplateService struct {
	// Name of the Service; defaults to the ReplicaSet's name.
	// +optional
	Name string `json:"name,omitempty"`
}

// ExperimentAnalysisTemplateRef is an analysis that runs during an Experiment.
type ExperimentAnalysisTemplateRef struct {
	// Name of this analysis within the Experiment.
	Name string `json:"name"`
	// TemplateName is the AnalysisTemplate's name.
	TemplateName string `json:"templateName"`
	// ClusterScope looks the name up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
	// Args are passed to the AnalysisRun.
	// +optional
	Args []Argument `json:"args,omitempty"`
	// RequiredForCompletion makes the Experiment wait for this analysis.
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}

// TemplateStatusCode is the state of one experiment template.
type TemplateStatusCode string

// The states of an experiment template.
const (
	// TemplateStatusProgressing means the ReplicaSet is coming up.
	TemplateStatusProgressing TemplateStatusCode = "Progressing"
	// TemplateStatusRunning means the ReplicaSet is available.
	TemplateStatusRunning TemplateStatusCode = "Running"
	// TemplateStatusSuccessful means the template finished well.
	TemplateStatusSuccessful TemplateStatusCode = "Successful"
	// TemplateStatusFailed means the template failed.
	TemplateStatusFailed TemplateStatusCode = "Failed"
	// TemplateStatusError means the template could not run.
	TemplateStatusError TemplateStatusCode = "Error"
)

// Completed reports whether the template reached a final state.
func (c TemplateStatusCode) Completed() bool {
	return c == TemplateStatusSuccessful || c == TemplateStatusFailed || c == TemplateStatusError
}

// TemplateStatus is the observed state of one experiment template.
type TemplateStatus struct {
	// Name of the template.
	Name string `json:"name"`
	// Replicas is the number of non-terminated Pods.
	Replicas int32 `json:"replicas"`
	// UpdatedReplicas is the number of Pods running the template.
	UpdatedReplicas int32 `json:"updatedReplicas"`
	// ReadyReplicas is the number of ready Pods.
	ReadyReplicas int32 `json:"readyReplicas"`
	// AvailableReplicas is the number of available Pods.
	AvailableReplicas int32 `json:"availableReplicas"`
	// CollisionCount counts hash collisions when naming the ReplicaSet.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// Status of the template.
	// +optional
	Status TemplateStatusCode `json:"status,omitempty"`
	// Message explains the status.
	// +optional
	Message string `json:"message,omitempty"`
	// LastTransitionTime is when the status last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// ServiceName is the Service made for the template, if any.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// PodTemplateHash is the hash of the template's ReplicaSet.
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// ExperimentStatus is what the controller observed of an Experiment.
type ExperimentStatus struct {
	// Phase of the Experiment, from its ReplicaSets and AnalysisRuns.
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// TemplateStatuses are the states of the templates.
	// +optional
	TemplateStatuses []TemplateStatus `json:"templateStatuses,omitempty"`
	// AvailableAt is when every template became available; the duration counts from it.
	// +optional
	AvailableAt *metav1.Time `json:"availableAt,omitempty"`
	// Conditions of the Experiment.
	// +optional
	Conditions []ExperimentCondition `json:"conditions,omitempty"`
	// AnalysisRuns are the states of the Experiment's AnalysisRuns.
	// +optional
	AnalysisRuns []ExperimentAnalysisRunStatus `json:"analysisRuns,omitempty"`
}

// ExperimentConditionType is the type of an Experiment condition.
type ExperimentConditionType string

// The condition types of an Experiment.
const (
	// InvalidExperimentSpec means the spec cannot be acted on until fixed.
	InvalidExperimentSpec ExperimentConditionType = "InvalidSpec"
	// ExperimentCompleted means the Experiment finished.
	ExperimentCompleted ExperimentConditionType = "Completed"
	// ExperimentProgressing means the ReplicaSets are coming up.
	ExperimentProgressing ExperimentConditionType = "Progressing"
	// ExperimentRunning means the Experiment runs for its duration.
	ExperimentRunning ExperimentConditionType = "Running"
	// ExperimentReplicaFailure means Pods could not be created or deleted.
	ExperimentReplicaFailure ExperimentConditionType = "ReplicaFailure"
)

// ExperimentCondition is one observed condition of an Experiment.
type ExperimentCondition struct {
	// Type of the condition.
	Type ExperimentConditionType `json:"type"`
	// Status is True, False or Unknown.
	Status corev1.ConditionStatus `json:"status"`
	// LastUpdateTime is when the condition was last written.
	LastUpdateTime metav1.Time `json:"lastUpdateTime"`
	// LastTransitionTime is when the status last changed.
	LastTransitionTime metav1.Time `json:"lastTransitionTime"`
	// Reason is a one-word cause.
	Reason string `json:"reason"`
	// Message explains the condition to a person.
	Message string `json:"message"`
}

// ExperimentAnalysisRunStatus is the state of one of an Experiment's AnalysisRuns.
type ExperimentAnalysisRunStatus struct {
	// Name of the analysis within the Experiment.
	Name string `json:"name"`
	// AnalysisRun is the AnalysisRun's name.
	AnalysisRun string `json:"analysisRun"`
	// Phase of the AnalysisRun.
	Phase AnalysisPhase `json:"phase"`
	// Message of the AnalysisRun.
	// +optional
	Message string `json:"message,omitempty"`
}

func init() {
	SchemeBuilder.Register(&Experiment{}, &ExperimentList{})
}
