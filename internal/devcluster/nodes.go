package devcluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeName returns the name of the i-th fake node (counting from 0).
func NodeName(i int) string {
	return "kwok-node-" + strconv.Itoa(i)
}

// podCIDR gives every node its own Pod IP range, so that Pod IPs are unique
// across the cluster, as Services and endpoints expect, and a node never
// runs out of addresses at the default capacity.
func podCIDR(i int) string {
	return fmt.Sprintf("10.%d.0.0/16", 16+i%200)
}

// nodeIP is the node's InternalIP, which kwok reports as the hostIP of its
// Pods.
func nodeIP(i int) string {
	return fmt.Sprintf("172.31.%d.%d", i/250, i%250+1)
}

func fakeNode(i, podsPerNode int) *corev1.Node {
	name := NodeName(i)
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(nodeCPU),
		corev1.ResourceMemory: resource.MustParse(nodeMemory),
		corev1.ResourcePods:   *resource.NewQuantity(int64(podsPerNode), resource.DecimalSI),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				NodeLabelType:          NodeLabelTypeValue,
				corev1.LabelHostname:   name,
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: "amd64",
			},
			Annotations: map[string]string{
				kwokNodeAnnotation: "fake",
				// No kubelet caches Secrets here, so no TTL is needed.
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: podCIDR(i), PodCIDRs: []string{podCIDR(i)}},
		Status: corev1.NodeStatus{
			Capacity:    resources,
			Allocatable: resources.DeepCopy(),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: nodeIP(i)},
				{Type: corev1.NodeHostName, Address: name},
			},
		},
	}
}

// createNodes registers the fake nodes, as kubelets would.
func (c *Cluster) createNodes(ctx context.Context, n, podsPerNode int) error {
	cs, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	for i := range n {
		_, err := cs.CoreV1().Nodes().Create(ctx, fakeNode(i, podsPerNode), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", NodeName(i), err)
		}
	}
	return nil
}

// waitUsable waits until a workload applied now would run at once: every
// node Ready and untainted (the node lifecycle controller taints new nodes
// until it sees them ready), the default ServiceAccount present (Pods are
// rejected without it) and the apiserver ready.
func (c *Cluster) waitUsable(ctx context.Context, nodes int, timeout time.Duration, apiserver, kwok *process, token string) error {
	cs, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	err = waitFor(ctx, fmt.Sprintf("%d nodes to become Ready", nodes), kwok, timeout, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: NodeLabelType + "=" + NodeLabelTypeValue})
		if err != nil {
			return false, fmt.Errorf("list nodes: %w", err)
		}
		var notReady []string
		for _, node := range list.Items {
			if !nodeReady(&node) || len(node.Spec.Taints) > 0 {
				notReady = append(notReady, node.Name)
			}
		}
		if len(list.Items) < nodes || len(notReady) > 0 {
			return false, fmt.Errorf("%d of %d nodes registered, not ready or tainted: %s", len(list.Items), nodes, strings.Join(notReady, ", "))
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	err = waitFor(ctx, "the default ServiceAccount", apiserver, timeout, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("get default ServiceAccount: %w", err)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	return waitFor(ctx, "kube-apiserver to be ready", apiserver, timeout, httpCheck(c.state.Server+"/readyz", token, ""))
}

func nodeReady(node *corev1.Node) bool {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
