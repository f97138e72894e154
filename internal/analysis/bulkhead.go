package analysis

import (
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/cloudmonitoring"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/compare"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/slo"
)

// MaxProviderCall bounds one measurement's call to a metric provider,
// whatever timeout the metric asks for: a worker waiting on a backend that
// never answers serves no other run meanwhile.
const MaxProviderCall = 30 * time.Second

// DefaultEndpointConcurrency is how many measurements may wait on one
// provider endpoint at once by default. A blackholed endpoint then holds at
// most that many analysis workers; the other workers keep measuring every
// other run on time.
const DefaultEndpointConcurrency = 2

// deferredRetry is how soon at the latest a measurement that found its
// endpoint busy is tried again: the wait when the endpoint's calls are slow
// or none has ended yet.
const deferredRetry = time.Second

// minDeferredRetry is how soon at the earliest a put-off measurement is
// tried again, however fast its endpoint answers.
const minDeferredRetry = 20 * time.Millisecond

// bulkhead limits the measurements in flight per provider endpoint.
type bulkhead struct {
	limit int
	mu    sync.Mutex
	busy  map[string]int
	// took is a moving average of how long each endpoint's calls take.
	took map[string]time.Duration
}

// acquire takes a place for endpoint, or reports that every place is taken.
func (b *bulkhead) acquire(endpoint string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy == nil {
		b.busy = map[string]int{}
	}
	limit := b.limit
	if limit <= 0 {
		limit = DefaultEndpointConcurrency
	}
	if b.busy[endpoint] >= limit {
		return false
	}
	b.busy[endpoint]++
	return true
}

// release gives back a place taken by acquire, for a call that took d.
func (b *bulkhead) release(endpoint string, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy[endpoint]--; b.busy[endpoint] <= 0 {
		delete(b.busy, endpoint)
	}
	if b.took == nil {
		b.took = map[string]time.Duration{}
	}
	if old, ok := b.took[endpoint]; ok {
		b.took[endpoint] = old + (d-old)/4
	} else {
		b.took[endpoint] = d
	}
}

// retryAfter is when measurements put off for these endpoints are tried
// again: about when a place of the fastest of them frees up, from how long
// its calls take. Many runs due at once against one quick backend (a few
// milliseconds a call) are then measured moments apart rather than a second
// late each, while a blackholed endpoint is still looked at only once a
// second.
func (b *bulkhead) retryAfter(endpoints []string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	retry := deferredRetry
	for _, e := range endpoints {
		if d, ok := b.took[e]; ok {
			retry = min(retry, max(d, minDeferredRetry))
		}
	}
	return retry
}

// inFlight is how many places of endpoint are taken.
func (b *bulkhead) inFlight(endpoint string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.busy[endpoint]
}

// endpointOf names the backend a synchronous metric's measurement waits on:
// the provider and, where the metric names one, the host it talks to. The
// metric's arguments are substituted first, since a host may come from one.
func endpointOf(m v1alpha1.Metric, args resolvedArgs) string {
	if sm, err := substitute(m, args); err == nil {
		m = sm
	}
	name := providerName(&m.Provider)
	var address string
	switch p := m.Provider; {
	case p.Prometheus != nil:
		address = p.Prometheus.Address
	case p.Web != nil:
		address = p.Web.URL
	case p.Graphite != nil:
		address = p.Graphite.Address
	case p.SkyWalking != nil:
		address = p.SkyWalking.Address
	case p.Kayenta != nil:
		address = p.Kayenta.Address
	case p.NewRelic != nil:
		// The address is in the profile Secret: each profile is its own
		// account, and may be its own region or proxy.
		return name + "/" + profileOr(p.NewRelic.Profile, "newrelic")
	case p.Influxdb != nil:
		return name + "/" + profileOr(p.Influxdb.Profile, "influxdb")
	case len(p.Plugin[slo.Name]) > 0:
		// Its queries wait on the provider that runs them. A configuration
		// that does not parse fails its measurement without waiting on any.
		c, err := slo.Parse(p.Plugin[slo.Name])
		if err != nil {
			return name
		}
		via, err := c.Endpoint()
		if err != nil {
			return name
		}
		return name + "/" + endpointOf(v1alpha1.Metric{Provider: *via}, resolvedArgs{})
	case len(p.Plugin[cloudmonitoring.Name]) > 0:
		c, err := cloudmonitoring.Parse(p.Plugin[cloudmonitoring.Name])
		if err != nil {
			return name
		}
		return name + "/" + c.Endpoint()
	case len(p.Plugin[compare.Name]) > 0:
		// Its range queries wait on the Prometheus they run on.
		c, err := compare.Parse(p.Plugin[compare.Name])
		if err != nil {
			return name
		}
		address = c.Endpoint()
	case p.Wavefront != nil:
		address = p.Wavefront.Address
		if !strings.Contains(address, "://") {
			address = "https://" + address
		}
	}
	if address == "" {
		return name
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return name
	}
	return name + "/" + strings.ToLower(u.Host)
}

func profileOr(profile, def string) string {
	if profile == "" {
		return def
	}
	return profile
}
