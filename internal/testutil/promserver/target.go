package promserver

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Target is a scrape target serving /metrics in the Prometheus text format
// with counters the test sets, e.g.
// istio_requests_total{reporter="destination",response_code="200"}.
//
// Counters can also grow at a steady rate. Rather than ticking in the
// background, a rate is applied when the target is scraped (and when the
// rate changes), so every scrape sees exactly rate × elapsed time: two
// series with rates a and b yield an irate ratio of exactly a/(a+b).
type Target struct {
	t   testing.TB
	srv *httptest.Server
	now func() time.Time

	mu      sync.Mutex
	series  map[string]*counter
	scrapes int
	// changed is closed and replaced on every scrape, so waiters wake up.
	changed chan struct{}
}

// counter is one series.
type counter struct {
	name   string
	labels string // rendered {k="v",...}, sorted by key
	value  float64
	rate   float64 // per second
	since  time.Time
}

// NewTarget starts a Target on 127.0.0.1; t.Cleanup stops it.
func NewTarget(t testing.TB) *Target {
	t.Helper()
	tg := &Target{t: t, now: time.Now, series: make(map[string]*counter), changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", tg.serve)
	tg.srv = httptest.NewServer(mux)
	t.Cleanup(tg.srv.Close)
	return tg
}

// HostPort returns the target's address as Prometheus' static_configs
// want it, e.g. 127.0.0.1:41234.
func (tg *Target) HostPort() string {
	return strings.TrimPrefix(tg.srv.URL, "http://")
}

// Add increments counter name{labels} by delta, creating it at zero first
// if needed; Add(name, labels, 0) just makes the series exist.
func (tg *Target) Add(name string, labels map[string]string, delta float64) {
	tg.t.Helper()
	if delta < 0 || math.IsNaN(delta) {
		tg.t.Fatalf("promserver: counters only go up; Add(%s, %v)", name, delta)
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	c := tg.get(name, labels)
	tg.advance(c, tg.now())
	c.value += delta
}

// SetRate makes counter name{labels} grow by perSecond from now on (zero
// stops it), creating it at zero first if needed.
func (tg *Target) SetRate(name string, labels map[string]string, perSecond float64) {
	tg.t.Helper()
	if perSecond < 0 || math.IsNaN(perSecond) {
		tg.t.Fatalf("promserver: counters only go up; SetRate(%s, %v)", name, perSecond)
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	c := tg.get(name, labels)
	tg.advance(c, tg.now())
	c.rate = perSecond
}

// Value returns the current value of counter name{labels} (0 if unknown).
func (tg *Target) Value(name string, labels map[string]string) float64 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	c, ok := tg.series[key(name, renderLabels(labels))]
	if !ok {
		return 0
	}
	tg.advance(c, tg.now())
	return c.value
}

// Scrapes returns how many times /metrics has been served.
func (tg *Target) Scrapes() int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.scrapes
}

// WaitScrapes waits until n more scrapes than now have been served, so
// that a change made before the call is in at least n samples. It fails the
// test after timeout.
func (tg *Target) WaitScrapes(n int, timeout time.Duration) {
	tg.t.Helper()
	tg.mu.Lock()
	want := tg.scrapes + n
	tg.mu.Unlock()
	deadline := time.After(timeout)
	for {
		tg.mu.Lock()
		got, changed := tg.scrapes, tg.changed
		tg.mu.Unlock()
		if got >= want {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			tg.t.Fatalf("promserver: %d of %d scrapes after %s; is Prometheus scraping %s?", got-want+n, n, timeout, tg.HostPort())
		}
	}
}

// get returns the series, creating it; callers hold mu.
func (tg *Target) get(name string, labels map[string]string) *counter {
	rendered := renderLabels(labels)
	k := key(name, rendered)
	c, ok := tg.series[k]
	if !ok {
		c = &counter{name: name, labels: rendered, since: tg.now()}
		tg.series[k] = c
	}
	return c
}

// advance applies c's rate up to now; callers hold mu.
func (tg *Target) advance(c *counter, now time.Time) {
	if c.rate > 0 {
		c.value += c.rate * now.Sub(c.since).Seconds()
	}
	c.since = now
}

// serve writes every series in the text exposition format, one TYPE line
// per metric name, in a stable order.
func (tg *Target) serve(w http.ResponseWriter, _ *http.Request) {
	tg.mu.Lock()
	now := tg.now()
	keys := make([]string, 0, len(tg.series))
	for k, c := range tg.series {
		tg.advance(c, now)
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	lastName := ""
	for _, k := range keys {
		c := tg.series[k]
		if c.name != lastName {
			fmt.Fprintf(&b, "# TYPE %s counter\n", c.name)
			lastName = c.name
		}
		fmt.Fprintf(&b, "%s%s %s\n", c.name, c.labels, strconv.FormatFloat(c.value, 'g', -1, 64))
	}
	tg.scrapes++
	close(tg.changed)
	tg.changed = make(chan struct{})
	tg.mu.Unlock()

	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// key identifies a series.
func key(name, labels string) string { return name + labels }

// renderLabels writes labels as {k="v",...}, sorted, with values escaped
// as the text format requires; no labels renders as "".
func renderLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	escaper := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + `="` + escaper.Replace(labels[k]) + `"`
	}
	return "{" + strings.Join(parts, ",") + "}"
}
