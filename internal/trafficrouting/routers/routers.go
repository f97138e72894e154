// Package routers picks the traffic routers a Rollout configures. It is the
// one place that knows every router package, so adding a router touches
// this file and its own package, nothing else.
package routers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/alb"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/ambassador"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/apisix"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/gatewayapi"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/istio"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/nginx"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/smi"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/traefik"
)

// Options are the controller-wide settings of the routers.
type Options struct {
	// SMIAPIVersion is the split.smi-spec.io version of the TrafficSplits
	// the controller writes; empty means v1alpha1.
	SMIAPIVersion string
}

// For returns the routers env's Rollout configures, in a fixed order. A
// configuration no router can act on (App Mesh, a plugin Kanaria does not
// build in) is a *trafficrouting.ConfigError; a Rollout without
// trafficRouting has no routers.
func For(env trafficrouting.Env, opts Options) ([]trafficrouting.Router, error) {
	c := env.Rollout.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return nil, nil
	}
	tr := c.TrafficRouting
	var out []trafficrouting.Router
	var errs []error
	if tr.Istio != nil {
		out = append(out, istio.New(env))
	}
	if tr.Nginx != nil {
		out = append(out, nginx.New(env))
	}
	if tr.ALB != nil {
		out = append(out, alb.New(env))
	}
	if tr.SMI != nil {
		out = append(out, smi.New(env, opts.SMIAPIVersion))
	}
	if tr.Traefik != nil {
		out = append(out, traefik.New(env))
	}
	if tr.Apisix != nil {
		out = append(out, apisix.New(env))
	}
	if tr.Ambassador != nil {
		out = append(out, ambassador.New(env))
	}
	if tr.AppMesh != nil {
		errs = append(errs, trafficrouting.Errorf("appMesh", "AWS App Mesh is not supported by Kanaria (AWS ended App Mesh); use another router"))
	}
	for _, name := range pluginNames(tr.Plugins) {
		if name != gatewayapi.PluginName {
			errs = append(errs, trafficrouting.Errorf("plugins", "the traffic router plugin %q is not built into Kanaria, which runs no plugin binaries; built in: %s", name, gatewayapi.PluginName))
			continue
		}
		r, err := gatewayapi.New(env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

func pluginNames(p map[string]json.RawMessage) []string {
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Leftovers finds the router state a Rollout left in objects it no longer
// routes through: DestinationRule subsets and annotations (Istio), ALB
// action annotations, NGINX canary Ingresses. It lists DestinationRules
// and Ingresses of the Rollout's namespace with r, so it is meant for the
// reconciles that follow a change of the Rollout's spec, not for every one.
func Leftovers(ctx context.Context, r client.Reader, ro *v1alpha1.Rollout) ([]trafficrouting.Leftover, error) {
	out, err := istio.Leftovers(ctx, r, ro)
	if err != nil {
		return nil, err
	}
	var ings networkingv1.IngressList
	if err := r.List(ctx, &ings, client.InNamespace(ro.Namespace)); err != nil {
		return nil, fmt.Errorf("listing Ingresses: %w", err)
	}
	out = append(out, alb.Leftovers(ro, ings.Items)...)
	out = append(out, nginx.Leftovers(ro, ings.Items)...)
	return out, nil
}
