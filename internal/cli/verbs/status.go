package verbs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

func (e *env) statusCommand() *cobra.Command {
	var follow bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status ROLLOUT",
		Short: "Show the phase of a Rollout, or wait until it is done",
		Long: `Print the phase and message of a Rollout on one line, as "Phase - message".

The exit code says how the Rollout is: 0 when Healthy (or, without --watch,
still Progressing or Paused), 2 when Degraded or aborted, 3 when --timeout
passed first; other errors exit with 1. With --watch the command follows the
Rollout through a Kubernetes watch, prints each new line, and returns once it
is Healthy or Degraded.

The status counts only once the controller has observed the latest spec
(status.observedGeneration equals metadata.generation); until then the
Rollout is reported as Progressing.`,
		Example: `  # One line, now
  kanaria status guestbook

  # Wait until the update is done, for at most 5 minutes
  kanaria status guestbook -w --timeout 5m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout < 0 {
				return fmt.Errorf("--timeout must not be negative, got %s", timeout)
			}
			return e.status(cmd.Context(), cmd.OutOrStdout(), args[0], follow, timeout)
		},
	}
	cmd.Flags().BoolVarP(&follow, "watch", "w", false, "follow the Rollout until it is Healthy or Degraded")
	cmd.Flags().DurationVarP(&timeout, "timeout", "t", 0, "with --watch, how long to wait before giving up, e.g. 5m; 0 waits forever")
	return cmd
}

// verdict is what status makes of a Rollout.
type verdict struct {
	line string
	done bool // Healthy or Degraded: nothing more to wait for
	code int  // exit code once done
}

// judge reads the Rollout's status as every reader shows it
// (rolloutview.StatusOf): the controller's phase describes the spec of
// status.observedGeneration, so until the controller catches up with a newer
// spec the Rollout counts as Progressing; an abort counts from the moment it
// is asked for.
func judge(ro *v1alpha1.Rollout) verdict {
	phase, msg, _ := rolloutview.StatusOf(ro)
	line := string(phase)
	if msg != "" {
		line += " - " + msg
	}
	switch phase {
	case v1alpha1.RolloutPhaseHealthy:
		return verdict{line: line, done: true}
	case v1alpha1.RolloutPhaseDegraded:
		return verdict{line: line, done: true, code: ExitDegraded}
	}
	return verdict{line: line}
}

// result turns a verdict into the command's error: nil for Healthy or for a
// Rollout still under way, an ExitError for Degraded.
func (v verdict) result(name string) error {
	if v.code == ExitDegraded {
		return &ExitError{Code: ExitDegraded, Err: fmt.Errorf("rollout %q is degraded: %s", name, v.line)}
	}
	return nil
}

func (e *env) status(ctx context.Context, out io.Writer, name string, follow bool, timeout time.Duration) error {
	c, ns, err := e.connect()
	if err != nil {
		return err
	}
	if follow && timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	w := &statusWatcher{c: c, out: out, key: client.ObjectKey{Namespace: ns, Name: name}}
	v, err := w.get(ctx)
	if err != nil {
		return w.timedOut(ctx, timeout, err)
	}
	if !follow || v.done {
		return v.result(name)
	}
	v, err = w.follow(ctx)
	if err != nil {
		return w.timedOut(ctx, timeout, err)
	}
	return v.result(name)
}

// rewatchPause is the least time between two watches of the same Rollout.
const rewatchPause = time.Second

// statusWatcher follows one Rollout and prints each line that differs from
// the one before.
type statusWatcher struct {
	c    client.WithWatch
	out  io.Writer
	key  client.ObjectKey
	last string
	rv   string // resourceVersion of the last Rollout seen, to resume watches from
}

// see prints the line of ro if it is new and returns the verdict.
func (w *statusWatcher) see(ro *v1alpha1.Rollout) verdict {
	w.rv = ro.ResourceVersion
	v := judge(ro)
	if v.line != w.last {
		fmt.Fprintln(w.out, v.line)
		w.last = v.line
	}
	return v
}

// get reads the Rollout now.
func (w *statusWatcher) get(ctx context.Context) (verdict, error) {
	ro := &v1alpha1.Rollout{}
	if err := w.c.Get(ctx, w.key, ro); err != nil {
		return verdict{}, apiError(err, "get", "", rolloutTarget(w.key.Name, w.key.Namespace))
	}
	return w.see(ro), nil
}

// follow watches the Rollout until it is done. The API server ends watches
// after a while and may answer that a resourceVersion is too old; either way
// the Rollout is read again, so no change is missed, and a new watch starts
// from there.
func (w *statusWatcher) follow(ctx context.Context) (verdict, error) {
	t := rolloutTarget(w.key.Name, w.key.Namespace)
	for {
		opts := &client.ListOptions{
			Namespace:     w.key.Namespace,
			FieldSelector: fields.OneTermEqualSelector("metadata.name", w.key.Name),
			Raw:           &metav1.ListOptions{ResourceVersion: w.rv},
		}
		started := time.Now()
		wi, err := w.c.Watch(ctx, &v1alpha1.RolloutList{}, opts)
		if err != nil {
			return verdict{}, apiError(err, "watch", "", t)
		}
		v, restart, err := w.drain(ctx, wi)
		wi.Stop()
		if err != nil || v.done {
			return v, err
		}
		if restart {
			// A watch that ends at once, again and again, would otherwise
			// turn into a tight loop of requests against the API server.
			if time.Since(started) < rewatchPause {
				select {
				case <-ctx.Done():
					return verdict{}, ctx.Err()
				case <-time.After(rewatchPause):
				}
			}
			if v, err := w.get(ctx); err != nil || v.done {
				return v, err
			}
		}
	}
}

// drain reads events of one watch. It returns restart when the watch ended
// without an answer and the Rollout must be read again.
func (w *statusWatcher) drain(ctx context.Context, wi watch.Interface) (v verdict, restart bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return verdict{}, false, ctx.Err()
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return verdict{}, true, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				ro, isRollout := ev.Object.(*v1alpha1.Rollout)
				// The field selector limits the watch to the one name; a
				// server (or fake) that ignores it must not confuse two Rollouts.
				if !isRollout || ro.Name != w.key.Name {
					continue
				}
				if v := w.see(ro); v.done {
					return v, false, nil
				}
			case watch.Deleted:
				if ro, isRollout := ev.Object.(*v1alpha1.Rollout); isRollout && ro.Name == w.key.Name {
					return verdict{}, false, fmt.Errorf("rollout %q was deleted from namespace %q while waiting for it", w.key.Name, w.key.Namespace)
				}
			case watch.Error:
				se := apierrors.FromObject(ev.Object)
				var status apierrors.APIStatus
				if errors.As(se, &status) && status.Status().Code == http.StatusGone {
					return verdict{}, true, nil
				}
				return verdict{}, false, fmt.Errorf("watching rollout %q: %w", w.key.Name, se)
			}
		}
	}
}

// timedOut turns an error caused by the --timeout deadline into the timeout
// exit; other errors pass through.
func (w *statusWatcher) timedOut(ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		last := w.last
		if last == "" {
			last = "none seen"
		}
		return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("rollout %q was neither Healthy nor Degraded after %s (last status: %s); wait longer with a larger --timeout", w.key.Name, timeout, last)}
	}
	return err
}
