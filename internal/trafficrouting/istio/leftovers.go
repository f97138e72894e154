package istio

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Leftovers finds the DestinationRules of ro's namespace that carry ro's
// managed-by annotation but that ro no longer names, and returns each
// without that annotation and without the pod-template hash label of any
// subset. That is what Argo Rollouts' DestinationRule watch removes when a
// Rollout stops referencing a rule. A cluster without Istio has none.
func Leftovers(ctx context.Context, r client.Reader, ro *v1alpha1.Rollout) ([]trafficrouting.Leftover, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(DestinationRuleGVK.GroupVersion().WithKind(DestinationRuleGVK.Kind + "List"))
	if err := r.List(ctx, list, client.InNamespace(ro.Namespace)); err != nil {
		if trafficrouting.IsNoKind(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing DestinationRules: %w", err)
	}
	named := ""
	if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil && c.TrafficRouting.Istio != nil && c.TrafficRouting.Istio.DestinationRule != nil {
		named = c.TrafficRouting.Istio.DestinationRule.Name
	}
	var out []trafficrouting.Leftover
	for i := range list.Items {
		dr := &list.Items[i]
		if dr.GetAnnotations()[ManagedByAnnotation] != ro.Name || dr.GetName() == named {
			continue
		}
		out = append(out, trafficrouting.Leftover{
			Router: Type, Kind: "DestinationRule", Before: dr, After: CleanDestinationRule(dr),
			What: fmt.Sprintf("the %s label of its subsets and the %s annotation", PodTemplateHashLabel, ManagedByAnnotation),
		})
	}
	return out, nil
}

// CleanDestinationRule returns a copy of dr without the managed-by
// annotation and without the pod-template hash label in any subset; every
// other field is kept as it is.
func CleanDestinationRule(dr *unstructured.Unstructured) *unstructured.Unstructured {
	out := dr.DeepCopy()
	ann := out.GetAnnotations()
	delete(ann, ManagedByAnnotation)
	if len(ann) == 0 {
		ann = nil
	}
	out.SetAnnotations(ann)
	subsets, _, _ := unstructured.NestedSlice(out.Object, "spec", "subsets")
	for _, s := range subsets {
		if m, ok := s.(map[string]any); ok {
			if labels, ok := m["labels"].(map[string]any); ok {
				delete(labels, PodTemplateHashLabel)
			}
		}
	}
	if subsets != nil {
		_ = unstructured.SetNestedSlice(out.Object, subsets, "spec", "subsets")
	}
	return out
}
