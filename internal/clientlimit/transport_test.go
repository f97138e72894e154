package clientlimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestBucketKey(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/namespaces/ns/pods/p":                                   "core/pods",
		"/api/v1/namespaces/ns/services":                                 "core/services",
		"/api/v1/namespaces/ns":                                          "core/namespaces",
		"/api/v1/nodes/n1":                                               "core/nodes",
		"/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/r/status":     "argoproj.io/rollouts",
		"/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/r":            "argoproj.io/rollouts",
		"/apis/networking.k8s.io/v1/namespaces/ns/ingresses/canary":      "networking.k8s.io/ingresses",
		"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y.io": "apiextensions.k8s.io/customresourcedefinitions",
		"/apis/argoproj.io/v1alpha1":                                     "other",
		"/api/v1":                                                        "other",
		"/version":                                                       "other",
	} {
		if got := BucketKey(path); got != want {
			t.Errorf("BucketKey(%q) = %q, want %q", path, got, want)
		}
	}
}

// recorder is the transport under the limiter: it records the paths in
// the order the limiter let them through.
type recorder struct {
	mu    sync.Mutex
	paths []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.paths = append(r.paths, req.URL.Path)
	r.mu.Unlock()
	rec := httptest.NewRecorder()
	return rec.Result(), nil
}

func (r *recorder) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

func TestTransportLimitsPerResourceAndServesUrgentFirst(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	var waits []time.Duration
	var mu sync.Mutex
	l := newLimiter(10, 1, clk, func(_ *http.Request, d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	})
	next := &recorder{}
	rt := l.Wrap(next)
	send := func(ctx context.Context, path string) chan error {
		done := make(chan error, 1)
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, "https://api.example"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			resp, err := rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		return done
	}
	wait := func(done chan error) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("request never sent")
		}
	}
	ctx := context.Background()
	const status, ingress, service = "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/a/status",
		"/apis/networking.k8s.io/v1/namespaces/ns/ingresses/a-canary", "/api/v1/namespaces/ns/services/a"
	// Each resource has its own burst.
	wait(send(ctx, status))
	wait(send(ctx, ingress))
	wait(send(Urgent(ctx), service))

	ingresses := l.bucket(BucketKey(ingress))
	routineIngress := send(ctx, ingress+"-1")
	eventually(t, "the routine Ingress write to wait", func() bool { _, r := ingresses.waiting(); return r == 1 })
	urgentIngress := send(Urgent(ctx), ingress+"-2")
	eventually(t, "the urgent Ingress write to wait", func() bool { u, _ := ingresses.waiting(); return u == 1 })
	stepWhenDue(t, clk, 100*time.Millisecond)
	wait(urgentIngress)
	stepWhenDue(t, clk, 100*time.Millisecond)
	wait(routineIngress)

	got := next.sent()
	want := []string{status, ingress, service, ingress + "-2", ingress + "-1"}
	if len(got) != len(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sent %v, want %v", got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 5 || waits[0] != 0 || waits[3] != 100*time.Millisecond || waits[4] != 200*time.Millisecond {
		t.Fatalf("observed waits %v, want 0 for the bursts, 100ms for the urgent write, 200ms for the routine one", waits)
	}
}
