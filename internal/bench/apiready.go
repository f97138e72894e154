package bench

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/discovery"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// rolloutsServed waits until the API server serves Rollouts, for at most
// wait, polling discovery every interval. A benchmark started right after
// its CRDs were applied would otherwise fail to build its watch caches
// because discovery does not list the kind for a few seconds.
func rolloutsServed(ctx context.Context, d discovery.DiscoveryInterface, wait, interval time.Duration) error {
	gv := v1alpha1.GroupVersion.String()
	deadline := time.Now().Add(wait)
	for {
		list, err := d.ServerResourcesForGroupVersion(gv)
		if err == nil {
			for _, r := range list.APIResources {
				if r.Name == "rollouts" {
					return nil
				}
			}
			err = fmt.Errorf("%s has no rollouts resource", gv)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster does not serve %s rollouts after %s (apply the CRDs first: kubectl apply --server-side -f config/crd/bases): %w", gv, wait, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the cluster to serve %s rollouts: %w", gv, ctx.Err())
		case <-time.After(interval):
		}
	}
}
