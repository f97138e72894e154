// Package gatewayapi splits traffic with Kubernetes Gateway API routes
// (HTTPRoute, GRPCRoute, TCPRoute, TLSRoute), reading the configuration
// users write today for the Argo Rollouts Gateway API plugin from
// trafficRouting.plugins["argoproj-labs/gatewayAPI"] and editing the routes
// the way that plugin does: in every rule that sends to both the canary and
// the stable Service, the two backendRefs get the canary and stable
// weights; a managed header route becomes, for each such rule, an extra
// rule (named after the managed route) with the same matches plus the
// header conditions and a single backendRef to the canary Service, appended
// after the route's own rules.
//
// Which rules the controller added is recorded on the route itself, in the
// annotation ManagedRulesAnnotation, and not in a ConfigMap as the plugin
// does. The plugin's ConfigMap holds rule indices, which go stale as soon
// as anyone else adds or removes a rule, and it is a second object that
// cannot be written atomically with the route, so a crash between the two
// writes leaves them disagreeing. The annotation is written in the same
// Update as the rules, guarded by the same resourceVersion, and it holds
// the rules themselves rather than their positions, so after a restart
// removal finds exactly the rules that were added wherever they have moved,
// and leaves alone a rule someone else added in the meantime.
//
// Mirror routes are not supported: the released plugin's setMirrorRoute
// does nothing, and Kanaria ignores them likewise.
package gatewayapi

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

const routerType = "gatewayapi"

// ManagedRulesAnnotation is the route annotation in which the router
// records the rules it added, as JSON: Rollout ("namespace/name") to
// managed route name to the rules added for it. Keying by Rollout lets
// several Rollouts share a route (a layout the plugin documents) without
// one removing the other's rules.
const ManagedRulesAnnotation = "rollouts.kanaria.dev/managed-routes"

// Router edits the Gateway API routes a Rollout names.
type Router struct {
	env       trafficrouting.Env
	routes    []route
	namespace string
}

var _ trafficrouting.Router = (*Router)(nil)

// New parses the Rollout's plugin configuration. A configuration that is
// missing, does not parse, or names no route is a *trafficrouting.ConfigError
// naming the offending field.
func New(env trafficrouting.Env) (*Router, error) {
	routes, ns, err := parseConfig(env.Routing().Plugins[PluginName])
	if err != nil {
		return nil, err
	}
	if ns == "" {
		ns = env.Rollout.Namespace
	}
	return &Router{env: env, routes: routes, namespace: ns}, nil
}

// Type names the router.
func (r *Router) Type() string { return routerType }

// Check reads every configured route and reports the ones that are
// missing, of a kind the cluster does not serve, without a rule sending to
// both the canary and the stable Service, or whose managed-rules
// annotation is unreadable.
func (r *Router) Check(ctx context.Context) error {
	if err := r.checkServices(); err != nil {
		return err
	}
	var errs []error
	for _, rt := range r.routes {
		obj, err := trafficrouting.GetObject(ctx, r.env.Reader, routerType, rt.kind.gvk, r.namespace, rt.name)
		if err != nil {
			if trafficrouting.ConfigErrors(err) == nil {
				return err
			}
			errs = append(errs, err)
			continue
		}
		if _, err := r.plan(obj, rt, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sync sets the weights on every configured route and makes the routes that
// take header routes carry exactly d's header routes. Routes are written
// one by one; a failure stops at that route, and the next Sync, being
// idempotent, completes the rest.
func (r *Router) Sync(ctx context.Context, d trafficrouting.Desired) error {
	if err := r.checkServices(); err != nil {
		return err
	}
	headers, err := headerConditions(d.HeaderRoutes)
	if err != nil {
		return err
	}
	for _, rt := range r.routes {
		obj, err := trafficrouting.GetObject(ctx, r.env.Reader, routerType, rt.kind.gvk, r.namespace, rt.name)
		if err != nil {
			return err
		}
		after, err := r.plan(obj, rt, &desiredRoutes{d: d, headers: headers})
		if err != nil {
			return err
		}
		if _, err := trafficrouting.UpdateIfChanged(ctx, r.env.Writer, obj, after); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) checkServices() error {
	c := r.env.Canary()
	if c.CanaryService == "" || c.StableService == "" {
		return trafficrouting.Errorf(routerType, "canaryService and stableService must both be set")
	}
	return nil
}

// desiredRoutes is what Sync asks of one route.
type desiredRoutes struct {
	d trafficrouting.Desired
	// headers holds the converted conditions of d.HeaderRoutes, in order.
	headers [][]any
}

// plan returns obj as it must become: want == nil only validates (Check),
// leaving weights and managed rules as they are.
func (r *Router) plan(obj *unstructured.Unstructured, rt route, want *desiredRoutes) (*unstructured.Unstructured, error) {
	where := fmt.Sprintf("%s %s/%s", rt.kind.gvk.Kind, obj.GetNamespace(), obj.GetName())
	rules, _, err := unstructured.NestedSlice(obj.Object, "spec", "rules")
	if err != nil {
		return nil, trafficrouting.Errorf(routerType, "%s: spec.rules is not a list: %v", where, err)
	}
	records, err := readRecords(obj)
	if err != nil {
		return nil, trafficrouting.Errorf(routerType, "%s: %v; remove the annotation and any rules the controller added by hand", where, err)
	}
	key := r.rolloutKey()
	c := r.env.Canary()
	base := removeManaged(rules, records[key], r.env.ManagedRouteNames(), c.CanaryService, c.StableService)
	sources := sourceRules(base, c.CanaryService, c.StableService)
	if len(sources) == 0 {
		return nil, trafficrouting.Errorf(routerType, "%s has no rule whose backendRefs name both %s and %s", where, c.CanaryService, c.StableService)
	}
	if want == nil {
		return obj, nil
	}

	setWeights(base, c.CanaryService, c.StableService, int64(want.d.CanaryWeight), int64(want.d.StableWeight()))
	added := map[string][]any{}
	if rt.headerRoutes {
		for i, hr := range want.d.HeaderRoutes {
			hrRules := headerRules(hr.Name, sources, want.headers[i], c.CanaryService)
			base = append(base, hrRules...)
			added[hr.Name] = hrRules
		}
	}

	after := obj.DeepCopy()
	if err := unstructured.SetNestedSlice(after.Object, base, "spec", "rules"); err != nil {
		return nil, fmt.Errorf("setting spec.rules of %s: %w", where, err)
	}
	if err := writeRecords(after, records, key, added); err != nil {
		return nil, fmt.Errorf("recording managed rules on %s: %w", where, err)
	}
	return after, nil
}

// rolloutKey names the Rollout in the annotation; the namespace is part of
// it because the routes may live in another namespace and be shared.
func (r *Router) rolloutKey() string {
	return r.env.Rollout.Namespace + "/" + r.env.Rollout.Name
}
