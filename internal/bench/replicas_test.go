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
