package shard

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ReplicaCount is how many replicas the workload running Pod namespace/pod
// asks for: its StatefulSet's spec.replicas, or its ReplicaSet's
// Deployment's (the ReplicaSet's own when no Deployment controls it). With
// --shards auto this is the shard count, so scaling the controller
// re-splits the work.
func ReplicaCount(ctx context.Context, kube kubernetes.Interface, namespace, pod string) (int, error) {
	p, err := kube.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return 0, fmt.Errorf("reading the controller's own Pod %s/%s: %w", namespace, pod, err)
	}
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil {
		return 0, fmt.Errorf("the controller's Pod %s/%s has no controller to count replicas of", namespace, pod)
	}
	switch ref.Kind {
	case "StatefulSet":
		sts, err := kube.AppsV1().StatefulSets(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return 0, fmt.Errorf("reading the controller's StatefulSet %s/%s: %w", namespace, ref.Name, err)
		}
		return replicasOrOne(sts.Spec.Replicas), nil
	case "ReplicaSet":
		rs, err := kube.AppsV1().ReplicaSets(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return 0, fmt.Errorf("reading the controller's ReplicaSet %s/%s: %w", namespace, ref.Name, err)
		}
		dref := metav1.GetControllerOfNoCopy(rs)
		if dref == nil || dref.Kind != "Deployment" {
			return replicasOrOne(rs.Spec.Replicas), nil
		}
		dep, err := kube.AppsV1().Deployments(namespace).Get(ctx, dref.Name, metav1.GetOptions{})
		if err != nil {
			return 0, fmt.Errorf("reading the controller's Deployment %s/%s: %w", namespace, dref.Name, err)
		}
		return replicasOrOne(dep.Spec.Replicas), nil
	default:
		return 0, fmt.Errorf("the controller's Pod %s/%s is run by a %s, not a StatefulSet or Deployment", namespace, pod, ref.Kind)
	}
}

// replicasOrOne reads spec.replicas, which the API server defaults to 1.
func replicasOrOne(n *int32) int {
	if n == nil {
		return 1
	}
	return int(*n)
}

// AutoCount is the shard count of r replicas: one shard each, at least
// one and at most Buckets. A workload scaled to zero keeps one shard, for
// the replica still shutting down.
func AutoCount(r int) int {
	return min(max(r, 1), Buckets)
}
