package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestLeftoverSearchCleansARolloutRoutedBeforeMigration: a Rollout that
// Argo Rollouts routed through NGINX and that no longer names a router,
// handed over with its status already at its generation (as the reference
// writes it) and its canary Ingress still there, loses that Ingress at its
// first release under Kanaria. The controller spares the leftover search
// only for Rollouts it saw created without a router or searched clean, and
// this one is neither.
func TestLeftoverSearchCleansARolloutRoutedBeforeMigration(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "left-migrated")
	applyYAML(t, ns, `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: app, image: registry.k8s.io/pause:3.10}]
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {duration: 1s}}]
`)
	ro := getRollout(t, c, ns, "shop")
	// What the reference's last reconcile left: its generation observed.
	ro.Status = v1alpha1.RolloutStatus{ObservedGeneration: fmt.Sprint(ro.Generation)}
	if err := c.ctrl.Status().Update(context.Background(), ro); err != nil {
		t.Fatalf("writing the reference's status: %v", err)
	}
	yes := true
	pathType := networkingv1.PathTypePrefix
	canary := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-web-canary", Namespace: ns,
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "0"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Rollout",
				Name: ro.Name, UID: ro.UID, Controller: &yes}}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.example", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "shop-canary",
					Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}
	if err := c.ctrl.Create(context.Background(), canary); err != nil {
		t.Fatalf("creating the canary Ingress the reference left: %v", err)
	}

	runController(t, ns)
	setImage(t, ns, "shop", "registry.k8s.io/pause:3.9")
	eventually(t, 2*time.Minute, "the canary Ingress left by the reference deleted", func() (bool, error) {
		var ing networkingv1.Ingress
		err := c.ctrl.Get(context.Background(), client.ObjectKeyFromObject(canary), &ing)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return ing.DeletionTimestamp != nil, fmt.Errorf("still there")
	})
	waitRollout(t, c, ns, "shop", "Healthy on the new image", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
}
