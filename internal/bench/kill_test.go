package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestCommandKillFlags checks the fail-over mode's flags: off by default,
// parsed when given, and a kill the run could not carry out refused before
// the cluster is touched.
func TestCommandKillFlags(t *testing.T) {
	cmd := NewCommand()
	if got := cmd.Flags().Lookup("kill-replica").DefValue; got != "-1" {
		t.Errorf("--kill-replica defaults to %s, want -1 (none)", got)
	}
	if got := cmd.Flags().Lookup("update").DefValue; got != "true" {
		t.Errorf("--update defaults to %s, want true", got)
	}
	if err := cmd.ParseFlags([]string{"--controller-replicas", "4", "--shards", "4", "--kill-replica", "2", "--kill-after", "20s"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"kill-replica": "2", "kill-after": "20s"} {
		if got := cmd.Flags().Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kill-replica", "0", "--kill-after", "5s"}, "at least 2"},
		{[]string{"--controller-replicas", "1", "--kill-replica", "0", "--kill-after", "5s"}, "at least 2"},
		{[]string{"--controller-replicas", "2", "--shards", "2", "--kill-replica", "2", "--kill-after", "5s"}, "numbered 0 to 1"},
		{[]string{"--controller-replicas", "2", "--shards", "2", "--kill-replica", "1"}, "positive --kill-after"},
		{[]string{"--kill-after", "5s"}, "needs --kill-replica"},
		{[]string{"--controller-replicas", "2", "--shards", "2", "--kill-replica", "1", "--kill-after", "5s", "--scenario", "abort"}, "does not run"},
		{[]string{"--controller-replicas", "2", "--shards", "2", "--kill-replica", "1", "--kill-after", "5s", "--update=false"}, "skips"},
	} {
		wantRefused(t, tc.args, tc.want)
	}
}

// TestObjectsPerRollout checks the fail-over check's counts: a Rollout with
// a third ReplicaSet stands out, objects of other owners do not count, and
// a Rollout without any shows as zero.
func TestObjectsPerRollout(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	yes := true
	owned := func(kind, owner string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: kind, Name: owner, UID: types.UID("u-" + owner), Controller: &yes}}
	}
	rs := func(name, owner, kind string) client.Object {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: name, OwnerReferences: owned(kind, owner),
			Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: name}}}
	}
	run := func(name, owner string) client.Object {
		return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: name, OwnerReferences: owned("Rollout", owner)}}
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		rs("a-1", "a", "Rollout"), rs("a-2", "a", "Rollout"),
		rs("b-1", "b", "Rollout"), rs("b-2", "b", "Rollout"), rs("b-3", "b", "Rollout"),
		rs("x-1", "a", "Experiment"),
		run("a-r", "a"), run("b-r", "b"),
	).Build()
	gotRS, gotRuns, err := ObjectsPerRollout(context.Background(), c, "b", []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "0 for 1 Rollouts, 2 for 1 Rollouts, 3 for 1 Rollouts"; describeCounts(gotRS) != want {
		t.Errorf("ReplicaSets per Rollout: %s, want %s", describeCounts(gotRS), want)
	}
	if want := "0 for 1 Rollouts, 1 for 2 Rollouts"; describeCounts(gotRuns) != want {
		t.Errorf("AnalysisRuns per Rollout: %s, want %s", describeCounts(gotRuns), want)
	}
}

// TestKillDuringUpdateWaitsForItsTime checks that a kill planned after the
// update phase has ended is not carried out.
func TestKillDuringUpdateWaitsForItsTime(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &Replicas{}
	notes := killDuringUpdate(ctx, r, nil, KillOptions{Replica: 0, After: time.Hour})
	if len(notes) != 1 || !strings.Contains(notes[0], "not killed") || r.isKilled(0) {
		t.Errorf("notes %v, killed %v", notes, r.isKilled(0))
	}
}
