package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/discovery"

	"github.com/kanaria-rollouts/kanaria/internal/controller"
)

// apiServed waits until the API server serves the resources the controller
// needs (controller.WaitForAPI), for at most wait, polling discovery every
// interval. A benchmark started right after its CRDs were applied would
// otherwise fail to build its watch caches because discovery does not list
// the kinds for a few seconds.
func apiServed(ctx context.Context, d discovery.DiscoveryInterface, wait, interval time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := controller.WaitForAPI(ctx, d, logr.Discard(), interval); err != nil {
		return fmt.Errorf("the cluster does not serve the API after %s (apply the CRDs first: kubectl apply --server-side -f config/crd/bases): %w", wait, err)
	}
	return nil
}
