package metricproviders

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kanaria_metric_provider_requests_total",
		Help: "Requests made to metric providers, by provider and outcome (success or error).",
	}, []string{"provider", "outcome"})
	latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kanaria_metric_provider_request_duration_seconds",
		Help:    "Duration of requests to metric providers, by provider.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"provider"})
)

func init() {
	crmetrics.Registry.MustRegister(requests, latency)
}

// Observe records one request to provider that started at start and ended
// with err (nil for success) on the controller's /metrics. Every provider
// calls it once per request it sends.
func Observe(provider string, start time.Time, err error) {
	outcome := "success"
	if err != nil {
		outcome = "error"
	}
	requests.WithLabelValues(provider, outcome).Inc()
	latency.WithLabelValues(provider).Observe(time.Since(start).Seconds())
}
