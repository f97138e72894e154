// Package decide is the pure heart of the Rollout controller: it turns a
// snapshot of a Rollout and everything it owns into a plan, the ordered
// writes to make and the new status. It reads no clock and calls no API, so
// the safety rules it enforces (stable capacity is never reduced below the
// floor before the canary is available; a Service never points at a version
// with no available Pods) are checked by table tests, and a crash between
// two reconciles only repeats a decision, never skips one.
package decide

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Plan is what one reconcile decided.
type Plan struct {
	// Actions are the writes to make, in order; the executor stops at the
	// first failure and the next reconcile decides again.
	Actions []Action
	// UrgentWrites is how many of the first Actions take traffic back to
	// the stable version (an abort's router weights and Services). They
	// lead the plan, ahead of any scale, run or status write, and the
	// executor may send them through a client lane of their own so that
	// they never queue behind the routine writes of other Rollouts.
	UrgentWrites int
	// Status is the Rollout's new status, written after the actions succeed.
	Status v1alpha1.RolloutStatus
	// Events are recorded after the actions succeed.
	Events []Event
	// RequeueAfter asks for another reconcile after this long even if
	// nothing changes (a timed pause, a progress deadline); 0 means none.
	RequeueAfter time.Duration
	// Releases are the releases that ended in this decision, reported once
	// the status that records them is written.
	Releases []ReleaseTiming
}

// Event is a Kubernetes Event about the Rollout.
type Event struct {
	// Type is Normal or Warning.
	Type string
	// Reason is a one-word cause, e.g. RolloutPaused.
	Reason string
	// Message explains the decision to a person.
	Message string
	// Routine marks a decision that is logged but not recorded as a
	// Kubernetes Event: scaling a ReplicaSet, moving a Service or a
	// weight, a timed pause starting or ending. Events are kept for what
	// a person should see (an update starting or finishing, a pause that
	// waits for them, an abort, a failed analysis), so a release costs the
	// API server a handful of Event writes, not one per decision.
	Routine bool
	// Observed marks an event that tells what the decision found rather
	// than what it did (an AnalysisRun that failed): whoever tells it,
	// such as a notification, shows the Rollout as it was found, since
	// the same decision may abort and reset the step.
	Observed bool
}

// Action is one write of a plan.
type Action interface {
	// Describe says what the action does, for logs.
	Describe() string
}

// CreateReplicaSet creates a new version's ReplicaSet.
type CreateReplicaSet struct {
	ReplicaSet *appsv1.ReplicaSet
}

// ScaleReplicaSet sets a ReplicaSet's spec.replicas.
type ScaleReplicaSet struct {
	Name     string
	From, To int32
}

// PatchReplicaSet changes a ReplicaSet's annotations or its Pod template's
// labels and annotations; a nil value removes the key.
type PatchReplicaSet struct {
	Name                string
	Annotations         map[string]*string
	TemplateLabels      map[string]*string
	TemplateAnnotations map[string]*string
}

// AdoptReplicaSet makes the Rollout the controller of an orphaned ReplicaSet.
// The write is conditional on the orphan being as observed (its UID and
// resourceVersion), so a concurrent adoption by another controller, or any
// other change, makes it fail and the next reconcile look again.
type AdoptReplicaSet struct {
	Name            string
	UID             types.UID
	ResourceVersion string
	// OwnerReferences are the orphan's owners as observed, none of them its
	// controller; adopting keeps them and adds the Rollout.
	OwnerReferences []metav1.OwnerReference
}

// DeleteReplicaSet removes an old ReplicaSet beyond revisionHistoryLimit.
type DeleteReplicaSet struct {
	Name string
	UID  types.UID
}

// SetServiceSelector points a Service at one version through the
// rollouts-pod-template-hash label of its selector.
type SetServiceSelector struct {
	Service string
	Hash    string
}

// PatchPod changes a running Pod's labels and annotations in place; a nil
// value removes the key.
type PatchPod struct {
	Name        string
	Labels      map[string]*string
	Annotations map[string]*string
}

// EvictPod evicts a Pod so its ReplicaSet replaces it (spec.restartAt). As
// in the reference it goes through the Eviction API, so a
// PodDisruptionBudget that forbids it keeps the Pod until a later try.
type EvictPod struct {
	Name string
	UID  types.UID
}

// ScaleDeployment scales the Deployment named by workloadRef.
type ScaleDeployment struct {
	Name     string
	From, To int32
}

// SetRolloutRevision writes the rollout.argoproj.io/revision annotation on
// the Rollout itself, which tools read to show the current revision.
type SetRolloutRevision struct {
	Revision string
}

// AnnotateRollout sets one annotation on the Rollout itself: the record of
// the step whose pause the controller set (PausedStepAnnotation), or the
// referenced workload's generation that Argo CD compares with
// status.workloadObservedGeneration. Like SetRolloutRevision it goes after
// the status write.
type AnnotateRollout struct {
	Key, Value string
}

