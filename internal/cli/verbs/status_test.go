package verbs

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestStatusOnce(t *testing.T) {
	degraded := canary("degraded", 1)
	degraded.Status.Abort = true
	degraded.Status.Phase, degraded.Status.Message = v1alpha1.RolloutPhaseDegraded, "RolloutAborted: Rollout aborted update to revision 2"
	aborting := canary("aborting", 1)
	aborting.Status.Abort = true
	stale := canary("stale", 1)
	stale.Generation = 3
	paused := canary("paused", 1)
	paused.Status.Phase, paused.Status.Message = v1alpha1.RolloutPhasePaused, "CanaryPauseStep"
	c := newClient(t, healthy(canary("ok", 0)), degraded, aborting, stale, paused)
	cases := []struct {
		name, line string
		code       int
	}{
		{"ok", "Healthy", 0},
		{"degraded", "Degraded - RolloutAborted: Rollout aborted update to revision 2", ExitDegraded},
		{"aborting", "Degraded - aborted (status.abort is set)", ExitDegraded},
		{"stale", "Progressing - waiting for the controller to observe generation 3", 0},
		{"paused", "Paused - CanaryPauseStep", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := run(t, c, "status", tc.name, "-n", ns)
			if out != tc.line+"\n" {
				t.Fatalf("printed %q, want %q", out, tc.line)
			}
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, tc.code)
			}
			if tc.code == ExitDegraded && !strings.Contains(err.Error(), `rollout "`+tc.name+`" is degraded`) {
				t.Fatalf("error %q", err)
			}
		})
	}
}

// setStatus writes status fields of the Rollout as the controller would.
func setStatus(t *testing.T, c client.Client, name string, change func(*v1alpha1.Rollout)) {
	t.Helper()
	ro := getRollout(t, c, name)
	change(ro)
	if err := c.Status().Update(context.Background(), ro); err != nil {
		t.Error(err)
	}
}

// watchStatus runs status -w in the background and returns its output
// buffer and a channel with its result.
func watchStatus(t *testing.T, c client.WithWatch, args ...string) (*syncBuffer, <-chan error) {
	t.Helper()
	var out, errOut syncBuffer
	r := root(t, c, &out, &errOut)
	r.SetArgs(append([]string{"status", "-w", "-n", ns}, args...))
	done := make(chan error, 1)
	go func() { done <- r.ExecuteContext(context.Background()) }()
	return &out, done
}

// untilPrinted makes changes to the Rollout until out shows want, so the
// test does not depend on when the command's watch starts; it fails the test
// if the command returns first.
func untilPrinted(t *testing.T, out *syncBuffer, done <-chan error, want string, change func(i int)) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for i := 0; !strings.Contains(out.String(), want); i++ {
		change(i)
		select {
		case err := <-done:
			t.Fatalf("status returned %v before printing %q; printed %q", err, want, out.String())
		case <-deadline:
			t.Fatalf("status did not print %q; printed %q", want, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestStatusWatchUntilHealthy(t *testing.T) {
	ro := canary("web", 1)
	ro.Generation = 3 // a new spec the controller has not seen yet
	c := newClient(t, ro)
	out, done := watchStatus(t, c, "web", "--timeout", "1m")
	untilPrinted(t, out, done, "generation 3", func(int) {})
	untilPrinted(t, out, done, "Paused - CanaryPauseStep", func(i int) {
		setStatus(t, c, "web", func(ro *v1alpha1.Rollout) {
			ro.Status.ObservedGeneration = "3"
			ro.Status.Phase = v1alpha1.RolloutPhasePaused
			// A new resourceVersion each time, so every write is an event.
			ro.Status.Message = "CanaryPauseStep"
			ro.Status.CurrentStepIndex = ptr(int32(1 + i%2))
		})
	})
	setStatus(t, c, "web", func(ro *v1alpha1.Rollout) { healthy(ro) })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("status -w of a Healthy rollout: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("status -w did not return once the rollout was Healthy")
	}
	want := "Progressing - waiting for the controller to observe generation 3\nPaused - CanaryPauseStep\nHealthy\n"
	if out.String() != want {
		t.Fatalf("printed %q, want %q (each line once)", out.String(), want)
	}
}

func TestStatusWatchUntilDegraded(t *testing.T) {
	c := newClient(t, canary("web", 1))
	out, done := watchStatus(t, c, "web")
	untilPrinted(t, out, done, "Progressing - waiting for all steps", func(int) {})
	untilPrinted(t, out, done, "Progressing - step", func(i int) {
		setStatus(t, c, "web", func(ro *v1alpha1.Rollout) {
			ro.Status.Message = "step " + string(rune('a'+i%26))
		})
	})
	setStatus(t, c, "web", func(ro *v1alpha1.Rollout) {
		ro.Status.Phase, ro.Status.Message = v1alpha1.RolloutPhaseDegraded, "ProgressDeadlineExceeded: too slow"
	})
	select {
	case err := <-done:
		if exitCode(err) != ExitDegraded {
			t.Fatalf("status -w of a Degraded rollout: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("status -w did not return once the rollout was Degraded")
	}
	if !strings.HasSuffix(out.String(), "Degraded - ProgressDeadlineExceeded: too slow\n") {
		t.Fatalf("printed %q", out.String())
	}
}

func TestStatusWatchTimeout(t *testing.T) {
	c := newClient(t, canary("web", 1))
	start := time.Now()
	out, _, err := run(t, c, "status", "web", "-w", "--timeout", "200ms", "-n", ns)
	if exitCode(err) != ExitTimeout {
		t.Fatalf("exit code %d (%v), want %d", exitCode(err), err, ExitTimeout)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the timeout was not honoured")
	}
	want := `rollout "web" was neither Healthy nor Degraded after 200ms (last status: Progressing - waiting for all steps to complete)`
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want %q", err, want)
	}
	if out != "Progressing - waiting for all steps to complete\n" {
		t.Fatalf("printed %q", out)
	}
}
