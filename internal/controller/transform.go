package controller

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// LastAppliedAnnotation is where kubectl's client-side apply keeps the whole
// object as last applied: for a Rollout, a second copy of its spec.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// cacheTransform trims what the controller caches of each object to what
// its decisions read. managedFields go from every kind. The last-applied
// annotation goes only from the kinds the controller never writes back
// whole: an update of a copy without it would delete it on the server,
// so Ingresses (which the NGINX and ALB routers update) and anything not
// listed here keep it. No code reads the annotation from these kinds.
func cacheTransform() toolscache.TransformFunc {
	return func(in any) (any, error) {
		obj, ok := in.(metav1.Object)
		if !ok {
			// Tombstones and other wrappers pass through unchanged.
			return in, nil
		}
		obj.SetManagedFields(nil)
		if patchedOnly(in) {
			if a := obj.GetAnnotations(); a != nil {
				if _, ok := a[LastAppliedAnnotation]; ok {
					delete(a, LastAppliedAnnotation)
					if len(a) == 0 {
						a = nil
					}
					obj.SetAnnotations(a)
				}
			}
		}
		return in, nil
	}
}

// patchedOnly reports whether the controller changes objects of in's kind
// only by patches, status writes, creation or deletion, never by an update
// of the whole cached copy.
func patchedOnly(in any) bool {
	switch in.(type) {
	case *v1alpha1.Rollout, *v1alpha1.AnalysisRun, *v1alpha1.Experiment,
		*v1alpha1.AnalysisTemplate, *v1alpha1.ClusterAnalysisTemplate,
		*appsv1.ReplicaSet, *appsv1.Deployment, *corev1.Pod, *corev1.Service:
		return true
	}
	return false
}
