package verbs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestPromotePatchesFollowThePlugin(t *testing.T) {
	pausedCanary := canary("web", 1)
	pausedCanary.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}}
	specPaused := canary("web", 3)
	specPaused.Spec.Paused = true
	specPausedBG := blueGreen("web")
	specPausedBG.Spec.Paused = true
	pastLast := canary("web", 5)
	noSteps := canary("web", 0)
	noSteps.Spec.Strategy.Canary.Steps = nil
	noSteps.Status.CurrentStepIndex = nil
	bgWaiting := blueGreen("web")
	bgWaiting.Status.PauseConditions = nil
	bgWaiting.Status.Phase, bgWaiting.Status.Message = v1alpha1.RolloutPhaseProgressing, "updated replicas are still becoming available"

	cases := []struct {
		name    string
		ro      *v1alpha1.Rollout
		full    bool
		want    patches
		wantErr string
	}{
		{name: "paused by conditions", ro: pausedCanary, want: patches{status: `{"status":{"pauseConditions":null}}`}},
		{name: "blue-green paused", ro: blueGreen("web"), want: patches{status: `{"status":{"pauseConditions":null}}`}},
		{name: "blue-green paused by spec and conditions", ro: specPausedBG,
			want: patches{status: `{"status":{"pauseConditions":null}}`, spec: `{"spec":{"paused":false}}`}},
		{name: "canary waiting on an analysis step", ro: canary("web", 2),
			want: patches{status: `{"status":{"pauseConditions":null,"currentStepIndex":3}}`}},
		{name: "canary paused by spec mid-step", ro: specPaused,
			want: patches{status: `{"status":{"pauseConditions":null,"currentStepIndex":4}}`, spec: `{"spec":{"paused":false}}`}},
		{name: "canary with no step index yet", ro: func() *v1alpha1.Rollout { r := canary("web", 0); r.Status.CurrentStepIndex = nil; return r }(),
			want: patches{status: `{"status":{"pauseConditions":null,"currentStepIndex":1}}`}},
		// The controller reads a negative index as the first step, so promote moves past that.
		{name: "canary with a negative step index", ro: func() *v1alpha1.Rollout { r := canary("web", 0); r.Status.CurrentStepIndex = ptr(int32(-7)); return r }(),
			want: patches{status: `{"status":{"pauseConditions":null,"currentStepIndex":1}}`}},
		{name: "full", ro: canary("web", 1), full: true, want: patches{status: `{"status":{"promoteFull":true}}`}},
		{name: "healthy", ro: healthy(canary("web", 0)), wantErr: `nothing to promote: rollout "web" is not paused and not in the middle of an update (phase Healthy)`},
		{name: "healthy full", ro: healthy(canary("web", 0)), full: true, wantErr: `nothing to promote: rollout "web" already runs its desired version`},
		{name: "past last step", ro: pastLast, wantErr: `nothing to promote: rollout "web" is past its last step and not paused`},
		{name: "canary without steps", ro: noSteps, wantErr: `nothing to promote: rollout "web" is not paused and its canary has no steps`},
		{name: "blue-green not paused", ro: bgWaiting,
			wantErr: `nothing to promote: rollout "web" is a blue-green, not a canary, so it has no step to skip, and it is not paused (phase Progressing: updated replicas are still becoming available); use --full`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := promotePatches(tc.ro, tc.full)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("patches %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPromoteClearsPauseConditions(t *testing.T) {
	ro := canary("web", 1)
	ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.Now()}}
	ro.Status.ControllerPause = true
	c := newClient(t, ro)
	out, _, err := run(t, c, "promote", "web", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if out != "rollout 'web' promoted\n" {
		t.Fatalf("printed %q", out)
	}
	got := getRollout(t, c, "web")
	if len(got.Status.PauseConditions) != 0 {
		t.Fatalf("pause conditions %v left", got.Status.PauseConditions)
	}
	// Only the conditions go; the controller tells a cleared list from no
	// pause by controllerPause, and the step stays for it to advance.
	if !got.Status.ControllerPause || *got.Status.CurrentStepIndex != 1 {
		t.Fatalf("controllerPause %v, step %d changed", got.Status.ControllerPause, *got.Status.CurrentStepIndex)
	}
}

func TestPromoteUnpausesSpecAndStatus(t *testing.T) {
	ro := blueGreen("web")
	ro.Spec.Paused = true
	c := newClient(t, ro)
	if _, _, err := run(t, c, "promote", "web", "-n", ns); err != nil {
		t.Fatal(err)
	}
	got := getRollout(t, c, "web")
	if got.Spec.Paused || len(got.Status.PauseConditions) != 0 {
		t.Fatalf("paused %v, conditions %v after promote", got.Spec.Paused, got.Status.PauseConditions)
	}
}

func TestPromoteSkipsAnalysisStep(t *testing.T) {
	c := newClient(t, canary("web", 2))
	if _, _, err := run(t, c, "promote", "web", "-n", ns); err != nil {
		t.Fatal(err)
	}
	if got := getRollout(t, c, "web"); *got.Status.CurrentStepIndex != 3 {
		t.Fatalf("step %d, want 3", *got.Status.CurrentStepIndex)
	}
}

func TestPromoteFull(t *testing.T) {
	ro := canary("web", 1)
	ro.Spec.Paused = true
	c := newClient(t, ro)
	out, errOut, err := run(t, c, "promote", "web", "--full", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if out != "rollout 'web' fully promoted\n" || !strings.Contains(errOut, `rollout "web" is still paused by spec.paused`) {
		t.Fatalf("printed %q and %q", out, errOut)
	}
	if got := getRollout(t, c, "web"); !got.Status.PromoteFull || !got.Spec.Paused {
		t.Fatalf("promoteFull %v, paused %v: --full sets only promoteFull", got.Status.PromoteFull, got.Spec.Paused)
	}
}

func TestPromoteNothing(t *testing.T) {
	c := newClient(t, healthy(canary("web", 0)))
	_, _, err := run(t, c, "promote", "web", "-n", ns)
	if err == nil || !strings.HasPrefix(err.Error(), `nothing to promote: rollout "web"`) {
		t.Fatalf("promoting a healthy rollout gave %v", err)
	}
}

func TestAbortRetryPause(t *testing.T) {
	c := newClient(t, canary("web", 1), canary("api", 1))
	out, _, err := run(t, c, "abort", "web", "api", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if out != "rollout 'web' aborted\nrollout 'api' aborted\n" {
		t.Fatalf("printed %q", out)
	}
	if !getRollout(t, c, "web").Status.Abort || !getRollout(t, c, "api").Status.Abort {
		t.Fatal("abort did not set status.abort")
	}
	if out, _, err = run(t, c, "retry", "rollout", "web", "-n", ns); err != nil || out != "rollout 'web' retried\n" {
		t.Fatalf("retry: %q, %v", out, err)
	}
	if getRollout(t, c, "web").Status.Abort || !getRollout(t, c, "api").Status.Abort {
		t.Fatal("retry rollout web did not clear status.abort of web alone")
	}
	if out, _, err = run(t, c, "pause", "web", "-n", ns); err != nil || out != "rollout 'web' paused\n" {
		t.Fatalf("pause: %q, %v", out, err)
	}
	if !getRollout(t, c, "web").Spec.Paused {
		t.Fatal("pause did not set spec.paused")
	}
}

func TestNotFoundNamesRolloutAndNamespace(t *testing.T) {
	c := newClient(t)
	want := `rollout "nope" not found in namespace "shop"`
	for _, args := range [][]string{
		{"promote", "nope"}, {"abort", "nope"}, {"retry", "rollout", "nope"}, {"pause", "nope"},
		{"restart", "nope"}, {"set", "image", "nope", "app=x:1"}, {"undo", "nope"}, {"status", "nope"},
	} {
		_, _, err := run(t, c, append(args, "-n", ns)...)
		if err == nil || err.Error() != want {
			t.Errorf("%v: error %v, want %q", args, err, want)
		}
		if !apierrors.IsNotFound(err) {
			t.Errorf("%v: the API error is not kept under the message", args)
		}
	}
	_, _, err := run(t, c, "terminate", "analysisrun", "run-1", "-n", ns)
	if err == nil || err.Error() != `analysisrun "run-1" not found in namespace "shop"` {
		t.Errorf("terminate analysisrun: %v", err)
	}
}

func TestDefaultNamespace(t *testing.T) {
	ro := canary("web", 1)
	ro.Namespace = "default"
	c := newClient(t, ro)
	if _, _, err := run(t, c, "abort", "web"); err != nil {
		t.Fatalf("without -n the kubeconfig's namespace (default) is used: %v", err)
	}
}

func TestForbiddenSaysWhatIsNotAllowed(t *testing.T) {
	deny := interceptor.Funcs{
		SubResourcePatch: func(_ context.Context, _ client.Client, sub string, obj client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
			return apierrors.NewForbidden(schema.GroupResource{Group: "argoproj.io", Resource: "rollouts/" + sub}, obj.GetName(),
				errors.New(`User "dev" cannot patch resource "rollouts/status"`))
		},
	}
	c := newClientWith(t, deny, canary("web", 1))
	_, _, err := run(t, c, "abort", "web", "-n", ns)
	want := `not allowed to patch rollouts/status in namespace "shop": ask a cluster administrator for RBAC permission to "patch" "rollouts/status" in API group "argoproj.io"`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !apierrors.IsForbidden(err) {
		t.Fatalf("error %v, want it to start with %q", err, want)
	}
}

func TestRestart(t *testing.T) {
	c := newClient(t, canary("web", 1))
	before := time.Now().Truncate(time.Second)
	out, _, err := run(t, c, "restart", "web", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if out != "rollout 'web' restarts in 0s\n" {
		t.Fatalf("printed %q", out)
	}
	at := getRollout(t, c, "web").Spec.RestartAt
	if at == nil || at.Time.Before(before) || at.Time.After(time.Now()) {
		t.Fatalf("restartAt %v, want now", at)
	}
	if _, _, err := run(t, c, "restart", "web", "--in", "1h", "-n", ns); err != nil {
		t.Fatal(err)
	}
	at = getRollout(t, c, "web").Spec.RestartAt
	if d := time.Until(at.Time); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("restartAt in %s, want 1h", d)
	}
	if _, _, err := run(t, c, "restart", "web", "--in", "-5m", "-n", ns); err == nil || !strings.Contains(err.Error(), "--in must not be negative") {
		t.Fatalf("a negative --in gave %v", err)
	}
}
