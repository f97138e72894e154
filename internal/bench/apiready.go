package bench

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/discovery"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
)

// apiServed waits until the API server serves the resources the controller
// needs (controller.MissingResources), for at most wait, polling discovery
// every interval. A benchmark started right after its CRDs were applied
// would otherwise fail to build its watch caches because discovery does
// not list the kinds for a few seconds.
func apiServed(ctx context.Context, d discovery.DiscoveryInterface, wait, interval time.Duration) error {
	gv := v1alpha1.GroupVersion.String()
	deadline := time.Now().Add(wait)
	for {
		missing, err := controller.MissingResources(d)
		if err == nil && len(missing) == 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%s lacks %v", gv, missing)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster does not serve the %s API after %s (apply the CRDs first: kubectl apply --server-side -f config/crd/bases): %w", gv, wait, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the cluster to serve the %s API: %w", gv, ctx.Err())
		case <-time.After(interval):
		}
	}
}
