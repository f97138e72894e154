// Package v1alpha1 holds the Go types of the argoproj.io/v1alpha1 API that
// Kanaria serves: Rollout, AnalysisTemplate, ClusterAnalysisTemplate,
// AnalysisRun and Experiment. Field names, types, defaults and enum strings
// follow Argo Rollouts' published API so that existing manifests, Argo CD and
// the public kubectl plugin work unchanged.
//
// +kubebuilder:object:generate=true
// +groupName=argoproj.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every resource in this package.
	GroupVersion = schema.GroupVersion{Group: "argoproj.io", Version: "v1alpha1"}

	// SchemeBuilder registers the package's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the package's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
