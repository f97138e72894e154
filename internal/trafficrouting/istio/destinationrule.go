package istio

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// editDestinationRule checks that obj has the canary and stable subsets and,
// when d is set, points their hash labels at d's ReplicaSets. Other
// subsets, other labels and every other field are left alone.
func (r *Router) editDestinationRule(obj *unstructured.Unstructured, cfg v1alpha1.IstioDestinationRule, d *trafficrouting.Desired) []error {
	where := "DestinationRule " + obj.GetNamespace() + "/" + obj.GetName()
	spec, ok := obj.Object["spec"].(map[string]any)
	if !ok {
		return []error{trafficrouting.Errorf(Type, "%s has no spec", where)}
	}
	subsets, _ := spec["subsets"].([]any)
	canary, stable := findSubset(subsets, cfg.CanarySubsetName), findSubset(subsets, cfg.StableSubsetName)
	var problems []error
	if canary == nil {
		problems = append(problems, trafficrouting.Errorf(Type, "%s has no subset named %q (canarySubsetName)", where, cfg.CanarySubsetName))
	}
	if stable == nil {
		problems = append(problems, trafficrouting.Errorf(Type, "%s has no subset named %q (stableSubsetName)", where, cfg.StableSubsetName))
	}
	if len(problems) > 0 || d == nil {
		return problems
	}

	setHashLabel(canary, d.CanaryHash)
	setHashLabel(stable, d.StableHash)
	if obj.GetAnnotations()[ManagedByAnnotation] != r.env.Rollout.Name {
		ann := obj.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[ManagedByAnnotation] = r.env.Rollout.Name
		obj.SetAnnotations(ann)
	}
	return nil
}

// findSubset returns the subset called name, or nil.
func findSubset(subsets []any, name string) map[string]any {
	for _, s := range subsets {
		if m, ok := s.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

// setHashLabel makes subset select the Pods of the ReplicaSet with hash. An
// empty hash means there is no such ReplicaSet; the label is dropped, as
// Argo Rollouts does, rather than left selecting a ReplicaSet that is gone.
func setHashLabel(subset map[string]any, hash string) {
	labels, _ := subset["labels"].(map[string]any)
	if hash == "" {
		delete(labels, PodTemplateHashLabel)
		return
	}
	if labels == nil {
		labels = map[string]any{}
		subset["labels"] = labels
	}
	if labels[PodTemplateHashLabel] != hash {
		labels[PodTemplateHashLabel] = hash
	}
}
