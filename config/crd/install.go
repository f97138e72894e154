package crd

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/kubeapply"
)

// servedKinds are the resources of the five CRDs, as discovery names them.
var servedKinds = map[string]bool{
	"rollouts": true, "analysistemplates": true, "clusteranalysistemplates": true, "analysisruns": true, "experiments": true,
}

// Install applies the embedded CRDs as fieldManager and waits until the API
// server serves all five kinds: informers started before that fail to sync.
func Install(ctx context.Context, rc *rest.Config, fieldManager string) error {
	applier, err := kubeapply.New(rc, fieldManager)
	if err != nil {
		return fmt.Errorf("install the CRDs: %w", err)
	}
	files, err := fs.Glob(Bases, "bases/*.yaml")
	if err != nil {
		return fmt.Errorf("list the embedded CRDs: %w", err)
	}
	for _, f := range files {
		b, err := Bases.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		if err := applier.Apply(ctx, "", b); err != nil {
			return fmt.Errorf("apply %s: %w", f, err)
		}
	}
	disc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		list, err := disc.ServerResourcesForGroupVersion(v1alpha1.GroupVersion.String())
		if err != nil {
			// Not served yet: ask again.
			return false, nil
		}
		served := 0
		for _, r := range list.APIResources {
			if servedKinds[r.Name] {
				served++
			}
		}
		return served == len(servedKinds), nil
	})
	if err != nil {
		return fmt.Errorf("wait for the CRDs to be served: %w", err)
	}
	return nil
}