// SyncTraffic makes every traffic router of the Rollout show Desired: the
// canary's weight and the managed header and mirror routes.
type SyncTraffic struct {
	Desired trafficrouting.Desired
}

// CreateAnalysisRun starts an analysis.
type CreateAnalysisRun struct {
	Run *v1alpha1.AnalysisRun
}

// TerminateAnalysisRun stops a running analysis (spec.terminate).
type TerminateAnalysisRun struct {
	Name string
}

// DeleteAnalysisRun removes a finished analysis beyond the history limits.
type DeleteAnalysisRun struct {
	Name string
	UID  types.UID
}

// CreateExperiment starts the Experiment of an experiment step.
type CreateExperiment struct {
	Experiment *v1alpha1.Experiment
}

// TerminateExperiment stops a running Experiment (spec.terminate): the
// release moved past its step, was promoted fully or aborted.
type TerminateExperiment struct {
	Name string
}

// DeleteExperiment removes a finished Experiment beyond the history limits,
// or one whose version's ReplicaSet is gone.
type DeleteExperiment struct {
	Name string
	UID  types.UID
}

// Describe implements Action.
func (a CreateExperiment) Describe() string { return "create Experiment " + a.Experiment.Name }

// Describe implements Action.
func (a TerminateExperiment) Describe() string { return "terminate Experiment " + a.Name }

// Describe implements Action.
func (a DeleteExperiment) Describe() string { return "delete old Experiment " + a.Name }

// Describe implements Action.
func (a SyncTraffic) Describe() string {
	d := a.Desired
	s := fmt.Sprintf("route %d/%d of traffic to the canary %s (stable %s), %d header and %d mirror routes",
		d.CanaryWeight, d.MaxWeight, d.CanaryHash, d.StableHash, len(d.HeaderRoutes), len(d.MirrorRoutes))
	for _, a := range d.Additional {
		s += fmt.Sprintf(", %d to Service %s", a.Weight, a.ServiceName)
	}
	return s
}

func (a CreateAnalysisRun) Describe() string { return "create AnalysisRun " + a.Run.Name }

// Describe implements Action.
func (a TerminateAnalysisRun) Describe() string { return "terminate AnalysisRun " + a.Name }

// Describe implements Action.
func (a DeleteAnalysisRun) Describe() string { return "delete old AnalysisRun " + a.Name }

// Describe implements Action.
func (a CreateReplicaSet) Describe() string {
	return fmt.Sprintf("create ReplicaSet %s with %d replicas", a.ReplicaSet.Name, deref(a.ReplicaSet.Spec.Replicas, 0))
}

// Describe implements Action.
func (a ScaleReplicaSet) Describe() string {
	return fmt.Sprintf("scale ReplicaSet %s from %d to %d", a.Name, a.From, a.To)
}

// Describe implements Action.
func (a PatchReplicaSet) Describe() string {
	return fmt.Sprintf("update metadata of ReplicaSet %s: %s", a.Name, describeChanges(a.Annotations, a.TemplateLabels, a.TemplateAnnotations))
}

// Describe implements Action.
func (a AdoptReplicaSet) Describe() string { return "adopt ReplicaSet " + a.Name }

// Describe implements Action.
func (a DeleteReplicaSet) Describe() string { return "delete old ReplicaSet " + a.Name }

// Describe implements Action.
func (a SetServiceSelector) Describe() string {
	return fmt.Sprintf("point Service %s at %s=%s", a.Service, v1alpha1.DefaultRolloutUniqueLabelKey, a.Hash)
}

// Describe implements Action.
func (a PatchPod) Describe() string {
	return fmt.Sprintf("update metadata of Pod %s: %s", a.Name, describeChanges(a.Labels, a.Annotations))
}

// Describe implements Action.
func (a EvictPod) Describe() string { return "restart Pod " + a.Name }

// Describe implements Action.
func (a ScaleDeployment) Describe() string {
	return fmt.Sprintf("scale Deployment %s from %d to %d", a.Name, a.From, a.To)
}

// Describe implements Action.
func (a SetRolloutRevision) Describe() string { return "set the Rollout's revision to " + a.Revision }

// Describe implements Action.
func (a AnnotateRollout) Describe() string {
	return "annotate the Rollout with " + a.Key + "=" + a.Value
}

func describeChanges(maps ...map[string]*string) string {
	var parts []string
	for _, m := range maps {
		for k, v := range m {
			if v == nil {
				parts = append(parts, "-"+k)
			} else {
				parts = append(parts, k+"="+*v)
			}
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// podIsOlder reports whether a Pod was created before t.
func podIsOlder(p *corev1.Pod, t time.Time) bool {
	return p.CreationTimestamp.Time.Before(t)
}
