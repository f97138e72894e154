package controller

import (
	"context"
	"net/http"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kanaria-rollouts/kanaria/internal/clientlimit"
)

// limitRequests bounds the requests of every client built from cfg to qps
// per second with burst per resource, as client-go would per REST client,
// but at the transport, where the requests of all the controller's clients
// (the manager's, the urgent lane's, the caches', the notifier's) meet:
// there a write marked urgent (clientlimit.Urgent) takes the next token of
// its resource before any routine request waiting for one. The REST
// clients' own limiters are turned off, as they would count every request
// a second time. A qps of zero or less sets no bound.
func limitRequests(cfg *rest.Config, qps float32, burst int) {
	if qps <= 0 {
		return
	}
	l := clientlimit.NewLimiter(float64(qps), burst, observeRateLimiterWait)
	cfg.Wrap(l.Wrap)
	cfg.RateLimiter = boundAtTransport{qps: qps}
}

// observeRateLimiterWait feeds rest_client_rate_limiter_duration_seconds,
// which client-go's own limiter fed before the bound moved to the
// transport.
func observeRateLimiterWait(req *http.Request, waited time.Duration) {
	rateLimiterLatency.WithLabelValues(req.Method, resourceOf(req.URL.Path)).Observe(waited.Seconds())
}

// boundAtTransport is the rate limiter of the REST clients built from a
// configuration that limitRequests bounds: it lets every request through
// and reports the transport's rate.
type boundAtTransport struct{ qps float32 }

// TryAccept implements flowcontrol.RateLimiter.
func (boundAtTransport) TryAccept() bool { return true }

// Accept implements flowcontrol.RateLimiter.
func (boundAtTransport) Accept() {}

// Stop implements flowcontrol.RateLimiter.
func (boundAtTransport) Stop() {}

// QPS implements flowcontrol.RateLimiter.
func (b boundAtTransport) QPS() float32 { return b.qps }

// Wait implements flowcontrol.RateLimiter.
func (boundAtTransport) Wait(context.Context) error { return nil }
