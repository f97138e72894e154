// Package decide is the pure decision of the Experiment controller: it turns
// a snapshot of an Experiment and what it owns into a plan, the ordered
// writes to make and the new status. It reads no clock and calls no API, so
// every rule (when a template is available, when the duration is over, what
// a failed analysis does, when ReplicaSets go to zero) is checked by table
// tests, and a crash between two reconciles only repeats a decision.
package decide

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
)

// Snapshot is everything a decision about one Experiment may look at, read
// from the informer caches in one go. Decide never modifies it.
type Snapshot struct {
	// Now is the clock of this reconcile.
	Now time.Time
	// Experiment is the Experiment being reconciled.
	Experiment *v1alpha1.Experiment
	// ReplicaSets are the ReplicaSets the Experiment controls, by the name
	// of the template they run.
	ReplicaSets map[string]*appsv1.ReplicaSet
	// Services are the Services the Experiment controls, by template name.
	Services map[string]*corev1.Service
	// TakenNames are names a template's ReplicaSet or Service would get that
	// an object the Experiment does not control already has, keyed
	// "ReplicaSet/NAME" or "Service/NAME", and AnalysisRun names an earlier
	// create found held by a run the Experiment must not take (TakenRun):
	// new runs skip them.
	TakenNames map[string]bool
	// AnalysisRuns are the AnalysisRuns the Experiment controls, by name.
	AnalysisRuns map[string]*v1alpha1.AnalysisRun
	// Templates holds every analysis template the spec names, nested ones
	// included; a name with a nil value does not exist.
	Templates template.Lookup
	// ShardBucket is the shard bucket label value the Experiment's new
	// ReplicaSets and their Pods carry, so that only the replica holding
	// its shard caches them; empty without shards.
	ShardBucket string
}

// Plan is what one reconcile decided.
type Plan struct {
	// Actions are the writes to make, in order; the executor stops at the
	// first failure and the next reconcile decides again.
	Actions []Action
	// Status is the Experiment's new status, written after the actions.
	Status v1alpha1.ExperimentStatus
	// Events are recorded after the actions succeed.
	Events []Event
	// RequeueAfter asks for another reconcile after this long even if
	// nothing changes (the end of the duration, a progress deadline, a
	// scale-down delay); 0 means none.
	RequeueAfter time.Duration
}

// Event is a Kubernetes Event about the Experiment.
type Event struct {
	// Type is Normal or Warning.
	Type string
	// Reason is a one-word cause, e.g. TemplateRunning.
	Reason string
	// Message explains the decision to a person.
	Message string
}

// Action is one write of a plan.
type Action interface {
	// Describe says what the action does, for logs.
	Describe() string
}

// CreateReplicaSet creates the ReplicaSet of a template.
type CreateReplicaSet struct {
	ReplicaSet *appsv1.ReplicaSet
}

// ScaleReplicaSet sets a ReplicaSet's spec.replicas.
type ScaleReplicaSet struct {
	Name     string
	From, To int32
}

// SetScaleDownDeadline writes the scale-down-deadline annotation of a
// ReplicaSet (an RFC 3339 time), or removes it when Deadline is empty.
type SetScaleDownDeadline struct {
	Name     string
	Deadline string
}

// CreateService creates the Service of a template.
type CreateService struct {
	Service *corev1.Service
}

// DeleteService deletes the Service of a template whose Pods are gone.
type DeleteService struct {
	Name string
	UID  types.UID
}

// CreateAnalysisRun starts an analysis.
type CreateAnalysisRun struct {
	Run *v1alpha1.AnalysisRun
}

// TerminateAnalysisRun stops a running analysis (spec.terminate).
type TerminateAnalysisRun struct {
	Name string
}

// Describe implements Action.
func (a CreateReplicaSet) Describe() string {
	n := int32(0)
	if a.ReplicaSet.Spec.Replicas != nil {
		n = *a.ReplicaSet.Spec.Replicas
	}
	return fmt.Sprintf("create ReplicaSet %s with %d replicas", a.ReplicaSet.Name, n)
}

// Describe implements Action.
func (a ScaleReplicaSet) Describe() string {
	return fmt.Sprintf("scale ReplicaSet %s from %d to %d", a.Name, a.From, a.To)
}

// Describe implements Action.
func (a SetScaleDownDeadline) Describe() string {
	if a.Deadline == "" {
		return "remove the scale-down deadline of ReplicaSet " + a.Name
	}
	return fmt.Sprintf("set the scale-down deadline of ReplicaSet %s to %s", a.Name, a.Deadline)
}

// Describe implements Action.
func (a CreateService) Describe() string { return "create Service " + a.Service.Name }

// Describe implements Action.
func (a DeleteService) Describe() string { return "delete Service " + a.Name }

// Describe implements Action.
func (a CreateAnalysisRun) Describe() string { return "create AnalysisRun " + a.Run.Name }

// Describe implements Action.
func (a TerminateAnalysisRun) Describe() string { return "terminate AnalysisRun " + a.Name }
