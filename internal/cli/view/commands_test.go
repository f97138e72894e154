package view

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// syncBuffer is a bytes.Buffer safe for the watch goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newRoot wires the view commands to c the way root.go will, with the
// fixed test clock; the namespace is -n or "shop".
func newRoot(c client.WithWatch, out, errOut *syncBuffer, args ...string) *cobra.Command {
	root := &cobra.Command{Use: "kanaria", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(NewCommands(Options{
		NewClient: func(f *KubeFlags) (client.WithWatch, string, error) {
			if f.Namespace != "" {
				return c, f.Namespace, nil
			}
			return c, ns, nil
		},
		Now: func() time.Time { return now },
	})...)
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs(args)
	return root
}

func run(t *testing.T, c client.WithWatch, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut syncBuffer
	err := newRoot(c, &out, &errOut, args...).ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func listedRollouts() []client.Object {
	canary := rollout("checkout", rolloutUID)
	bg := rollout("payments", "uid-payments")
	bg.Namespace = "billing"
	bg.Spec.Replicas = i32(3)
	bg.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "payments"}}
	bg.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseHealthy, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	fresh := rollout("search", "uid-search")
	fresh.Status = v1alpha1.RolloutStatus{} // not seen by the controller yet
	return []client.Object{canary, bg, fresh}
}

func TestListRollouts(t *testing.T) {
	c := fakeClient(t, listedRollouts()...)
	out, _, err := run(t, c, "list", "rollouts")
	if err != nil {
		t.Fatal(err)
	}
	// search has no status yet: the read model shows it as Progressing.
	want := `NAME       STRATEGY   STATUS        STEP   SET-WEIGHT   READY   DESIRED   UP-TO-DATE   AVAILABLE
checkout   Canary     Paused        1/4    20           6/6     5         1            6
search     Canary     Progressing   0/4    20           0/0     5         0            0
`
	if out != want {
		t.Errorf("list rollouts:\n%s\nwant:\n%s", out, want)
	}

	out, _, err = run(t, c, "list", "ro", "-A")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "list-rollouts-all-namespaces", []byte(out))
}

func TestListRolloutsEmpty(t *testing.T) {
	out, errOut, err := run(t, fakeClient(t), "list", "rollouts", "-n", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if out != "" || !strings.Contains(errOut, `No rollouts found in namespace "staging" (use -n to pick another, or -A for all).`) {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
}

func TestListExperiments(t *testing.T) {
	running := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout-exp", Namespace: ns, CreationTimestamp: metaAt(10 * time.Minute)},
		Spec:       v1alpha1.ExperimentSpec{Duration: "30m"},
		Status:     v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseRunning, AvailableAt: &metav1.Time{Time: ago(8 * time.Minute)}},
	}
	done := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout-old-exp", Namespace: ns, CreationTimestamp: metaAt(3 * time.Hour)},
		Spec:       v1alpha1.ExperimentSpec{Duration: "1h"},
		Status:     v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseSuccessful, AvailableAt: &metav1.Time{Time: ago(170 * time.Minute)}},
	}
	open := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: "manual", Namespace: ns, CreationTimestamp: metaAt(time.Minute)}}
	out, _, err := run(t, fakeClient(t, running, done, open), "list", "experiments")
	if err != nil {
		t.Fatal(err)
	}
	want := `NAME               STATUS       DURATION   REMAINING   AGE
checkout-exp       Running      30m        22m         10m
checkout-old-exp   Successful   1h         -           3h
manual             Pending      -          -           60s
`
	if out != want {
		t.Errorf("list experiments:\n%s\nwant:\n%s", out, want)
	}
}

func TestGetRolloutCommand(t *testing.T) {
	c := fakeClient(t, canaryObjects()...)
	out, _, err := run(t, c, "get", "rollout", "checkout")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Name:          checkout", "Step:          1/4", "app:2 (canary)", "revision 2", "Experiment checkout-new-2-3", "Job smoke.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestGetRolloutErrors(t *testing.T) {
	c := fakeClient(t, canaryObjects()...)
	_, _, err := run(t, c, "get", "rollout", "checkout", "-n", "staging")
	if err == nil || err.Error() != `rollout "checkout" not found in namespace "staging" (use -n to pick the namespace)` {
		t.Errorf("wrong namespace: %v", err)
	}
	_, _, err = run(t, c, "get", "rollout")
	if err == nil || !strings.Contains(err.Error(), "kanaria list rollouts") {
		t.Errorf("missing name: %v", err)
	}
	_, _, err = run(t, c, "get", "experiment", "nope")
	if err == nil || !strings.Contains(err.Error(), `experiment "nope" not found in namespace "shop"`) {
		t.Errorf("missing experiment: %v", err)
	}
}

func TestGetRolloutWatch(t *testing.T) {
	c := fakeClient(t, canaryObjects()...)
	var out, errOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- newRoot(c, &out, &errOut, "get", "rollout", "checkout", "-w").ExecuteContext(ctx)
	}()

	waitFor(t, "the first frame", func() bool { return strings.Count(out.String(), "Name:") == 1 })
	// Nothing changes, so nothing is redrawn: frames come from watch events,
	// not from a timer.
	time.Sleep(3 * settleDelay)
	if n := strings.Count(out.String(), "Name:"); n != 1 {
		t.Fatalf("%d frames without any change:\n%s", n, out.String())
	}

	var ro v1alpha1.Rollout
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout"}, &ro); err != nil {
		t.Fatal(err)
	}
	ro.Status.Phase, ro.Status.Message = v1alpha1.RolloutPhaseProgressing, "more replicas need to be updated"
	ro.Status.CurrentStepIndex = i32(2)
	if err := c.Update(ctx, &ro); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a second frame", func() bool { return strings.Count(out.String(), "Name:") == 2 })
	frames := strings.SplitAfter(out.String(), "\n\nName:")
	second := frames[len(frames)-1]
	for _, want := range []string{"◌ Progressing", "more replicas need to be updated", "Step:          2/4", "SetWeight:     60"} {
		if !strings.Contains(second, want) {
			t.Errorf("second frame lacks %q:\n%s", want, second)
		}
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("cursor or colour codes written to a non-terminal:\n%q", out.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch ended with %v, want nil on cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop after the context was cancelled")
	}
}

func TestScreenRedrawsInPlaceOnTerminal(t *testing.T) {
	var b bytes.Buffer
	s := &screen{w: &b, tty: true, width: func() int { return 10 }}
	if err := s.show("one\ntwo\n"); err != nil {
		t.Fatal(err)
	}
	// 15 visible columns wrap to 2 rows at width 10; colour codes take none.
	if err := s.show("\x1b[32m" + strings.Repeat("x", 15) + "\x1b[0m\n"); err != nil {
		t.Fatal(err)
	}
	if err := s.show("three\n"); err != nil {
		t.Fatal(err)
	}
	want := "one\ntwo\n" + "\r\x1b[2A\x1b[J" + "\x1b[32m" + strings.Repeat("x", 15) + "\x1b[0m\n" + "\r\x1b[2A\x1b[J" + "three\n"
	if b.String() != want {
		t.Errorf("screen wrote %q, want %q", b.String(), want)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
