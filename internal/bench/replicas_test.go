package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"
)

// TestReplicasScraperAddsUpReplicas: the same series from two replicas
// count as the controller's sum.
func TestReplicasScraperAddsUpReplicas(t *testing.T) {
	var urls []string
	for _, n := range []int{3, 4} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "# HELP %[1]s requests\n# TYPE %[1]s counter\n%[1]s{verb=\"GET\",kind=\"Rollout\"} %[2]d\n", ControllerRequestsMetric, n)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL+"/metrics")
	}
	r := &Replicas{metrics: urls}
	text, err := r.Scraper().Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	samples, err := ParseMetric(text, ControllerRequestsMetric)
	if err != nil {
		t.Fatal(err)
	}
	if got := Total(samples); got != 7 {
		t.Fatalf("total %v over both replicas, want 7", got)
	}
}

// TestDiffAddsUpReplicas: a series that each replica serves grows by the
// sum of their growths, not by one replica's whole value.
func TestDiffAddsUpReplicas(t *testing.T) {
	page := func(a, b int) []byte {
		return []byte(fmt.Sprintf("%[1]s{method=\"GET\"} %[2]d\n%[1]s{method=\"GET\"} %[3]d\n", ControllerRequestsMetric, a, b))
	}
	before, err := ParseMetric(page(100, 50), ControllerRequestsMetric)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ParseMetric(page(110, 55), ControllerRequestsMetric)
	if err != nil {
		t.Fatal(err)
	}
	if got := Total(Diff(before, after)); got != 15 {
		t.Fatalf("growth %v, want 15 (10 + 5)", got)
	}
}

// TestReplicaProcessAddsUpReplicas: the replicas' memory is the sum of
// theirs, RssAnon included, as the settle's per-Rollout figures divide it.
func TestReplicaProcessAddsUpReplicas(t *testing.T) {
	r := &Replicas{}
	for range 2 {
		c := exec.Command("sleep", "30")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
		r.procs = append(r.procs, c)
	}
	sum := func() ProcSample {
		t.Helper()
		var want ProcSample
		for _, c := range r.procs {
			s, err := ProcFS{PID: c.Process.Pid}.Read()
			if err != nil {
				t.Fatal(err)
			}
			want.RSSBytes += s.RSSBytes
			want.AnonBytes += s.AnonBytes
		}
		return want
	}
	// A process just started still maps memory as it execs; compare once
	// both read alike twice in a row.
	var want, got ProcSample
	for range 100 {
		before := sum()
		var err error
		if got, err = r.Process().Read(); err != nil {
			t.Fatal(err)
		}
		if want = sum(); want == before {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if want.AnonBytes == 0 {
		t.Skip("the kernel reports no RssAnon")
	}
	if got.AnonBytes != want.AnonBytes || got.RSSBytes != want.RSSBytes {
		t.Errorf("RSS %d, RssAnon %d; want the replicas' sums %d and %d", got.RSSBytes, got.AnonBytes, want.RSSBytes, want.AnonBytes)
	}
}
