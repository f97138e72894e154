package clientlimit

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Limiter bounds requests to the API server at the transport, with one
// Bucket per resource. client-go's own limiter sits in each REST client,
// and controller-runtime builds a REST client, so a bucket, per resource
// and per client: a limiter there cannot let one client's urgent writes go
// ahead of another's routine ones. At the transport every client built
// from one configuration shares the buckets, so the bound is per resource
// whichever client sends, and the urgent mark orders the waiters.
type Limiter struct {
	qps   float64
	burst int
	clock clock.WithDelayedExecution
	// observe, when set, is told how long each request waited.
	observe func(req *http.Request, waited time.Duration)

	mu      sync.Mutex
	buckets map[string]*Bucket
}

// NewLimiter returns a Limiter of qps and burst per resource. observe, when
// not nil, is told how long each request waited for its token.
func NewLimiter(qps float64, burst int, observe func(req *http.Request, waited time.Duration)) *Limiter {
	return newLimiter(qps, burst, clock.RealClock{}, observe)
}

func newLimiter(qps float64, burst int, clk clock.WithDelayedExecution, observe func(*http.Request, time.Duration)) *Limiter {
	return &Limiter{qps: qps, burst: burst, clock: clk, observe: observe, buckets: map[string]*Bucket{}}
}

// bucket returns the bucket of one resource, made on first use.
func (l *Limiter) bucket(key string) *Bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = NewBucket(l.qps, l.burst, l.clock)
		l.buckets[key] = b
	}
	return b
}

// Wrap puts the limiter in front of rt; it has the signature of
// rest.Config's WrapTransport.
func (l *Limiter) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &limitedTransport{limiter: l, next: rt}
}

// limitedTransport waits for a token of the request's resource, then sends
// the request.
type limitedTransport struct {
	limiter *Limiter
	next    http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := BucketKey(req.URL.Path)
	start := t.limiter.clock.Now()
	if err := t.limiter.bucket(key).Wait(req.Context()); err != nil {
		return nil, fmt.Errorf("waiting for the client-side rate limit of %s: %w", key, err)
	}
	if t.limiter.observe != nil {
		t.limiter.observe(req, t.limiter.clock.Since(start))
	}
	return t.next.RoundTrip(req)
}

// WrappedRoundTripper lets client-go reach the transport underneath, as it
// does through its own wrappers (to cancel requests, for one).
func (t *limitedTransport) WrappedRoundTripper() http.RoundTripper { return t.next }

// BucketKey names the bucket of an API path: its group and resource, a
// subresource counting as its resource (rollouts/status is
// argoproj.io/rollouts), as client-go's limiter is per REST client and a
// REST client serves a resource with its subresources. Paths that name no
// resource (discovery, /version) share the key "other".
func BucketKey(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	group := ""
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		group, parts = "core", parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		return "other"
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	return group + "/" + parts[0]
}
