package cli

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/freeaddr"
)

// writeResources answers a discovery request for argoproj.io/v1alpha1
// with the given resources, as an API server does.
func writeResources(w http.ResponseWriter, names ...string) {
	list := metav1.APIResourceList{GroupVersion: "argoproj.io/v1alpha1"}
	for _, name := range names {
		list.APIResources = append(list.APIResources, metav1.APIResource{Name: name})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

// TestWaitForAPIOverHTTP drives the start-up wait through a real discovery
// client against a server that answers like an API server whose CRDs
// arrive late: 404 for the group version until the test installs them.
// Meanwhile the probe address says alive but not ready.
func TestWaitForAPIOverHTTP(t *testing.T) {
	var installed atomic.Bool
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/argoproj.io/v1alpha1" || !installed.Load() {
			http.NotFound(w, r)
			return
		}
		writeResources(w, "rollouts", "analysisruns", "analysistemplates", "clusteranalysistemplates", "experiments")
	}))
	defer api.Close()

	probeAddr := freeaddr.Loopback(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- waitForAPI(ctx, &rest.Config{Host: api.URL}, probeAddr, logr.Discard()) }()

	// Until the CRDs exist: alive, not ready, still waiting.
	status := func(path string) int {
		resp, err := http.Get("http://" + probeAddr + path)
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	for status("/healthz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the probe address never answered while the controller waited")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while waiting, want 503", got)
	}
	select {
	case err := <-done:
		t.Fatalf("the wait ended before the CRDs existed: %v", err)
	default:
	}

	installed.Store(true)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the wait did not end once the CRDs were served")
	}
	// The probe server is gone, so the manager can bind the address.
	ln, err := net.Listen("tcp", probeAddr)
	if err != nil {
		t.Fatalf("the probe address is still taken after the wait: %v", err)
	}
	_ = ln.Close()
}

// TestWaitForAPIServedAtOnce: a cluster that serves the CRDs already costs
// one discovery request and no probe server.
func TestWaitForAPIServedAtOnce(t *testing.T) {
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		writeResources(w, "rollouts", "analysisruns", "analysistemplates", "clusteranalysistemplates")
	}))
	defer api.Close()
	// A probe address already in use: serving probes there would fail.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	if err := waitForAPI(context.Background(), &rest.Config{Host: api.URL}, busy.Addr().String(), logr.Discard()); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d discovery requests, want 1", n)
	}
}

func TestShardClientsTakeTheControllersBound(t *testing.T) {
	in := &rest.Config{Host: "https://example.invalid"}
	got := shardClientConfig(in, controller.Options{QPS: 100, Burst: 200})
	if got.QPS != 100 || got.Burst != 200 {
		t.Fatalf("shard clients' bound %v/s burst %d, want the controller's 100/s burst 200", got.QPS, got.Burst)
	}
	if in.QPS != 0 || in.Burst != 0 {
		t.Fatalf("the caller's config was changed to %v/s burst %d", in.QPS, in.Burst)
	}
}
