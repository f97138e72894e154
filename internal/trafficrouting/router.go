// Package trafficrouting holds what every traffic router shares: the desired
// state a Rollout asks of its routers, the small interface each router
// implements, and the error a router returns for a configuration it cannot
// act on. One package per router lives below it (istio, nginx, alb, smi,
// gatewayapi, ...); package routers picks the ones a Rollout configures.
//
// The interface is declarative. A decision names the whole state the router
// objects must show (canary weight, the managed header and mirror routes)
// and Sync makes them show it, writing only when they differ. Setting a
// weight, setting a header or mirror route and removing the managed routes
// are all one Sync with a different Desired; that makes every call
// idempotent, so a controller that crashes between two writes simply syncs
// again.
package trafficrouting

import (
	"context"
	"errors"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// DefaultMaxWeight is the weight that stands for all traffic when
// trafficRouting.maxTrafficWeight is unset.
const DefaultMaxWeight int32 = 100

// Desired is the state the router objects must show.
type Desired struct {
	// CanaryWeight is the canary's share, from 0 to MaxWeight.
	CanaryWeight int32
	// MaxWeight is the weight that stands for all traffic (100 unless
	// trafficRouting.maxTrafficWeight says otherwise).
	MaxWeight int32
	// CanaryHash and StableHash are the pod-template hashes of the canary
	// and stable ReplicaSets, for routers that address Pods by label
	// (Istio subsets). They are equal once the update is over.
	CanaryHash, StableHash string
	// HeaderRoutes are the managed header routes that must exist, in the
	// order of trafficRouting.managedRoutes. A managed route not listed
	// must not exist.
	HeaderRoutes []HeaderRoute
	// MirrorRoutes are the managed mirror routes that must exist, in the
	// order of trafficRouting.managedRoutes.
	MirrorRoutes []MirrorRoute
	// Additional are destinations beside the canary and stable: the
	// Services of a running experiment step's templates that have a
	// weight. Their weights come out of the stable's share. A router that
	// cannot send to a third destination refuses a non-empty list (see
	// AdditionalDestinations); validation keeps such a spec from reaching
	// it.
	Additional []Destination
}

// Destination is one extra weighted destination.
type Destination struct {
	// ServiceName is the Service that receives the share.
	ServiceName string
	// PodTemplateHash is the hash of the ReplicaSet behind the Service.
	PodTemplateHash string
	// Weight is the share, out of MaxWeight.
	Weight int32
}

// StableWeight is the stable's share: what the canary and the additional
// destinations leave.
func (d Desired) StableWeight() int32 {
	w := d.MaxWeight - d.CanaryWeight
	for _, a := range d.Additional {
		w -= a.Weight
	}
	return max(w, 0)
}

// AdditionalDestinations is implemented by routers that can send traffic
// to destinations beside the canary and stable (Desired.Additional). A
// router without it is never handed any: the controller refuses such a
// sync rather than leave the experiment's share silently unrouted.
type AdditionalDestinations interface {
	// CarriesAdditionalDestinations is a marker; it always returns true.
	CarriesAdditionalDestinations() bool
}

// HeaderRoute sends every request whose headers match to the canary.
type HeaderRoute struct {
	// Name is the managed route's name.
	Name string
	// Match lists the header conditions. How several combine is each
	// router's published behaviour: Istio sends a request that matches any
	// of them, ALB and the Gateway API one that matches all.
	Match []v1alpha1.HeaderRoutingMatch
}

// MirrorRoute copies matching requests to the canary; the responses
// clients see still come from the weighted destinations.
type MirrorRoute struct {
	// Name is the managed route's name.
	Name string
	// Match lists request conditions; a request matching any is mirrored.
	Match []v1alpha1.RouteMatch
	// Percentage of matching requests to mirror; nil means 100.
	Percentage *int32
}

// Router edits the objects of one traffic router (a VirtualService, an
// Ingress, a TrafficSplit, ...) that a Rollout names.
type Router interface {
	// Type names the router, e.g. "istio", for logs and messages.
	Type() string
	// Check reads the objects the router edits and reports what stops it
	// from splitting traffic: a missing object, a route name that does
	// not exist, a route that does not send to the canary and stable
	// Services. Such problems are *ConfigError values (several joined with
	// errors.Join); any other error is a failure to read.
	Check(ctx context.Context) error
	// Sync makes the router objects show d in the parts the controller
	// manages, and leaves every other route, host, annotation and field
	// exactly as it was. It writes only when something differs, with the
	// resourceVersion it read, so a concurrent edit by someone else fails
	// the write instead of being overwritten.
	Sync(ctx context.Context, d Desired) error
}

// Env is what a router gets from the controller.
type Env struct {
	// Rollout is the Rollout whose traffic is routed; its namespace, name,
	// UID, spec.strategy.canary (services, trafficRouting) are read.
	Rollout *v1alpha1.Rollout
	// Reader reads router objects: Ingresses from the controller's cache,
	// custom resources from the API server (no informer is started for a
	// kind the cluster may lack), each at most once per reconcile unless
	// written in between (see routerclient).
	Reader client.Reader
	// Writer creates, updates and deletes router objects.
	Writer client.Writer
}

// Canary is the Rollout's canary strategy.
func (e Env) Canary() *v1alpha1.CanaryStrategy { return e.Rollout.Spec.Strategy.Canary }

// Routing is the Rollout's trafficRouting block.
func (e Env) Routing() *v1alpha1.RolloutTrafficRouting { return e.Canary().TrafficRouting }

// ManagedRouteNames lists trafficRouting.managedRoutes in order.
func (e Env) ManagedRouteNames() []string {
	var names []string
	for _, r := range e.Routing().ManagedRoutes {
		names = append(names, r.Name)
	}
	return names
}

// ConfigError is a router configuration the controller cannot act on. The
// Rollout shows it as an InvalidSpec condition and no weight moves until it
// is fixed.
type ConfigError struct {
	// Router is the router's type, e.g. "istio".
	Router string
	// Msg says what is wrong and, where it helps, what to do.
	Msg string
}

func (e *ConfigError) Error() string { return e.Router + ": " + e.Msg }

// Errorf builds a *ConfigError for router.
func Errorf(router, format string, args ...any) error {
	return &ConfigError{Router: router, Msg: fmt.Sprintf(format, args...)}
}

// ConfigErrors unpacks the *ConfigError values of err, also from errors
// joined with errors.Join. It returns nil when err holds none.
func ConfigErrors(err error) []*ConfigError {
	if err == nil {
		return nil
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			var out []*ConfigError
			for _, e := range j.Unwrap() {
				out = append(out, ConfigErrors(e)...)
			}
			return out
		}
		return []*ConfigError{ce}
	}
	return nil
}
