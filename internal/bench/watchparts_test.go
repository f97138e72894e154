package bench

import (
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPartCount(t *testing.T) {
	for _, c := range []struct{ n, size, want int }{
		{1, 1000, 1}, {1000, 1000, 1}, {1001, 1000, 2}, {10000, 1000, 10}, {3, 2, 2}, {3, 0, 1}, {100000, 0, 100},
	} {
		if got := partCount(c.n, c.size); got != c.want {
			t.Errorf("partCount(%d, %d) = %d, want %d", c.n, c.size, got, c.want)
		}
	}
}

// TestPartsAreEvenAndStable: every name lands in a part in range, the same
// one each time (Get finds an object by its name's part), and 10,000 names
// in 10 parts are spread so that no watch holds much more than its share.
func TestPartsAreEvenAndStable(t *testing.T) {
	counts := make([]int, 10)
	for i := range 10000 {
		name := rolloutName(i)
		p := partOf(name, 10)
		if p < 0 || p >= 10 || partOf(name, 10) != p {
			t.Fatalf("%s: part %d", name, p)
		}
		counts[p]++
	}
	for p, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("part %d holds %d of 10,000 names: %v", p, n, counts)
		}
	}
}

func TestLabelPart(t *testing.T) {
	var obj, tmpl metav1.ObjectMeta
	labelPart(&obj, &tmpl, "bench-ro-00001", 1)
	if obj.Labels != nil || tmpl.Labels != nil {
		t.Fatalf("a run in one part is labelled: %v %v", obj.Labels, tmpl.Labels)
	}
	obj.Labels = map[string]string{LabelBench: "true"}
	labelPart(&obj, &tmpl, "bench-ro-00001", 4)
	want := strconv.Itoa(partOf("bench-ro-00001", 4))
	if obj.Labels[LabelPart] != want || tmpl.Labels[LabelPart] != want || obj.Labels[LabelBench] != "true" {
		t.Fatalf("labels %v and template %v, want part %s on both", obj.Labels, tmpl.Labels, want)
	}
}

func TestWatchPartSizeDefaultsAndChecks(t *testing.T) {
	c, err := Config{Scenario: ScenarioCanary, Rollouts: 2500, Replicas: 1}.withDefaults()
	if err != nil || c.WatchPartSize != DefaultWatchPartSize || c.parts() != 3 {
		t.Fatalf("defaults: size %d, parts %d, %v", c.WatchPartSize, c.parts(), err)
	}
	if _, err := (Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, WatchPartSize: -1}).withDefaults(); err == nil {
		t.Fatal("a negative part size was accepted")
	}
}
