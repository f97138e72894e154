package nginx

import (
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Leftovers returns the canary Ingresses among ings that ro owns but no
// longer uses (its trafficRouting.nginx was removed or names other stable
// Ingresses), to be deleted: left in place, one would keep sending its
// weight to the canary Service. Argo Rollouts leaves them until the
// Rollout is deleted.
func Leftovers(ro *v1alpha1.Rollout, ings []networkingv1.Ingress) []trafficrouting.Leftover {
	var current []string
	if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil && c.TrafficRouting.Nginx != nil {
		n := c.TrafficRouting.Nginx
		for _, s := range append(slices.Clone(n.StableIngresses), n.StableIngress) {
			if s != "" {
				current = append(current, CanaryIngressName(ro.Name, s))
			}
		}
	}
	var out []trafficrouting.Leftover
	for i := range ings {
		ing := &ings[i]
		ref := metav1.GetControllerOf(ing)
		if ref == nil || ref.UID != ro.UID || ref.Kind != "Rollout" || slices.Contains(current, ing.Name) {
			continue
		}
		out = append(out, trafficrouting.Leftover{Router: Type, Kind: "Ingress", Before: ing, What: "the canary Ingress"})
	}
	return out
}
