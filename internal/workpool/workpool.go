// Package workpool takes the items of a work queue from a fixed number of
// goroutines, for the measuring tools that write on many objects at once
// with a bounded number of requests in flight.
package workpool

import (
	"context"
	"sync"

	"k8s.io/client-go/util/workqueue"
)

// Run hands each item of q to do from workers goroutines, so at most
// workers calls run at once, until ctx ends: q is then shut down, and Run
// returns once the calls under way have returned.
func Run[K comparable](ctx context.Context, q workqueue.TypedInterface[K], workers int, do func(K)) {
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				item, shutdown := q.Get()
				if shutdown {
					return
				}
				do(item)
				q.Done(item)
			}
		}()
	}
	wg.Wait()
}
