package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
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
