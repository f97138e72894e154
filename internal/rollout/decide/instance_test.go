package decide

import (
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// TestRunsCarryTheRolloutsInstance checks that an AnalysisRun of a Rollout
// labelled for a controller instance carries the same label, so that
// instance, whose caches hold only its own objects, runs it and sees it.
func TestRunsCarryTheRolloutsInstance(t *testing.T) {
	for _, id := range []string{"a", ""} {
		s := newManualGatesSim(t)
		if id != "" {
			s.ro.Labels = map[string]string{v1alpha1.LabelKeyControllerInstanceID: id}
		}
		s.templates.Templates["smoke"] = webTemplate("smoke")
		s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: analysisRef("smoke")}}
		s.settle()
		s.setImage("rails:6.1")
		s.settle()
		run := s.runOf(v1alpha1.RolloutTypeStepLabel)
		got, ok := run.Labels[v1alpha1.LabelKeyControllerInstanceID]
		if got != id || ok != (id != "") {
			t.Fatalf("Rollout of instance %q made a run labelled %v", id, run.Labels)
		}
	}
}

// TestRunsCarryTheRolloutsShardBucket checks that an AnalysisRun of a
// sharded Rollout carries its bucket, so the replica holding the Rollout's
// shard caches the run from its first watch event.
func TestRunsCarryTheRolloutsShardBucket(t *testing.T) {
	for _, bucket := range []string{"17", ""} {
		s := newManualGatesSim(t)
		if bucket != "" {
			s.ro.Labels = map[string]string{shard.LabelBucket: bucket}
		}
		s.templates.Templates["smoke"] = webTemplate("smoke")
		s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: analysisRef("smoke")}}
		s.settle()
		s.setImage("rails:6.1")
		s.settle()
		run := s.runOf(v1alpha1.RolloutTypeStepLabel)
		got, ok := run.Labels[shard.LabelBucket]
		if got != bucket || ok != (bucket != "") {
			t.Fatalf("Rollout in bucket %q made a run labelled %v", bucket, run.Labels)
		}
	}
}

// TestReplicaSetsCarryTheShardBucketOnlyWithShards checks that with shards
// a new ReplicaSet and its Pods carry the Rollout's bucket, so only the
// replica holding the shard caches them, that the label never changes the
// pod-template hash (no new revision, no restart) when sharding is turned on
// or off for a running Rollout, and that without shards no ReplicaSet or Pod
// carries it, even for a Rollout that kept a bucket label from an earlier
// sharded run.
func TestReplicaSetsCarryTheShardBucketOnlyWithShards(t *testing.T) {
	for _, bucket := range []string{"17", ""} {
		s := newManualGatesSim(t)
		s.ro.Labels = map[string]string{shard.LabelBucket: "17"}
		s.shardBucket = bucket
		s.settle()
		stableHash := s.hashOf("rails:6.0")
		if len(s.rs) != 1 || s.rsByHash(stableHash) == nil {
			t.Fatalf("bucket %q: want one ReplicaSet named by the template's hash %s, got %d", bucket, stableHash, len(s.rs))
		}
		s.setImage("rails:6.1")
		s.settle()
		for _, rs := range s.rs {
			got, ok := rs.Labels[shard.LabelBucket]
			tgot, tok := rs.Spec.Template.Labels[shard.LabelBucket]
			if got != bucket || ok != (bucket != "") || tgot != bucket || tok != (bucket != "") {
				t.Fatalf("bucket %q: ReplicaSet %s labelled %v, template %v", bucket, rs.Name, rs.Labels, rs.Spec.Template.Labels)
			}
			if _, inSel := rs.Spec.Selector.MatchLabels[shard.LabelBucket]; inSel {
				t.Fatalf("bucket %q: ReplicaSet %s selects on the bucket: %v", bucket, rs.Name, rs.Spec.Selector)
			}
		}
		if len(s.pods) == 0 {
			t.Fatalf("bucket %q: the release left no Pods to check", bucket)
		}
		for _, p := range s.pods {
			if got := p.Labels[shard.LabelBucket]; got != bucket {
				t.Fatalf("bucket %q: Pod %s labelled %v", bucket, p.Name, p.Labels)
			}
		}
		// Flip sharding for the running Rollout: same ReplicaSets, same
		// Pods, no new revision.
		names := map[string]bool{}
		for n := range s.rs {
			names[n] = true
		}
		pods := len(s.pods)
		if bucket == "" {
			s.shardBucket = "17"
		} else {
			s.shardBucket = ""
		}
		s.settle()
		if len(s.rs) != len(names) || len(s.pods) != pods {
			t.Fatalf("bucket %q: turning shards over changed ReplicaSets %d -> %d, Pods %d -> %d", bucket, len(names), len(s.rs), pods, len(s.pods))
		}
		for n := range s.rs {
			if !names[n] {
				t.Fatalf("bucket %q: turning shards over made ReplicaSet %s", bucket, n)
			}
		}
	}
}
