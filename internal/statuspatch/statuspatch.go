// Package statuspatch builds the status writes of Kanaria's reconcilers: a
// JSON merge patch of the status alone, guarded by the object's
// resourceVersion.
package statuspatch

import (
	"context"
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Guarded returns the merge patch that turns status current into next,
// with metadata.resourceVersion set to resourceVersion so that a client's
// write meanwhile (a promote, an abort, a terminate) makes the patch fail
// with a conflict instead of being overwritten. Diffing the statuses
// alone, not the whole object as a generic merge-from patch does, spares
// serialising the Pod templates on every write.
func Guarded(resourceVersion string, current, next any) ([]byte, error) {
	before, err := json.Marshal(current)
	if err != nil {
		return nil, fmt.Errorf("encoding the current status: %w", err)
	}
	after, err := json.Marshal(next)
	if err != nil {
		return nil, fmt.Errorf("encoding the new status: %w", err)
	}
	diff, err := jsonpatch.CreateMergePatch(before, after)
	if err != nil {
		return nil, fmt.Errorf("diffing the status: %w", err)
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]string{"resourceVersion": resourceVersion},
		"status":   json.RawMessage(diff),
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the status patch: %w", err)
	}
	return body, nil
}

// Write patches the status subresource of obj, a copy of the object as it
// was read, from current to next with Guarded. It returns the object's
// resourceVersion after the write (unchanged when the patch changed
// nothing), and conflict true, with no error, when a client wrote the
// object since it was read: the caller should decide again on the new
// state rather than overwrite it.
func Write(ctx context.Context, c client.StatusClient, obj client.Object, current, next any) (version string, conflict bool, err error) {
	body, err := Guarded(obj.GetResourceVersion(), current, next)
	if err != nil {
		return "", false, err
	}
	if err := c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, body)); err != nil {
		if apierrors.IsConflict(err) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("writing status: %w", err)
	}
	return obj.GetResourceVersion(), false, nil
}
