// Package smi splits traffic with a Service Mesh Interface TrafficSplit
// (group split.smi-spec.io), the way Argo Rollouts does: the controller owns
// the TrafficSplit, creates it when it is missing and rewrites its root
// Service and its backends (canary, then stable, then the Services of a
// running experiment step) on every weight change.
//
// The TrafficSplit is handled as unstructured data so that the three API
// versions Argo Rollouts speaks (v1alpha1, v1alpha2, v1alpha3) need no
// generated clients; they differ only in how a weight is written.
package smi

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Group is the API group of the TrafficSplit.
const Group = "split.smi-spec.io"

// DefaultAPIVersion is the TrafficSplit version used when none is
// configured; Argo Rollouts defaults its SMI API version flag to it too.
const DefaultAPIVersion = "v1alpha1"

const routerType = "smi"

// Router edits the Rollout's TrafficSplit.
type Router struct {
	env     trafficrouting.Env
	version string
}

var (
	_ trafficrouting.Router                 = (*Router)(nil)
	_ trafficrouting.AdditionalDestinations = (*Router)(nil)
)

// New returns the SMI router for env. apiVersion is the version of
// split.smi-spec.io to speak ("" means DefaultAPIVersion); an unsupported
// version is reported by Check and Sync rather than here, so that it shows
// on the Rollout like any other configuration error.
func New(env trafficrouting.Env, apiVersion string) *Router {
	if apiVersion == "" {
		apiVersion = DefaultAPIVersion
	}
	return &Router{env: env, version: apiVersion}
}

// Type names the router.
func (r *Router) Type() string { return routerType }

// Check reports a TrafficSplit version the controller cannot write, a kind
// the cluster does not serve, and a TrafficSplit of the same name owned by
// something else. A missing TrafficSplit is fine: Sync creates it.
func (r *Router) Check(ctx context.Context) error {
	if err := r.checkConfig(); err != nil {
		return err
	}
	ts, err := r.get(ctx)
	if err != nil || ts == nil {
		return err
	}
	return r.checkOwner(ts)
}

// Sync makes the TrafficSplit send d's weights to the canary and stable
// Services, creating it when missing. Header and mirror routes have no SMI
// counterpart (Argo Rollouts ignores them for SMI too), so d's routes are
// not looked at.
func (r *Router) Sync(ctx context.Context, d trafficrouting.Desired) error {
	if err := r.checkConfig(); err != nil {
		return err
	}
	ts, err := r.get(ctx)
	if err != nil {
		return err
	}
	backends := r.backends(d)
	if ts == nil {
		return r.create(ctx, backends)
	}
	if err := r.checkOwner(ts); err != nil {
		return err
	}
	after := ts.DeepCopy()
	if err := unstructured.SetNestedField(after.Object, r.rootService(), "spec", "service"); err != nil {
		return fmt.Errorf("setting spec.service of TrafficSplit %s/%s: %w", ts.GetNamespace(), ts.GetName(), err)
	}
	old, _, _ := unstructured.NestedSlice(ts.Object, "spec", "backends")
	// A weight another writer stored as 10 where we would write "10" (or
	// the reverse) is the same weight; rewriting it would only churn the
	// object, so an equal list is left as it is.
	if !sameBackends(old, backends) {
		if err := unstructured.SetNestedSlice(after.Object, backends, "spec", "backends"); err != nil {
			return fmt.Errorf("setting spec.backends of TrafficSplit %s/%s: %w", ts.GetNamespace(), ts.GetName(), err)
		}
	}
	_, err = trafficrouting.UpdateIfChanged(ctx, r.env.Writer, ts, after)
	return err
}

func (r *Router) checkConfig() error {
	switch r.version {
	case "v1alpha1", "v1alpha2", "v1alpha3":
	default:
		return trafficrouting.Errorf(routerType, "TrafficSplit API version %q is not supported; use v1alpha1, v1alpha2 or v1alpha3", r.version)
	}
	c := r.env.Canary()
	if c.CanaryService == "" || c.StableService == "" {
		return trafficrouting.Errorf(routerType, "canaryService and stableService must both be set")
	}
	return nil
}

func (r *Router) gvk() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: Group, Version: r.version, Kind: "TrafficSplit"}
}

// name is trafficSplitName, or the Rollout's name when it is unset.
func (r *Router) name() string {
	if smi := r.env.Routing().SMI; smi != nil && smi.TrafficSplitName != "" {
		return smi.TrafficSplitName
	}
	return r.env.Rollout.Name
}

