package controller

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// InstanceSelector selects the objects a controller instance handles, as
// Argo Rollouts does: those labelled
// argo-rollouts.argoproj.io/controller-instance-id with the instance's id,
// or, for a controller started without one, those without that label.
func InstanceSelector(instanceID string) (labels.Selector, error) {
	op, values := selection.DoesNotExist, []string(nil)
	if instanceID != "" {
		op, values = selection.Equals, []string{instanceID}
	}
	req, err := labels.NewRequirement(v1alpha1.LabelKeyControllerInstanceID, op, values)
	if err != nil {
		return nil, fmt.Errorf("controller instance id %q: %w", instanceID, err)
	}
	return labels.NewSelector().Add(*req), nil
}

// instanceCache limits the caches of the kinds a controller instance owns
// to its own objects, and with shards to the held shards' buckets. A foreign
// object never enters the cache, so no watch event, mapping or read ever
// hands it to a reconciler.
func instanceCache(instanceID string, shardSel *labels.Requirement, byObject map[client.Object]cache.ByObject) error {
	sel, err := InstanceSelector(instanceID)
	if err != nil {
		return err
	}
	if shardSel != nil {
		sel = sel.Add(*shardSel)
	}
	for _, o := range []client.Object{&v1alpha1.Rollout{}, &v1alpha1.AnalysisRun{}, &v1alpha1.Experiment{}} {
		byObject[o] = cache.ByObject{Label: sel}
	}
	return nil
}
