package controller

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The client's own latencies, by verb and resource: how long a request
// waited for the client-side rate limiter, and how long the API server then
// took. With the work queue's wait (workqueue_queue_duration_seconds) they
// tell where an abort's time goes. controller-runtime registers only the
// request counts of client-go, so the two histograms are ours.
var (
	rateLimiterLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rest_client_rate_limiter_duration_seconds",
		Help:    "Time a request to the API server waited for the client-side rate limiter, by verb and resource.",
		Buckets: latencyBuckets,
	}, []string{"verb", "resource"})
	requestLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rest_client_request_duration_seconds",
		Help:    "Time from sending a request to the API server to its response, by verb and resource.",
		Buckets: latencyBuckets,
	}, []string{"verb", "resource"})
	latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

	registerClientLatency sync.Once
)

// latencyObserver feeds one histogram from client-go's latency hook.
type latencyObserver struct{ h *prometheus.HistogramVec }

// Observe implements client-go's LatencyMetric.
func (o latencyObserver) Observe(_ context.Context, verb string, u url.URL, latency time.Duration) {
	o.h.WithLabelValues(verb, resourceOf(u.Path)).Observe(latency.Seconds())
}

// resourceOf names the resource of an API path: /api/v1/namespaces/ns/pods/p
// is pods, /apis/g/v/namespaces/ns/rollouts/r/status is rollouts/status.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return "other"
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return "other"
	case 1, 2:
		return parts[0]
	default:
		return parts[0] + "/" + parts[2]
	}
}

// observeClientLatency registers the histograms and hooks the request
// latency into client-go, once per process. client-go's own Register runs
// once and controller-runtime has called it already, so the hook is set
// directly. The rate limiter's wait is observed where the bound is kept,
// in limitRequests' transport: client-go's own limiters let every request
// through and would only report zeros.
func observeClientLatency() {
	registerClientLatency.Do(func() {
		crmetrics.Registry.MustRegister(rateLimiterLatency, requestLatency)
		clientmetrics.RequestLatency = latencyObserver{requestLatency}
	})
}
