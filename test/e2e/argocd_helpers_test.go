package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// This file models what Argo CD's built-in customizations for argoproj.io
// resources read and write (resource_customizations/argoproj.io/*/health.lua
// and Rollout/actions/*/action.lua), so the tests judge Kanaria's objects
// the way Argo CD would. The functions work on the unstructured object, as
// the Lua scripts do, so a field Kanaria leaves out or types differently
// shows up here as it would in Argo CD.

// argoHealth is the health Argo CD shows for one resource.
type argoHealth struct {
	Status  string
	Message string
}

func (h argoHealth) String() string { return h.Status + " (" + h.Message + ")" }

var (
	rolloutGVK     = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"}
	analysisRunGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "AnalysisRun"}
	experimentGVK  = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Experiment"}
)

// field walks obj along path; nil when any step is missing.
func field(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// luaNumber converts what Lua's tonumber would accept: numbers, and strings
// holding a number. ok is false where tonumber returns nil.
func luaNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

func numberOr(v any, def float64) float64 {
	if f, ok := luaNumber(v); ok {
		return f
	}
	return def
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// rolloutHealth is Argo CD's Rollout health check.
func rolloutHealth(obj map[string]any) argoHealth {
	status, _ := field(obj, "status").(map[string]any)
	generationObserved := func() bool {
		if status == nil {
			return false
		}
		observed, ok := luaNumber(status["observedGeneration"])
		gen := numberOr(field(obj, "metadata", "generation"), 0)
		if !ok || observed > gen {
			return true // a pre-v0.10 hash, not a generation
		}
		return observed == gen
	}
	workloadObserved := func() bool {
		if field(obj, "spec", "workloadRef") == nil || field(obj, "metadata", "annotations") == nil {
			return true
		}
		want, okWant := luaNumber(field(obj, "metadata", "annotations", "rollout.argoproj.io/workload-generation"))
		got, okGot := luaNumber(field(status, "workloadObservedGeneration"))
		return okWant == okGot && want == got
	}
	if !generationObserved() || !workloadObserved() {
		return argoHealth{"Progressing", "Waiting for rollout spec update to be observed"}
	}
	if phase, ok := status["phase"].(string); ok {
		if phase == "Paused" {
			phase = "Suspended"
		}
		return argoHealth{phase, stringOf(status["message"])}
	}
	// A controller that records no phase (before Argo Rollouts v1.0) is
	// judged from its conditions and counts; Kanaria always records one, so
	// reaching here is itself a finding.
	return argoHealth{"Unknown", "status.phase is missing"}
}

// analysisRunHealth is Argo CD's AnalysisRun health check.
func analysisRunHealth(obj map[string]any) argoHealth {
	status, _ := field(obj, "status").(map[string]any)
	if status == nil {
		return argoHealth{"Progressing", "Waiting for analysis run to finish: status has not been reconciled."}
	}
	msg := func(def string) string {
		if m, ok := status["message"].(string); ok {
			return m
		}
		return def
	}
	switch status["phase"] {
	case "Pending", "Running":
		return argoHealth{"Progressing", "Analysis run is running"}
	case "Successful":
		return argoHealth{"Healthy", msg("Analysis run completed successfully")}
	case "Failed":
		return argoHealth{"Degraded", msg("Analysis run failed")}
	case "Error":
		return argoHealth{"Degraded", msg("Analysis run had an error")}
	case "Inconclusive":
		return argoHealth{"Unknown", msg("Analysis run was inconclusive")}
	}
	return argoHealth{}
}

// experimentHealth is Argo CD's Experiment health check.
func experimentHealth(obj map[string]any) argoHealth {
	if field(obj, "metadata", "deletionTimestamp") != nil {
		return argoHealth{"Progressing", "Pending deletion"}
	}
	status, _ := field(obj, "status").(map[string]any)
	if status == nil {
		return argoHealth{"Progressing", "Waiting for experiment to finish: status has not been reconciled."}
	}
	switch status["phase"] {
	case "Pending":
		return argoHealth{"Progressing", "Experiment is pending"}
	case "Running":
		return argoHealth{"Progressing", "Experiment is running"}
	case "Successful":
		return argoHealth{"Healthy", "Experiment is successful"}
	case "Failed":
		return argoHealth{"Degraded", "Experiment has failed"}
	case "Error":
		return argoHealth{"Degraded", "Experiment had an error"}
	}
	return argoHealth{}
}

// argoAction is one of Argo CD's Rollout actions: it edits a copy of the
// live object the way its action.lua edits obj. now is the clock the
// restart action reads.
type argoAction func(obj map[string]any, now time.Time)

func ensureMap(obj map[string]any, key string) map[string]any {
	m, ok := obj[key].(map[string]any)
	if !ok {
		m = map[string]any{}
		obj[key] = m
	}
	return m
}

func canarySteps(obj map[string]any) ([]any, bool) {
	if field(obj, "spec", "strategy", "canary") == nil {
		return nil, false
	}
	steps, _ := field(obj, "spec", "strategy", "canary", "steps").([]any)
	return steps, true
}

func nonEmptyList(v any) bool {
	l, ok := v.([]any)
	return ok && len(l) > 0
}

var argoActions = map[string]argoAction{
	"pause": func(obj map[string]any, _ time.Time) {
		ensureMap(obj, "spec")["paused"] = true
	},
	"resume": func(obj map[string]any, _ time.Time) {
		status := ensureMap(obj, "status")
		if nonEmptyList(status["pauseConditions"]) {
			delete(status, "pauseConditions")
		}
		spec := ensureMap(obj, "spec")
		if paused, _ := spec["paused"].(bool); paused {
			spec["paused"] = false
		}
	},
	"abort": func(obj map[string]any, _ time.Time) {
		ensureMap(obj, "status")["abort"] = true
	},
	"retry": func(obj map[string]any, _ time.Time) {
		status, _ := obj["status"].(map[string]any)
		if aborted, _ := status["abort"].(bool); !aborted {
			return
		}
		delete(status, "abort")
		if bg, ok := status["blueGreen"].(map[string]any); ok {
			delete(bg, "prePromotionAnalysisRunStatus")
			delete(bg, "postPromotionAnalysisRunStatus")
		}
		if c, ok := status["canary"].(map[string]any); ok {
			delete(c, "currentStepAnalysisRunStatus")
			delete(c, "currentBackgroundAnalysisRunStatus")
		}
	},
	"promote-full": func(obj map[string]any, _ time.Time) {
		status, _ := obj["status"].(map[string]any)
		if status == nil {
			return
		}
		gen, ok := luaNumber(status["observedGeneration"])
		if !ok || gen > numberOr(field(obj, "metadata", "generation"), 0) {
			delete(status, "abort")
			if steps, _ := canarySteps(obj); steps != nil {
				status["currentStepIndex"] = int64(len(steps))
			}
			return
		}
		status["promoteFull"] = true
	},
	"restart": func(obj map[string]any, now time.Time) {
		ensureMap(obj, "spec")["restartAt"] = now.UTC().Format("2006-01-02T15:04:05Z")
	},
	// promote is the newer Argo CD's action: at a pause it only clears the
	// pause (and an inconclusive analysis's controller pause with its step),
	// elsewhere it moves the canary on by one step.
	"promote": func(obj map[string]any, _ time.Time) {
		spec := ensureMap(obj, "spec")
		if paused, _ := spec["paused"].(bool); paused {
			spec["paused"] = false
		}
		status := ensureMap(obj, "status")
		steps, isCanary := canarySteps(obj)
		next := func() {
			if !isCanary || len(steps) == 0 {
				return
			}
			idx := numberOr(status["currentStepIndex"], 0)
			if idx < float64(len(steps)) {
				idx++
			}
			delete(status, "pauseConditions")
			status["currentStepIndex"] = int64(idx)
		}
		inconclusive := isCanary && field(status, "canary", "currentStepAnalysisRunStatus", "status") == "Inconclusive"
		controllerPause, _ := status["controllerPause"].(bool)
		switch {
		case inconclusive && nonEmptyList(status["pauseConditions"]) && controllerPause:
			next()
			status["controllerPause"] = false
		case nonEmptyList(status["pauseConditions"]):
			delete(status, "pauseConditions")
		default:
			next()
		}
	},
	"skip-current-step": func(obj map[string]any, _ time.Time) {
		status, _ := obj["status"].(map[string]any)
		if status == nil {
			return
		}
		steps, _ := canarySteps(obj)
		idx, ok := luaNumber(status["currentStepIndex"])
		if steps == nil || !ok || idx >= float64(len(steps)) {
			return
		}
		if nonEmptyList(status["pauseConditions"]) {
			delete(status, "pauseConditions")
		}
		status["currentStepIndex"] = int64(idx) + 1
	},
}

// argoRunActions are Argo CD's AnalysisRun actions.
var argoRunActions = map[string]argoAction{
	"terminate": func(obj map[string]any, _ time.Time) {
		ensureMap(obj, "spec")["terminate"] = true
	},
}

// mergeDiff is the JSON merge patch (RFC 7386) that turns from into to:
// changed and added keys with their new value, removed keys as null.
func mergeDiff(from, to map[string]any) map[string]any {
	patch := map[string]any{}
	for k, v := range to {
		old, had := from[k]
		switch {
		case !had:
			patch[k] = v
		case reflect.DeepEqual(old, v):
		default:
			om, ok1 := old.(map[string]any)
			nm, ok2 := v.(map[string]any)
			if ok1 && ok2 {
				patch[k] = mergeDiff(om, nm)
			} else {
				patch[k] = v
			}
		}
	}
	for k := range from {
		if _, ok := to[k]; !ok {
			patch[k] = nil
		}
	}
	return patch
}

// runArgoAction does what Argo CD's server does to run a resource action:
// read the live object, let the action edit a copy, and send the merge
// patch between the two; a patch touching status goes through the status
// subresource first (whole, as Argo CD sends it), and the rest of it
// through the main resource. It returns the patches it sent.
func runArgoAction(t *testing.T, c clients, ns, name, action string) (statusPatch, mainPatch []byte) {
	t.Helper()
	return runArgoActionOn(t, c, rolloutGVK, ns, name, action)
}

// runArgoActionOn is runArgoAction for any kind with Argo CD actions.
func runArgoActionOn(t *testing.T, c clients, gvk schema.GroupVersionKind, ns, name, action string) (statusPatch, mainPatch []byte) {
	t.Helper()
	actions := argoActions
	if gvk == analysisRunGVK {
		actions = argoRunActions
	}
	act, ok := actions[action]
	if !ok {
		t.Fatalf("no Argo CD action %q for %s", action, gvk.Kind)
	}
	live := liveObject(t, c, gvk, ns, name)
	edited := live.DeepCopy()
	act(edited.Object, time.Now())
	diff := mergeDiff(live.Object, edited.Object)
	if len(diff) == 0 {
		return nil, nil
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	obj.SetNamespace(ns)
	obj.SetName(name)
	if _, ok := diff["status"]; ok {
		b, err := json.Marshal(diff)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ctrl.Status().Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, b)); err != nil {
			t.Fatalf("argo cd action %s: status patch %s: %v", action, b, err)
		}
		statusPatch = b
		delete(diff, "status")
	}
	if len(diff) > 0 {
		b, err := json.Marshal(diff)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ctrl.Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, b)); err != nil {
			t.Fatalf("argo cd action %s: patch %s: %v", action, b, err)
		}
		mainPatch = b
	}
	t.Logf("argo cd action %s on %s/%s: status patch %s, patch %s", action, ns, name, statusPatch, mainPatch)
	return statusPatch, mainPatch
}

func liveObject(t *testing.T, c clients, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatalf("get %s %s: %v", gvk.Kind, name, err)
	}
	return u
}

// waitHealth waits until Argo CD would show want for the live object, with
// the message msg when one is given.
func waitHealth(t *testing.T, c clients, gvk schema.GroupVersionKind, ns, name string, timeout time.Duration, want string, msg ...string) argoHealth {
	t.Helper()
	health := map[string]func(map[string]any) argoHealth{
		"Rollout": rolloutHealth, "AnalysisRun": analysisRunHealth, "Experiment": experimentHealth,
	}[gvk.Kind]
	var got argoHealth
	eventually(t, timeout, fmt.Sprintf("Argo CD health of %s %s to be %s", gvk.Kind, name, want), func() (bool, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
			return false, err
		}
		got = health(u.Object)
		return got.Status == want && (len(msg) == 0 || got.Message == msg[0]), fmt.Errorf("health %s", got)
	})
	return got
}
