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
// its decisions read. managedFields go from every kind. A Pod keeps of its
// spec only the names of its containers (see trimPodSpec). The last-applied
// annotation goes only from the kinds the controller never writes back
// whole: an update of a copy without it would delete it on the server,
// so Ingresses (which the NGINX and ALB routers update) and anything not
// listed here keep it. No code reads the annotation from these kinds.
// The strings many objects hold alike are interned (see internStrings).
func cacheTransform() toolscache.TransformFunc {
	return func(in any) (any, error) {
		obj, ok := in.(metav1.Object)
		if !ok {
			// Tombstones and other wrappers pass through unchanged.
			return in, nil
		}
		obj.SetManagedFields(nil)
		if pod, ok := in.(*corev1.Pod); ok {
			trimPodSpec(pod)
		}
		internStrings(in)
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

// trimPodSpec empties a cached Pod's spec but for the names of its
// containers and init containers. A Pod usually outweighs its Rollout in
// the cache (images, commands, environment, probes, volumes), there are
// several per Rollout, and nothing the controller does with a Pod reads its
// spec beyond counting its containers: decisions read its labels, owner,
// creation and deletion times and status; the read model counts containers
// for the READY column ("1/2") and init containers for "Init:0/1". Pods are
// only ever patched or deleted, so the trimmed copy is never written back.
func trimPodSpec(pod *corev1.Pod) {
	pod.Spec = corev1.PodSpec{
		InitContainers: namesOnly(pod.Spec.InitContainers),
		Containers:     namesOnly(pod.Spec.Containers),
	}
}

func namesOnly(cs []corev1.Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name}
	}
	return out
}
