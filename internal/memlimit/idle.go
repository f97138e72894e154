package memlimit

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// IdleRelease gives the pages Go's heap keeps free back to the system once
// the controller has reconciled nothing for a while. After a burst the
// runtime keeps free pages mapped for the next cycle; in a controller that
// then sits idle they count as resident for nothing. It never runs while a
// reconcile is in flight or within After of one, so a burst never pays for
// the forced collection it takes.
type IdleRelease struct {
	// After is how long no reconcile must have run before a release, and
	// the least time between two releases of one idle stretch.
	After time.Duration
	log   logr.Logger

	inflight atomic.Int64
	// last is when a reconcile last started or ended, released when the
	// last release ran, both in Unix nanoseconds.
	last, released atomic.Int64

	now  func() time.Time
	free func()
}

// NewIdleRelease returns an IdleRelease after d of quiet; d of 0 turns it
// off (Wrap passes reconcilers through, Run returns at once).
func NewIdleRelease(d time.Duration, log logr.Logger) *IdleRelease {
	r := &IdleRelease{After: d, log: log, now: time.Now, free: debug.FreeOSMemory}
	r.last.Store(r.now().UnixNano())
	return r
}

// Wrap returns next with each reconcile counted as activity.
func (r *IdleRelease) Wrap(next reconcile.Reconciler) reconcile.Reconciler {
	if r == nil || r.After <= 0 {
		return next
	}
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		r.inflight.Add(1)
		r.last.Store(r.now().UnixNano())
		defer func() {
			r.last.Store(r.now().UnixNano())
			r.inflight.Add(-1)
		}()
		return next.Reconcile(ctx, req)
	})
}

// due reports whether a release may run at now: nothing in flight, no
// reconcile within After, and no release within After.
func (r *IdleRelease) due(now time.Time) bool {
	if r.inflight.Load() > 0 {
		return false
	}
	quiet := now.Sub(time.Unix(0, r.last.Load()))
	sinceRelease := now.Sub(time.Unix(0, r.released.Load()))
	return quiet >= r.After && sinceRelease >= r.After
}

// check releases when due, reporting whether it did.
func (r *IdleRelease) check() bool {
	now := r.now()
	if !r.due(now) {
		return false
	}
	// The first release of an idle stretch is logged; the ones that
	// follow it each minute only at debug level, so a quiet controller's
	// log does not fill with them.
	log := r.log
	if r.released.Load() > r.last.Load() {
		log = log.V(1)
	}
	before := releasedBytes()
	start := r.now()
	r.free()
	r.released.Store(r.now().UnixNano())
	log.Info("idle: returned free heap pages to the system", "bytes", releasedBytes()-before,
		"took", r.now().Sub(start).String(), "idleFor", now.Sub(time.Unix(0, r.last.Load())).Round(time.Second).String())
	return true
}

// Run checks every quarter of After until ctx ends.
func (r *IdleRelease) Run(ctx context.Context) {
	if r == nil || r.After <= 0 {
		return
	}
	t := time.NewTicker(r.After / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.check()
		}
	}
}

// releasedBytes is the heap memory the runtime has returned to the system.
func releasedBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
