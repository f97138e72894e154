package bench

import (
	"context"
	"sync"
	"time"
)

// DefaultQueueSampleInterval is a common Prometheus scrape interval: every
// scrape makes the controller build a series set per Rollout (the
// reference's per-Rollout gauges), which at 10,000 Rollouts is tens of
// megabytes of garbage, so sampling more often would load the controller
// more than a Prometheus server does.
const DefaultQueueSampleInterval = 15 * time.Second

// queueSampler reads the controller's Rollout work queue depth until stopped.
type queueSampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	depth  *QueueDepth
}

// sampleQueue starts reading the queue depth every QueueSampleInterval from
// the controller's metrics; without them, or with no interval, it samples
// nothing. It keeps wall
// time, not the run's clock: it only observes, and a test's clock must not
// be moved by it.
func (x *run) sampleQueue(ctx context.Context) *queueSampler {
	q := &queueSampler{done: make(chan struct{})}
	every := x.QueueSampleInterval
	if x.ControllerMetrics == nil || every <= 0 {
		close(q.done)
		return q
	}
	q.depth = &QueueDepth{IntervalSeconds: every.Seconds()}
	ctx, q.cancel = context.WithCancel(ctx)
	start := time.Now()
	tick := time.NewTicker(every)
	go func() {
		defer close(q.done)
		defer tick.Stop()
		for {
			if d, ok := x.queueDepth(ctx); ok {
				q.mu.Lock()
				q.depth.Samples = append(q.depth.Samples, QueueSample{Seconds: time.Since(start).Seconds(), Depth: d})
				q.depth.Max = max(q.depth.Max, d)
				q.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return q
}

// stop ends the sampling and returns what it read, nil when nothing. It
// may be called more than once.
func (q *queueSampler) stop() *QueueDepth {
	if q.cancel != nil {
		q.cancel()
	}
	<-q.done
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.depth == nil || len(q.depth.Samples) == 0 {
		return nil
	}
	return q.depth
}

// queueDepth is the depth of the controller's Rollout work queue.
func (x *run) queueDepth(ctx context.Context) (float64, bool) {
	text, err := x.ControllerMetrics.Scrape(ctx)
	if err != nil {
		return 0, false
	}
	samples, err := ParseMetric(text, QueueDepthMetric)
	if err != nil {
		return 0, false
	}
	var d float64
	found := false
	for _, s := range samples {
		if s.Labels["controller"] == "rollout" || s.Labels["name"] == "rollout" {
			d += s.Value
			found = true
		}
	}
	return d, found
}
