package analysis

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/job"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// TestJobCacheSelectsTheHeldShards checks that the Job cache holds only
// analysis Jobs, and with shards only those of the held shards' buckets.
func TestJobCacheSelectsTheHeldShards(t *testing.T) {
	held, err := shard.Selector([]int{1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	selectorOf := func(shardSel *labels.Requirement) labels.Selector {
		t.Helper()
		byObject, err := CacheObjects(shardSel)
		if err != nil {
			t.Fatal(err)
		}
		for obj, cfg := range byObject {
			if _, ok := obj.(*batchv1.Job); ok {
				return cfg.Label
			}
		}
		t.Fatal("no Job cache selector")
		return nil
	}
	analysisJob := func(bucket string) labels.Set {
		s := labels.Set{job.LabelRunUID: "uid"}
		if bucket != "" {
			s[shard.LabelBucket] = bucket
		}
		return s
	}
	for _, c := range []struct {
		what     string
		shardSel *labels.Requirement
		set      labels.Set
		want     bool
	}{
		{"unsharded: an analysis Job", nil, analysisJob(""), true},
		{"unsharded: a labelled analysis Job", nil, analysisJob("4"), true},
		{"unsharded: another Job", nil, labels.Set{"app": "batch"}, false},
		{"sharded: a Job of a held bucket", &held, analysisJob("5"), true},
		{"sharded: a Job of another shard's bucket", &held, analysisJob("4"), false},
		{"sharded: an unlabelled analysis Job", &held, analysisJob(""), false},
		{"sharded: another Job of a held bucket", &held, labels.Set{shard.LabelBucket: "5"}, false},
	} {
		if got := selectorOf(c.shardSel).Matches(c.set); got != c.want {
			t.Errorf("%s: cached %v, want %v", c.what, got, c.want)
		}
	}
}
