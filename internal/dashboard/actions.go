package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// The patches the kubectl plugin sends, byte for byte.
const (
	promotePatch     = `{"status":{"pauseConditions":null}}`
	unpausePatch     = `{"spec":{"paused":false}}`
	promoteFullPatch = `{"status":{"promoteFull":true}}`
	abortPatch       = `{"status":{"abort":true}}`
	retryPatch       = `{"status":{"abort":false}}`
	restartPatchFmt  = `{"spec":{"restartAt":%q}}`
)

// The actions of POST /api/namespaces/{ns}/rollouts/{name}/{action}.
const (
	ActionPromote     = "promote"
	ActionPromoteFull = "promote-full"
	ActionAbort       = "abort"
	ActionRetry       = "retry"
	ActionRestart     = "restart"
	ActionSetImage    = "set-image"
)

// SetImageRequest is the body of the set-image action.
type SetImageRequest struct {
	// Container is the name of a container or init container of the template.
	Container string `json:"container"`
	// Image is the new image.
	Image string `json:"image"`
}

// ActionResult is the answer to an action.
type ActionResult struct {
	// Action that was done.
	Action string `json:"action"`
	// Message says what changed, for a person.
	Message string `json:"message"`
}

// patchStep is one patch an action sends.
type patchStep struct {
	status bool // through the status subresource
	typ    types.PatchType
	data   string
}

// actionError is an action refused before anything was sent.
type actionError struct {
	code int
	msg  string
}

func (e *actionError) Error() string { return e.msg }

func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	if s.opts.ReadOnly {
		writeError(w, http.StatusForbidden, errors.New("the dashboard runs read-only (--read-only): actions are disabled"))
		return
	}
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, errors.New("cross-origin requests are refused"))
		return
	}
	// A JSON content type cannot be sent across origins without a CORS
	// preflight, which this server never grants.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, errors.New("actions take Content-Type: application/json"))
		return
	}
	ns, err := namespaceParam(r.PathValue("ns"))
	if err != nil || ns == "" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("a rollout needs a namespace, not %q", r.PathValue("ns")))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	action := r.PathValue("action")
	var ro v1alpha1.Rollout
	if err := s.c.Get(r.Context(), client.ObjectKey{Namespace: ns, Name: r.PathValue("name")}, &ro); err != nil {
		writeAPIError(w, err)
		return
	}
	steps, msg, err := s.plan(action, &ro, body)
	if err != nil {
		var ae *actionError
		if errors.As(err, &ae) {
			writeError(w, ae.code, err)
			return
		}
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := s.send(r.Context(), &ro, steps); err != nil {
		writeAPIError(w, err)
		return
	}
	s.opts.Log.Info("dashboard action", "action", action, "namespace", ns, "rollout", ro.Name)
	writeJSON(w, http.StatusOK, ActionResult{Action: action, Message: msg})
}

// plan decides the patches of an action on ro, as the kubectl plugin does.
func (s *Server) plan(action string, ro *v1alpha1.Rollout, body []byte) ([]patchStep, string, error) {
	switch action {
	case ActionPromote:
		// Status first, then spec, in the plugin's order.
		steps := []patchStep{{status: true, typ: types.MergePatchType, data: promotePatch}}
		if ro.Spec.Paused {
			steps = append(steps, patchStep{typ: types.MergePatchType, data: unpausePatch})
		}
		return steps, "promoted " + ro.Name, nil
	case ActionPromoteFull:
		if ro.Status.CurrentPodHash == ro.Status.StableRS {
			return nil, ro.Name + " is already fully promoted", nil
		}
		return []patchStep{{status: true, typ: types.MergePatchType, data: promoteFullPatch}}, "fully promoting " + ro.Name, nil
	case ActionAbort:
		return []patchStep{{status: true, typ: types.MergePatchType, data: abortPatch}}, "aborted " + ro.Name, nil
	case ActionRetry:
		return []patchStep{{status: true, typ: types.MergePatchType, data: retryPatch}}, "retrying " + ro.Name, nil
	case ActionRestart:
		at := s.opts.Now().UTC().Format(time.RFC3339)
		return []patchStep{{typ: types.MergePatchType, data: fmt.Sprintf(restartPatchFmt, at)}}, "restarting the Pods of " + ro.Name + " created before " + at, nil
	case ActionSetImage:
		return setImagePlan(ro, body)
	}
	return nil, "", &actionError{code: http.StatusNotFound, msg: fmt.Sprintf("unknown action %q: use %s", action,
		strings.Join([]string{ActionPromote, ActionPromoteFull, ActionAbort, ActionRetry, ActionRestart, ActionSetImage}, ", "))}
}

// setImagePlan is a JSON patch that replaces one container's image, with a
// test of the container's name so that a template changed meanwhile is not
// patched at the wrong index.
func setImagePlan(ro *v1alpha1.Rollout, body []byte) ([]patchStep, string, error) {
	var req SetImageRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, "", fmt.Errorf("set-image takes {\"container\": ..., \"image\": ...}: %w", err)
	}
	req.Image = strings.TrimSpace(req.Image)
	if req.Container == "" || req.Image == "" || strings.ContainsAny(req.Image, " \t\n") {
		return nil, "", errors.New("set-image needs a container name and an image without spaces")
	}
	if ro.Spec.WorkloadRef != nil {
		return nil, "", &actionError{code: http.StatusConflict, msg: fmt.Sprintf("%s takes its Pod template from %s %s: change the image there", ro.Name, ro.Spec.WorkloadRef.Kind, ro.Spec.WorkloadRef.Name)}
	}
	path := ""
	for i, c := range ro.Spec.Template.Spec.Containers {
		if c.Name == req.Container {
			path = fmt.Sprintf("/spec/template/spec/containers/%d", i)
		}
	}
	if path == "" {
		for i, c := range ro.Spec.Template.Spec.InitContainers {
			if c.Name == req.Container {
				path = fmt.Sprintf("/spec/template/spec/initContainers/%d", i)
			}
		}
	}
	if path == "" {
		return nil, "", &actionError{code: http.StatusNotFound, msg: fmt.Sprintf("%s has no container %q", ro.Name, req.Container)}
	}
	patch, err := json.Marshal([]map[string]string{
		{"op": "test", "path": path + "/name", "value": req.Container},
		{"op": "replace", "path": path + "/image", "value": req.Image},
	})
	if err != nil {
		return nil, "", err
	}
	return []patchStep{{typ: types.JSONPatchType, data: string(patch)}}, fmt.Sprintf("set the image of %s to %s", req.Container, req.Image), nil
}

// send applies the patches in order; the first error stops it.
func (s *Server) send(ctx context.Context, ro *v1alpha1.Rollout, steps []patchStep) error {
	for _, st := range steps {
		target := &v1alpha1.Rollout{}
		target.Namespace, target.Name = ro.Namespace, ro.Name
		patch := client.RawPatch(st.typ, []byte(st.data))
		var err error
		if st.status {
			err = s.c.Status().Patch(ctx, target, patch)
		} else {
			err = s.c.Patch(ctx, target, patch)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