// rootService is rootService, or the stable Service when it is unset (as
// in Argo Rollouts): clients then keep calling the Service they already
// call.
func (r *Router) rootService() string {
	if smi := r.env.Routing().SMI; smi != nil && smi.RootService != "" {
		return smi.RootService
	}
	return r.env.Canary().StableService
}

// get reads the TrafficSplit; a missing one is (nil, nil) since Sync
// creates it, unlike trafficrouting.GetObject which treats it as an error.
func (r *Router) get(ctx context.Context) (*unstructured.Unstructured, error) {
	ts := &unstructured.Unstructured{}
	ts.SetGroupVersionKind(r.gvk())
	ns, name := r.env.Rollout.Namespace, r.name()
	err := r.env.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ts)
	switch {
	case err == nil:
		return ts, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	case trafficrouting.IsNoKind(err):
		return nil, trafficrouting.Errorf(routerType, "the cluster does not serve TrafficSplit (%s/%s); install its CustomResourceDefinition or pick the served version", Group, r.version)
	default:
		return nil, fmt.Errorf("reading TrafficSplit %s/%s: %w", ns, name, err)
	}
}

// checkOwner refuses a TrafficSplit the Rollout does not control: taking
// it over would silently reroute traffic someone else manages.
func (r *Router) checkOwner(ts *unstructured.Unstructured) error {
	if ref := metav1.GetControllerOf(ts); ref != nil && ref.UID == r.env.Rollout.UID {
		return nil
	}
	return trafficrouting.Errorf(routerType, "TrafficSplit %s/%s exists and is not controlled by Rollout %s; delete it or set trafficSplitName to another name",
		ts.GetNamespace(), ts.GetName(), r.env.Rollout.Name)
}

func (r *Router) create(ctx context.Context, backends []any) error {
	ro := r.env.Rollout
	ts := &unstructured.Unstructured{}
	ts.SetGroupVersionKind(r.gvk())
	ts.SetNamespace(ro.Namespace)
	ts.SetName(r.name())
	// The controller reference makes the TrafficSplit go with the Rollout
	// and lets checkOwner tell our object from someone else's.
	ts.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))})
	ts.Object["spec"] = map[string]any{
		"service":  r.rootService(),
		"backends": backends,
	}
	if err := r.env.Writer.Create(ctx, ts); err != nil {
		return fmt.Errorf("creating TrafficSplit %s/%s: %w", ts.GetNamespace(), ts.GetName(), err)
	}
	return nil
}

// backends lists the canary then the stable Service, the order Argo
// Rollouts writes them in, then an experiment's Services with their
// weights (taken out of the stable's).
func (r *Router) backends(d trafficrouting.Desired) []any {
	c := r.env.Canary()
	out := []any{
		map[string]any{"service": c.CanaryService, "weight": r.weight(d.CanaryWeight)},
		map[string]any{"service": c.StableService, "weight": r.weight(d.StableWeight())},
	}
	for _, a := range d.Additional {
		out = append(out, map[string]any{"service": a.ServiceName, "weight": r.weight(a.Weight)})
	}
	return out
}

// CarriesAdditionalDestinations reports that a TrafficSplit can send to an
// experiment's Services: each is one more backend.
func (r *Router) CarriesAdditionalDestinations() bool { return true }

// weight writes w as v1alpha1 declares it, a resource.Quantity (which
// serialises as a string such as "25"), and as an integer in later
// versions.
func (r *Router) weight(w int32) any {
	if r.version == "v1alpha1" {
		return resource.NewQuantity(int64(w), resource.DecimalExponent).String()
	}
	return int64(w)
}

// sameBackends reports whether old (as read) names the same Services with
// the same weights, in the same order, as want, and has nothing else.
func sameBackends(old, want []any) bool {
	if len(old) != len(want) {
		return false
	}
	for i := range old {
		o, ok1 := old[i].(map[string]any)
		w, ok2 := want[i].(map[string]any)
		if !ok1 || !ok2 || len(o) != len(w) || o["service"] != w["service"] {
			return false
		}
		ow, ok1 := quantity(o["weight"])
		ww, ok2 := quantity(w["weight"])
		if !ok1 || !ok2 || ow.Cmp(ww) != 0 {
			return false
		}
	}
	return true
}

func quantity(v any) (resource.Quantity, bool) {
	switch x := v.(type) {
	case string:
		q, err := resource.ParseQuantity(x)
		return q, err == nil
	case int64:
		return *resource.NewQuantity(x, resource.DecimalExponent), true
	case float64:
		q, err := resource.ParseQuantity(fmt.Sprint(x))
		return q, err == nil
	}
	return resource.Quantity{}, false
}
