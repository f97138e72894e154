package controller

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// waitsObserved is how many requests of verb and resource the rate
// limiter's histogram has seen.
func waitsObserved(t *testing.T, verb, resource string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := rateLimiterLatency.WithLabelValues(verb, resource).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestLimitRequestsBoundsEveryClientAtTheTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"ns"}}`)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, QPS: 100, Burst: 200}
	limitRequests(cfg, cfg.QPS, cfg.Burst)
	if cfg.QPS != 100 || cfg.Burst != 200 {
		t.Fatalf("the configuration's QPS/burst became %v/%d; other parts of the controller derive their own paces from them", cfg.QPS, cfg.Burst)
	}

	before := waitsObserved(t, http.MethodGet, "services")
	// Two clients built from the configuration, as the manager's and the
	// notifier's are: client-go gives neither a limiter of its own, and
	// both send through the one at the transport.
	for i := range 2 {
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := kube.CoreV1().RESTClient().GetRateLimiter(); got == nil || got.QPS() != 100 {
			t.Fatalf("client %d: client-go's limiter is %#v, want the transport's stand-in", i, got)
		} else if _, ok := got.(boundAtTransport); !ok {
			t.Fatalf("client %d built a limiter of its own: %T", i, got)
		}
		if _, err := kube.CoreV1().Services("ns").Get(context.Background(), "web", metav1.GetOptions{}); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	if got := waitsObserved(t, http.MethodGet, "services") - before; got != 2 {
		t.Fatalf("the transport's limiter saw %d requests, want 2", got)
	}
}

func TestLimitRequestsLeavesAnUnboundedConfigurationAlone(t *testing.T) {
	cfg := &rest.Config{Host: "https://example.invalid", QPS: -1}
	limitRequests(cfg, cfg.QPS, cfg.Burst)
	if cfg.RateLimiter != nil || cfg.WrapTransport != nil {
		t.Fatal("a negative QPS, which sets no bound, got a limiter")
	}
}
