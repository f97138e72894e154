// Package statuspatch builds the status writes of Kanaria's reconcilers: a
// JSON merge patch of the status alone, guarded by the object's
// resourceVersion.
package statuspatch

import (
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
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
