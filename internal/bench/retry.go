package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// cleanupAttempts bounds how often one cleanup request is sent.
const cleanupAttempts = 5

// cleanupBackoff is the wait before the second attempt; it doubles after
// each failed one.
const cleanupBackoff = time.Second

// transient reports whether a failed cleanup request is worth sending
// again: the API server reset its HTTP/2 stream with INTERNAL_ERROR, as
// it does to deletes of thousands of objects that outlast its request
// timeout, or it answered that it timed out or is throttling. The reset
// is known by its text: client-go's transport reports it as
// golang.org/x/net/http2's StreamError or net/http's bundled copy of that
// type, which is not exported, and both print the code's name.
func transient(err error) bool {
	if err == nil {
		return false
	}
	return strings.Contains(err.Error(), "INTERNAL_ERROR") ||
		apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err)
}

// retryTransient runs do until it succeeds, fails with an error that is not
// transient, or has been tried cleanupAttempts times, waiting longer after
// each transient failure. what names the request in the progress lines;
// the caller names it in the error.
func (x *run) retryTransient(ctx context.Context, what string, do func(ctx context.Context) error) error {
	wait := cleanupBackoff
	for attempt := 1; ; attempt++ {
		err := do(ctx)
		if !transient(err) {
			return err
		}
		if attempt == cleanupAttempts {
			return fmt.Errorf("%d attempts, the last: %w", attempt, err)
		}
		x.logf("cleanup: %s failed (%v), trying again in %s", what, err, wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w, and no time left to try again: %w", err, ctx.Err())
		case <-x.clock.After(wait):
		}
		wait *= 2
	}
}
