package shard

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestBucketSpreadsNames(t *testing.T) {
	seen := map[int]int{}
	for i := 0; i < 6400; i++ {
		b := Bucket("ns", "rollout-"+string(rune('a'+i%26))+"-"+itoa(i))
		if b < 0 || b >= Buckets {
			t.Fatalf("bucket %d out of range", b)
		}
		seen[b]++
	}
	for b := 0; b < Buckets; b++ {
		if seen[b] < 40 || seen[b] > 160 {
			t.Errorf("bucket %d got %d of 6400 names, want near 100", b, seen[b])
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var s []byte
	for ; i > 0; i /= 10 {
		s = append([]byte{byte('0' + i%10)}, s...)
	}
	return string(s)
}

func TestBucketPinned(t *testing.T) {
	// FNV-1a of "default/guestbook" mod 64, worked out independently of
	// the hash package: any other hash would relabel existing clusters.
	var h uint32 = 2166136261
	for _, c := range []byte("default/guestbook") {
		h ^= uint32(c)
		h *= 16777619
	}
	if got, want := Bucket("default", "guestbook"), int(h%64); got != want {
		t.Fatalf("Bucket = %d, want %d", got, want)
	}
}

func TestBucketsOfPartitionEveryCount(t *testing.T) {
	for n := 1; n <= Buckets; n++ {
		owner := map[int]int{}
		for k := 0; k < n; k++ {
			for _, b := range BucketsOf(k, n) {
				if prev, dup := owner[b]; dup {
					t.Fatalf("n=%d: bucket %d in shards %d and %d", n, b, prev, k)
				}
				if ShardOf(b, n) != k {
					t.Fatalf("n=%d: ShardOf(%d) = %d, listed under %d", n, b, ShardOf(b, n), k)
				}
				owner[b] = k
			}
		}
		if len(owner) != Buckets {
			t.Fatalf("n=%d: %d buckets owned, want %d", n, len(owner), Buckets)
		}
	}
	if got, want := BucketsOf(1, 16), []int{1, 17, 33, 49}; !reflect.DeepEqual(got, want) {
		t.Errorf("BucketsOf(1, 16) = %v, want %v", got, want)
	}
}

func TestSelector(t *testing.T) {
	req, err := Selector([]int{1}, 16)
	if err != nil {
		t.Fatal(err)
	}
	sel := labels.NewSelector().Add(req)
	for b, want := range map[string]bool{"1": true, "17": true, "49": true, "0": false, "2": false, "": false} {
		set := labels.Set{}
		if b != "" {
			set[LabelBucket] = b
		}
		if got := sel.Matches(set); got != want {
			t.Errorf("bucket %q matches = %v, want %v", b, got, want)
		}
	}
	none, err := Selector(nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < Buckets; b++ {
		if labels.NewSelector().Add(none).Matches(labels.Set{LabelBucket: itoa(b)}) {
			t.Fatalf("the selector of no shards matches bucket %d", b)
		}
	}
}

func TestValidateCountAndHome(t *testing.T) {
	for n, ok := range map[int]bool{0: false, 1: true, 64: true, 65: false, -2: false} {
		if err := ValidateCount(n); (err == nil) != ok {
			t.Errorf("ValidateCount(%d) = %v", n, err)
		}
	}
	for name, want := range map[string]int{
		"kanaria-controller-0": 0, "kanaria-controller-3": 3, "kanaria-controller-4": -1,
		"kanaria-controller-7d9f8-x2x4b": -1, "laptop": -1, "": -1,
	} {
		if got := HomeFromPodName(name, 4); got != want {
			t.Errorf("HomeFromPodName(%q, 4) = %d, want %d", name, got, want)
		}
	}
}

// TestLabelMarksTheObjectAndItsPodTemplate checks that a created object
// and the Pods it makes carry the bucket, and that without shards (an empty
// bucket) nothing is added, so the object keeps the reference's labels.
func TestLabelMarksTheObjectAndItsPodTemplate(t *testing.T) {
	var obj metav1.ObjectMeta
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}}
	Label(&obj, &tmpl, "17")
	if obj.Labels[LabelBucket] != "17" || tmpl.Labels[LabelBucket] != "17" || tmpl.Labels["app"] != "web" {
		t.Errorf("labels %v and template labels %v, want the bucket 17 on both and app kept", obj.Labels, tmpl.Labels)
	}

	plain := metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}
	var plainTmpl corev1.PodTemplateSpec
	Label(&plain, &plainTmpl, "")
	if len(plain.Labels) != 1 || plainTmpl.Labels != nil {
		t.Errorf("without a bucket: labels %v and template labels %v, want them untouched", plain.Labels, plainTmpl.Labels)
	}
}
