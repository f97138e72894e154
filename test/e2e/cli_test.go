package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// kanaria runs the kanaria binary's user commands against the test cluster
// and returns its output and exit code.
func kanaria(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildKanaria(t), append(args, "--kubeconfig", cluster.KubeconfigPath())...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	default:
		t.Fatalf("kanaria %s: %v", strings.Join(args, " "), err)
		return "", -1
	}
}

func mustKanaria(t *testing.T, args ...string) string {
	t.Helper()
	out, code := kanaria(t, args...)
	if code != 0 {
		t.Fatalf("kanaria %s exited %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// TestCommandsDriveARollout walks canary-manual-gates.yaml with the user
// commands only and checks each command's effect on the cluster.
func TestCommandsDriveARollout(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "cli")
	runController(t, ns)
	applySeed(t, ns, "canary-manual-gates.yaml")
	v1 := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS

	out, code := kanaria(t, "status", "rails", "-n", ns)
	if code != 0 || !strings.Contains(out, "Healthy") {
		t.Fatalf("status of a Healthy rollout: exit %d\n%s", code, out)
	}
	mustKanaria(t, "set", "image", "rails", "rails=registry.example/rails:7.0", "-n", ns)
	ro := waitRollout(t, c, ns, "rails", "paused at the first step", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused))
	if img := ro.Spec.Template.Spec.Containers[0].Image; img != "registry.example/rails:7.0" {
		t.Fatalf("set image left %q", img)
	}
	v2 := ro.Status.CurrentPodHash

	tree := mustKanaria(t, "get", "rollout", "rails", "-n", ns, "--no-color")
	for _, want := range []string{"Paused", "Step:", "1/4", "registry.example/rails:7.0 (canary)", "registry.example/rails:6.0 (stable)", "rails-" + v2, "rails-" + v1} {
		if !strings.Contains(tree, want) {
			t.Errorf("get rollout does not show %q:\n%s", want, tree)
		}
	}
	list := mustKanaria(t, "list", "rollouts", "-n", ns)
	if !strings.Contains(list, "rails") || !strings.Contains(list, "Paused") {
		t.Errorf("list rollouts:\n%s", list)
	}

	mustKanaria(t, "promote", "rails", "-n", ns)
	waitRollout(t, c, ns, "rails", "the timed pause after promote", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	mustKanaria(t, "abort", "rails", "-n", ns)
	waitRollout(t, c, ns, "rails", "Degraded after abort", time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
	if out, code := kanaria(t, "status", "rails", "-n", ns); code == 0 {
		t.Errorf("status of an aborted rollout exited 0:\n%s", out)
	}
	mustKanaria(t, "retry", "rollout", "rails", "-n", ns)
	waitRollout(t, c, ns, "rails", "paused at the first step again", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1 && !ro.Status.Abort
	})
	mustKanaria(t, "promote", "rails", "--full", "-n", ns)
	waitRollout(t, c, ns, "rails", "Healthy on 7.0", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	out, code = kanaria(t, "status", "rails", "-n", ns, "-w", "--timeout", "30s")
	if code != 0 {
		t.Errorf("status -w of a Healthy rollout exited %d:\n%s", code, out)
	}

	mustKanaria(t, "pause", "rails", "-n", ns)
	if ro := getRollout(t, c, ns, "rails"); !ro.Spec.Paused {
		t.Error("pause did not set spec.paused")
	}
	mustKanaria(t, "promote", "rails", "-n", ns)
	if ro := getRollout(t, c, ns, "rails"); ro.Spec.Paused {
		t.Error("promote did not clear spec.paused")
	}
	mustKanaria(t, "restart", "rails", "-n", ns)
	waitRollout(t, c, ns, "rails", "the restart to finish", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Spec.RestartAt != nil && ro.Status.RestartedAt != nil && !ro.Status.RestartedAt.Before(ro.Spec.RestartAt)
	})
	// As in Argo Rollouts, the restart is recorded in status.restartedAt
	// only, with no Event.
	for _, e := range eventsOf(t, c, ns, "rails") {
		if strings.HasPrefix(e, "RolloutRestarted:") || strings.HasPrefix(e, "RestartingPod:") {
			t.Errorf("the restart wrote an Event the reference does not: %s", e)
		}
	}

	mustKanaria(t, "undo", "rails", "-n", ns)
	ro = waitRollout(t, c, ns, "rails", "the undo to start revision 3 from 6.0", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Spec.Template.Spec.Containers[0].Image == "registry.example/rails:6.0"
	})
	if _, ok := ro.Spec.Template.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]; ok {
		t.Error("undo copied the pod-template hash label into the spec")
	}
}

// TestCommandsForAnalysisRuns creates a run from a template with an
// argument, terminates it, and checks the errors a user sees.
func TestCommandsForAnalysisRuns(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "cli-ar")
	runController(t, ns)
	target := newWebTarget(t)
	applyYAML(t, ns, `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: ping}
spec:
  args: [{name: path}]
  metrics:
  - name: ping
    interval: 1s
    successCondition: result.ok == true
    provider: {web: {url: "`+target.URL+`/{{args.path}}"}}
`)
	out, code := kanaria(t, "create", "analysisrun", "--from", "ping", "-n", ns, "--name", "no-arg")
	if code == 0 || !strings.Contains(out, "path") {
		t.Errorf("create without the required argument: exit %d\n%s", code, out)
	}
	mustKanaria(t, "create", "analysisrun", "--from", "ping", "--argument", "path=ok", "--name", "ping-1", "-n", ns)
	eventually(t, time.Minute, "the run to measure", func() (bool, error) { return target.count("/ok") >= 2, nil })
	mustKanaria(t, "terminate", "analysisrun", "ping-1", "-n", ns)
	run := waitRun(t, c, ns, "ping-1", time.Minute)
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || !run.Spec.Terminate {
		t.Errorf("terminated run: phase %s terminate %v", run.Status.Phase, run.Spec.Terminate)
	}
	out, code = kanaria(t, "promote", "nope", "-n", ns)
	if code == 0 || !strings.Contains(out, `"nope" not found`) {
		t.Errorf("promote of a missing rollout: exit %d\n%s", code, out)
	}
}
