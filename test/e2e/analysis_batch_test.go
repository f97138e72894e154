package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestAnalysisBatchedMeasurements runs web metrics measured every second
// under a controller that may hold successful measurements for 30 s: a
// counted run ends with every measurement it took in its status, each
// taken once, and a run whose endpoint turns bad shows the failing
// measurement within seconds, while the successes before it were held.
func TestAnalysisBatchedMeasurements(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "batch")
	runController(t, ns, "--analysis-status-batch", "30s")

	var bad atomic.Bool
	var counted, watched atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/counted":
			counted.Add(1)
			fmt.Fprint(rw, `{"ok": true}`)
		case "/watched":
			watched.Add(1)
			fmt.Fprintf(rw, `{"ok": %v}`, !bad.Load())
		}
	}))
	t.Cleanup(target.Close)

	applyYAML(t, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: counted}
spec:
  metrics:
  - name: check
    interval: 1s
    count: 8
    successCondition: result.ok == true
    provider: {web: {url: "%[1]s/counted"}}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: watched}
spec:
  measurementRetention: [{metricName: check, limit: 60}]
  metrics:
  - name: check
    interval: 1s
    failureLimit: 5
    successCondition: result.ok == true
    provider: {web: {url: "%[1]s/watched"}}
`, target.URL))

	run := waitRun(t, c, ns, "counted", time.Minute)
	r := run.Status.MetricResults[0]
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || r.Count != 8 || r.Successful != 8 || len(r.Measurements) != 8 {
		t.Fatalf("counted run: phase %s, count %d, successful %d, %d measurements; want Successful with all 8",
			run.Status.Phase, r.Count, r.Successful, len(r.Measurements))
	}
	if n := counted.Load(); n != 8 {
		t.Errorf("the endpoint was measured %d times, want 8", n)
	}

	get := func() *v1alpha1.AnalysisRun {
		t.Helper()
		var got v1alpha1.AnalysisRun
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "watched"}, &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}
	// The counted run took at least 8 s: the watched one has been measured
	// about as often, and holds its successes but the first.
	got := get()
	if got.Status.Phase != v1alpha1.AnalysisPhaseRunning || len(got.Status.MetricResults) == 0 {
		t.Fatalf("watched run: phase %s, %d metric results; want Running and measured", got.Status.Phase, len(got.Status.MetricResults))
	}
	if n, shown := watched.Load(), got.Status.MetricResults[0].Count; shown >= n || n < 5 {
		t.Errorf("watched run: %d measurements taken, %d in status; want successes held", n, shown)
	}

	bad.Store(true)
	turned := time.Now()
	eventually(t, 30*time.Second, "the failing measurement in status", func() (bool, error) {
		r := get().Status.MetricResults[0]
		return r.Failed > 0, fmt.Errorf("count %d, failed %d", r.Count, r.Failed)
	})
	if took := time.Since(turned); took > 4*time.Second {
		t.Errorf("the failing measurement reached the status %v after the endpoint turned bad, want within a couple of seconds of the next measurement", took.Round(time.Millisecond))
	}
	got = get()
	r = got.Status.MetricResults[0]
	if got.Status.Phase != v1alpha1.AnalysisPhaseRunning || r.Count < 6 || r.Successful != r.Count-r.Failed {
		t.Errorf("after the failure: phase %s, count %d (successful %d, failed %d); want Running with the held successes written too",
			got.Status.Phase, r.Count, r.Successful, r.Failed)
	}
}
