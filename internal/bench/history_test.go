package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestCommandRevisionHistoryLimitFlag(t *testing.T) {
	if got := NewCommand().Flags().Lookup("revision-history-limit").DefValue; got != "-1" {
		t.Errorf("--revision-history-limit defaults to %s, want -1 (unset)", got)
	}
	for _, tc := range []struct {
		in   int
		want *int32
		err  bool
	}{
		{in: -1},
		{in: 0, want: ptr(int32(0))},
		{in: 2, want: ptr(int32(2))},
		{in: -2, err: true},
		{in: 1 << 31, err: true},
	} {
		got, err := historyLimit(tc.in)
		switch {
		case tc.err != (err != nil):
			t.Errorf("historyLimit(%d): err = %v, want an error: %v", tc.in, err, tc.err)
		case (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want:
			t.Errorf("historyLimit(%d) = %v, want %v", tc.in, got, tc.want)
		}
	}
	// A bad value is refused before the kubeconfig is read.
	wantRefused(t, []string{"--revision-history-limit", "-3"}, "--revision-history-limit must be -1")
	if _, err := (Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, RevisionHistoryLimit: ptr(int32(-1))}).withDefaults(); err == nil {
		t.Error("a negative revisionHistoryLimit in the Config was accepted")
	}
	if !strings.Contains(NewCommand().Long, "--revision-history-limit") {
		t.Error("the long help does not explain --revision-history-limit")
	}
}

func TestObjectsCarryRevisionHistoryLimit(t *testing.T) {
	cfg := Config{Scenario: ScenarioCanary, Namespace: "bench", Rollouts: 2, Replicas: 3, Image: "a"}
	if ro, d := rollout(cfg, "r"), deployment(cfg, "d"); ro.Spec.RevisionHistoryLimit != nil || d.Spec.RevisionHistoryLimit != nil {
		t.Errorf("without the flag: Rollout %v, Deployment %v, want both unset", ro.Spec.RevisionHistoryLimit, d.Spec.RevisionHistoryLimit)
	}
	cfg.RevisionHistoryLimit = ptr(int32(2))
	a, b, d := rollout(cfg, "a"), rollout(cfg, "b"), deployment(cfg, "d")
	for what, got := range map[string]*int32{"Rollout": a.Spec.RevisionHistoryLimit, "Deployment": d.Spec.RevisionHistoryLimit} {
		if got == nil || *got != 2 {
			t.Errorf("%s revisionHistoryLimit %v, want 2", what, got)
		}
	}
	if *d.Spec.Replicas != 3 || d.Namespace != "bench" || d.Spec.Template.Spec.Containers[0].Image != "a" {
		t.Errorf("deployment %+v", d.Spec)
	}
	// Each object has a value of its own.
	*a.Spec.RevisionHistoryLimit = 7
	if *b.Spec.RevisionHistoryLimit != 2 || *cfg.RevisionHistoryLimit != 2 {
		t.Error("the Rollouts share one revisionHistoryLimit")
	}
}

func TestRunCreatesRolloutsWithRevisionHistoryLimit(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 2, Replicas: 1, RevisionHistoryLimit: ptr(int32(1))})
	if _, err := h.runner.Run(context.Background()); err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	var ros v1alpha1.RolloutList
	if err := h.c.List(context.Background(), &ros); err != nil {
		t.Fatal(err)
	}
	if len(ros.Items) != 2 {
		t.Fatalf("%d Rollouts, want 2", len(ros.Items))
	}
	for _, ro := range ros.Items {
		if l := ro.Spec.RevisionHistoryLimit; l == nil || *l != 1 {
			t.Errorf("Rollout %s: revisionHistoryLimit %v, want 1", ro.Name, l)
		}
	}
}
