package nginx

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestLeftovers(t *testing.T) {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "web", UID: "ro-uid"}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{}
	owned := func(name string) networkingv1.Ingress {
		yes := true
		return networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "web", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "shop", UID: "ro-uid", Controller: &yes},
		}}}
	}
	ings := []networkingv1.Ingress{owned("shop-main-canary"), {ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: "web"}}}

	got := Leftovers(ro, ings)
	if len(got) != 1 || got[0].Before.GetName() != "shop-main-canary" || got[0].After != nil {
		t.Fatalf("Leftovers without nginx = %+v, want the canary Ingress deleted", got)
	}
	ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "main"}}
	if got := Leftovers(ro, ings); len(got) != 0 {
		t.Fatalf("Leftovers while nginx uses it = %+v", got)
	}
	ro.Spec.Strategy.Canary.TrafficRouting.Nginx.StableIngress = "other"
	if got := Leftovers(ro, ings); len(got) != 1 {
		t.Fatalf("Leftovers after the stable Ingress changed = %+v", got)
	}
}
