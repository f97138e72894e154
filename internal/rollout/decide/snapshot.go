package decide

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Snapshot is everything a decision may look at, read from the informer
// caches in one go. Decide never modifies it.
type Snapshot struct {
	// Now is the clock of this reconcile.
	Now time.Time
	// Rollout is the Rollout being reconciled.
	Rollout *v1alpha1.Rollout
	// Workload is the Deployment named by spec.workloadRef, nil when there is
	// none or it does not exist.
	Workload *appsv1.Deployment
	// ReplicaSets are the ReplicaSets the Rollout controls.
	ReplicaSets []*appsv1.ReplicaSet
	// Orphans are ReplicaSets with no controller whose labels match the
	// Rollout's selector and that carry a pod-template hash; the Rollout
	// adopts them.
	Orphans []*appsv1.ReplicaSet
	// NameTaken is a ReplicaSet that holds the name the current template's
	// ReplicaSet takes (the Rollout's name and the template's hash) but is
	// neither one of ReplicaSets nor one of Orphans: controlled by another
	// object, or not matching the selector. The Rollout cannot adopt it.
	NameTaken *appsv1.ReplicaSet
	// Pods are the Pods of the controlled ReplicaSets.
	Pods []*corev1.Pod
	// ShardBucket is the shard bucket label value the Rollout's new
	// ReplicaSets and their Pods carry, so that only the replica holding the
	// Rollout's shard caches them; empty without shards, where ReplicaSets
	// carry exactly the reference's labels.
	ShardBucket string
	// Services holds every Service the spec names, by name; a name with a
	// nil value does not exist.
	Services map[string]*corev1.Service
	// AnalysisRuns are the AnalysisRuns the Rollout controls.
	AnalysisRuns []*v1alpha1.AnalysisRun
	// Experiments are the Experiments the Rollout controls (experiment
	// steps of this and earlier updates).
	Experiments []*v1alpha1.Experiment
	// HeldRunNames and HeldExperimentNames are names an earlier create of
	// this Rollout found held by an object it must not take as the one it
	// meant to create (another owner's, or a finished one of its own):
	// new runs and Experiments skip them, as the reference moves on to the
	// next suffix when its create collides.
	HeldRunNames        map[string]bool
	HeldExperimentNames map[string]bool
	// Templates holds every analysis template the spec names, nested ones
	// included; a name with a nil value does not exist.
	Templates template.Lookup
	// TrafficErrors are the problems the Rollout's traffic routers found
	// with their objects (a missing VirtualService, a route name that does
	// not exist, a Service the route does not send to). They make the spec
	// invalid: no weight moves until they are fixed.
	TrafficErrors []string
	// RouterLeftovers is state routers put into objects the Rollout no
	// longer routes through (found after a change of its spec); the
	// decision cleans them up.
	RouterLeftovers []trafficrouting.Leftover
	// Configs is what observe read of the ConfigMaps and Secrets the Pod
	// template references, for a Rollout annotated
	// rollouts.kanaria.dev/config-snapshots: "true"; nil otherwise, and
	// then the template and its hash are used as they are.
	Configs *ConfigSnapshots
}
