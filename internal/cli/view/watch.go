package view

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// settleDelay lets a burst of events (a scale-up touches many Pods and the
// ReplicaSet at once) turn into one redraw instead of dozens.
const settleDelay = 100 * time.Millisecond

// Re-watch back-off bounds, for when the API server ends a watch or refuses
// a new one.
const (
	minRewatch = time.Second
	maxRewatch = 30 * time.Second
)

// watchSpec is one kind of object whose changes trigger a redraw.
type watchSpec struct {
	kind string
	list client.ObjectList
	opts []client.ListOption
}

// rolloutWatches are the watches `get rollout -w` follows: the Rollout
// itself and every kind of object that appears under it.
func rolloutWatches(ns, name string) []watchSpec {
	in := client.InNamespace(ns)
	return []watchSpec{
		// The field selector keeps other Rollouts' traffic off the wire;
		// a change that is not ours would redraw the same frame anyway.
		{kind: "Rollouts", list: &v1alpha1.RolloutList{}, opts: []client.ListOption{in, client.MatchingFields{"metadata.name": name}}},
		{kind: "ReplicaSets", list: &appsv1.ReplicaSetList{}, opts: []client.ListOption{in}},
		{kind: "Pods", list: &corev1.PodList{}, opts: []client.ListOption{in}},
		{kind: "AnalysisRuns", list: &v1alpha1.AnalysisRunList{}, opts: []client.ListOption{in}},
		{kind: "Experiments", list: &v1alpha1.ExperimentList{}, opts: []client.ListOption{in}},
		{kind: "Jobs", list: &batchv1.JobList{}, opts: []client.ListOption{in}},
	}
}

// experimentWatches are the watches `get experiment -w` follows.
func experimentWatches(ns, name string) []watchSpec {
	in := client.InNamespace(ns)
	return []watchSpec{
		{kind: "Experiments", list: &v1alpha1.ExperimentList{}, opts: []client.ListOption{in, client.MatchingFields{"metadata.name": name}}},
		{kind: "ReplicaSets", list: &appsv1.ReplicaSetList{}, opts: []client.ListOption{in}},
		{kind: "Pods", list: &corev1.PodList{}, opts: []client.ListOption{in}},
		{kind: "AnalysisRuns", list: &v1alpha1.AnalysisRunList{}, opts: []client.ListOption{in}},
		{kind: "Jobs", list: &batchv1.JobList{}, opts: []client.ListOption{in}},
	}
}

// watchAndDraw draws a first frame, then re-fetches and redraws whenever a
// watch reports a change, until ctx ends or the user presses Ctrl-C. A
// frame equal to the one on screen is not drawn again, so unrelated objects
// of the namespace cause no flicker. The first draw's error is returned
// (e.g. not found); later ones are shown in place of the view, since the
// object may come back.
func watchAndDraw(ctx context.Context, c client.WithWatch, specs []watchSpec, draw func(context.Context, io.Writer) error, scr *screen) error {
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	// The watches start before the first read so that no change between
	// the read and the watches goes unseen.
	watchers := make([]watch.Interface, 0, len(specs))
	for _, s := range specs {
		w, err := c.Watch(ctx, s.list.DeepCopyObject().(client.ObjectList), s.opts...)
		if err != nil {
			for _, w := range watchers {
				w.Stop()
			}
			return fmt.Errorf("watching %s (check your RBAC or --context): %w", s.kind, err)
		}
		watchers = append(watchers, w)
	}
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default: // a redraw is already due
		}
	}
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			follow(ctx, c, s, watchers[i], notify)
		}()
	}

	var buf bytes.Buffer
	if err := draw(ctx, &buf); err != nil {
		return err
	}
	last := buf.String()
	if err := scr.show(last); err != nil {
		return fmt.Errorf("writing the view: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(settleDelay):
		}
		buf.Reset()
		if err := draw(ctx, &buf); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			buf.Reset()
			fmt.Fprintf(&buf, "error: %v\n(still watching; Ctrl-C to stop)\n", err)
		}
		if buf.String() == last {
			continue
		}
		last = buf.String()
		if err := scr.show(last); err != nil {
			return fmt.Errorf("writing the view: %w", err)
		}
	}
}

// follow reports every event of w and starts a new watch when the API
// server ends one (it does so every few minutes), until ctx ends.
func follow(ctx context.Context, c client.WithWatch, s watchSpec, w watch.Interface, notify func()) {
	backoff := minRewatch
	for {
		if w != nil {
			consume(ctx, w, notify)
			w.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		var err error
		if w, err = c.Watch(ctx, s.list.DeepCopyObject().(client.ObjectList), s.opts...); err != nil {
			w = nil
			backoff = min(2*backoff, maxRewatch)
			continue
		}
		backoff = minRewatch
		// Something may have changed while no watch was open.
		notify()
	}
}

// consume reports events until the watch ends, errors or ctx ends. The
// context is checked too because not every watch closes its channel when
// the context is cancelled.
func consume(ctx context.Context, w watch.Interface, notify func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok || ev.Type == watch.Error {
				return
			}
			notify()
		}
	}
}
