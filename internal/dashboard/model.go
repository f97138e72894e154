package dashboard

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// RolloutList is the JSON of the rollouts page: the Rollouts of one
// namespace, or of all when Namespace is empty.
type RolloutList struct {
	// Namespace the list is of; empty means all namespaces.
	Namespace string `json:"namespace"`
	// ReadOnly tells the page to offer no actions.
	ReadOnly bool `json:"readOnly"`
	// Rollouts sorted by namespace and name, as the read model shows them,
	// without their revisions: the list shows none, and they would carry
	// every ReplicaSet of the namespace to each tab.
	Rollouts []rolloutview.Rollout `json:"rollouts"`
}

// RolloutPage is the JSON of the rollout page: the read model itself, so
// the page shows what the CLI and notifications show, with what only the
// page needs beside it.
type RolloutPage struct {
	rolloutview.Rollout
	// ReadOnly tells the page to offer no actions.
	ReadOnly bool `json:"readOnly"`
	// Containers of the Pod template, for the set-image form; init
	// containers last.
	Containers []Container `json:"containers"`
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

// view builds the read model of ro from the namespace's objects.
func view(ro *v1alpha1.Rollout, rss []appsv1.ReplicaSet, pods []corev1.Pod, runs []v1alpha1.AnalysisRun, exps []v1alpha1.Experiment, now time.Time) rolloutview.Rollout {
	return rolloutview.Build(ro, rolloutview.Owned{
		ReplicaSets:  rolloutview.Refs(rss),
		Pods:         rolloutview.Refs(pods),
		AnalysisRuns: rolloutview.Refs(runs),
		Experiments:  rolloutview.Refs(exps),
	}, now)
}

// listed is a Rollout's row of the rollouts page.
func listed(v rolloutview.Rollout) rolloutview.Rollout {
	v.Revisions = nil
	return v
}

// page is the rollout page of ro from its read model.
func page(ro *v1alpha1.Rollout, v rolloutview.Rollout, readOnly bool) RolloutPage {
	p := RolloutPage{Rollout: v, ReadOnly: readOnly, Containers: []Container{}}
	for _, c := range ro.Spec.Template.Spec.Containers {
		p.Containers = append(p.Containers, Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range ro.Spec.Template.Spec.InitContainers {
		p.Containers = append(p.Containers, Container{Name: c.Name, Image: c.Image, Init: true})
	}
	return p
}
