// Package shard splits Rollouts, their AnalysisRuns and Experiments across
// controller replicas. Every object carries a bucket label whose value is a
// pure function of its Rollout's namespace and name; shard k of N owns the
// buckets b with b mod N == k, so changing N never relabels anything. Each
// shard is held through its own coordination.k8s.io Lease, and a replica's
// caches select only the buckets of the shards it holds.
package shard

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// LabelBucket records an object's bucket. It is Kanaria's own label, never
// an argoproj.io field, so Argo Rollouts ignores it.
const LabelBucket = "rollouts.kanaria.dev/shard-bucket"

// Buckets is the fixed number of buckets. It bounds the shard count and is
// never changed, since every bucket label in a cluster depends on it.
const Buckets = 64

// Bucket is the bucket of the Rollout (or standalone AnalysisRun or
// Experiment) namespace/name. FNV-1a is stable across Go releases and
// processes, unlike the runtime's map hash.
func Bucket(namespace, name string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(namespace))
	_, _ = h.Write([]byte{'/'})
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % Buckets)
}

// BucketLabel is the label value of the bucket of namespace/name.
func BucketLabel(namespace, name string) string {
	return strconv.Itoa(Bucket(namespace, name))
}

// Label gives an object the controller creates (a ReplicaSet, a Job) and
// the Pod template it makes Pods from the bucket label, so that the object
// and its Pods are born in the shard of the Rollout, Experiment or
// AnalysisRun that made them and only that shard's replica caches them.
// An empty bucket, which is what a controller without shards passes, adds
// nothing: the object then carries exactly the reference's labels. Callers
// label after computing any pod-template hash, which the bucket must never
// change.
func Label(obj *metav1.ObjectMeta, tmpl *corev1.PodTemplateSpec, bucket string) {
	if bucket == "" {
		return
	}
	for _, m := range []*metav1.ObjectMeta{obj, &tmpl.ObjectMeta} {
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		m.Labels[LabelBucket] = bucket
	}
}

// ShardOf is the shard of n that owns bucket b.
func ShardOf(b, n int) int { return b % n }

// BucketsOf lists the buckets shard k of n owns, ascending.
func BucketsOf(k, n int) []int {
	var out []int
	for b := k; b < Buckets; b += n {
		out = append(out, b)
	}
	return out
}

// noBucket is a label value no object carries: a replica holding no shard
// selects it so that its caches stay empty.
const noBucket = "none"

// Selector is the label requirement that selects the objects of the held
// shards of n. With none held it selects nothing.
func Selector(held []int, n int) (labels.Requirement, error) {
	var values []string
	for _, k := range held {
		for _, b := range BucketsOf(k, n) {
			values = append(values, strconv.Itoa(b))
		}
	}
	if len(values) == 0 {
		values = []string{noBucket}
	}
	sort.Strings(values)
	req, err := labels.NewRequirement(LabelBucket, selection.In, values)
	if err != nil {
		return labels.Requirement{}, fmt.Errorf("building the shard selector: %w", err)
	}
	return *req, nil
}

// ValidateCount reports a shard count the buckets cannot split.
func ValidateCount(n int) error {
	if n < 1 || n > Buckets {
		return fmt.Errorf("shards must be between 1 and %d, got %d", Buckets, n)
	}
	return nil
}

var ordinalSuffix = regexp.MustCompile(`-([0-9]+)$`)

// HomeFromPodName is the home shard of a StatefulSet Pod: its ordinal, the
// number after the last dash, when that is below n; otherwise -1 (none).
func HomeFromPodName(name string, n int) int {
	m := ordinalSuffix.FindStringSubmatch(name)
	if m == nil {
		return -1
	}
	ord, err := strconv.Atoi(m[1])
	if err != nil || ord >= n {
		return -1
	}
	return ord
}
