// Package traefik splits traffic through a weighted TraefikService. The
// entries of spec.weighted.services that stand for the Rollout's canary and
// stable Services carry the weights; every other entry, and every other field
// of the object, is left as it was.
package traefik

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Type is the router's name in logs and messages.
const Type = "traefik"

// GVKs are the TraefikService kinds looked in, in order. Argo Rollouts
// defaults to traefik.containo.us (Traefik v2) and takes traefik.io (Traefik
// v2.10+ and v3) when told to. Traefik v2.10 serves both groups as separate
// CustomResourceDefinitions, so an object may exist in either; the router
// takes the first group that holds the named object, which needs no flag.
var GVKs = []schema.GroupVersionKind{
	{Group: "traefik.containo.us", Version: "v1alpha1", Kind: "TraefikService"},
	{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"},
}

// Router sets the weights of a TraefikService.
type Router struct {
	env trafficrouting.Env
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the Traefik router of env's Rollout.
func New(env trafficrouting.Env) *Router { return &Router{env: env} }

// Type returns "traefik".
func (r *Router) Type() string { return Type }

// Check reports a missing TraefikService, one that is not weighted, and a
// canary or stable Service without an entry in it.
func (r *Router) Check(ctx context.Context) error {
	ts, err := r.read(ctx)
	if err != nil {
		return err
	}
	_, _, err = r.entries(ts)
	return err
}

// Sync sets the canary entry's weight to d.CanaryWeight and the stable
// entry's to d.StableWeight(). Traefik has no header or mirror routes here,
// so asking for one is a configuration error rather than a silent no-op.
func (r *Router) Sync(ctx context.Context, d trafficrouting.Desired) error {
	if len(d.HeaderRoutes) > 0 || len(d.MirrorRoutes) > 0 {
		return trafficrouting.Errorf(Type, "Traefik supports neither setHeaderRoute nor setMirrorRoute; remove those steps")
	}
	before, err := r.read(ctx)
	if err != nil {
		return err
	}
	after := before.DeepCopy()
	canary, stable, err := r.entries(after)
	if err != nil {
		return err
	}
	canary["weight"] = int64(d.CanaryWeight)
	stable["weight"] = int64(d.StableWeight())
	_, err = trafficrouting.UpdateIfChanged(ctx, r.env.Writer, before, after)
	return err
}

// read fetches the TraefikService the Rollout names.
func (r *Router) read(ctx context.Context) (*unstructured.Unstructured, error) {
	cfg := r.env.Routing().Traefik
	if cfg == nil || cfg.WeightedTraefikServiceName == "" {
		return nil, trafficrouting.Errorf(Type, "trafficRouting.traefik.weightedTraefikServiceName is required")
	}
	return getFirst(ctx, r.env.Reader, GVKs, r.env.Rollout.Namespace, cfg.WeightedTraefikServiceName)
}

// entries returns the maps of ts (not copies, so a caller can set weights in
// place) that stand for the canary and the stable Service.
func (r *Router) entries(ts *unstructured.Unstructured) (canary, stable map[string]any, err error) {
	c := r.env.Canary()
	where := fmt.Sprintf("TraefikService %s/%s", ts.GetNamespace(), ts.GetName())
	var errs []error
	if c.CanaryService == "" {
		errs = append(errs, trafficrouting.Errorf(Type, "canaryService is required"))
	}
	if c.StableService == "" {
		errs = append(errs, trafficrouting.Errorf(Type, "stableService is required"))
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	services, ok := nestedSlice(ts.Object, "spec", "weighted", "services")
	if !ok {
		return nil, nil, trafficrouting.Errorf(Type, "%s has no spec.weighted.services list; the router needs a weighted TraefikService", where)
	}
	canary = find(services, c.CanaryService, ts.GetNamespace())
	stable = find(services, c.StableService, ts.GetNamespace())
	if canary == nil {
		errs = append(errs, trafficrouting.Errorf(Type, "%s has no spec.weighted.services entry for the canary Service %q", where, c.CanaryService))
	}
	if stable == nil {
		errs = append(errs, trafficrouting.Errorf(Type, "%s has no spec.weighted.services entry for the stable Service %q", where, c.StableService))
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return canary, stable, nil
}

// find returns the first entry that is the Kubernetes Service name in ns. An
// entry of kind TraefikService, or one naming a Service of another
// namespace, only shares the name and must keep its weight.
func find(services []any, name, ns string) map[string]any {
	for _, s := range services {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		if n, _ := m["name"].(string); n != name {
			continue
		}
		if k, _ := m["kind"].(string); k != "" && k != "Service" {
			continue
		}
		if entryNS, _ := m["namespace"].(string); entryNS != "" && entryNS != ns {
			continue
		}
		return m
	}
	return nil
}

// nestedSlice returns the slice at path in obj itself, unlike
// unstructured.NestedSlice, which copies it: the router edits the maps in
// place so that nothing outside them can change.
func nestedSlice(obj map[string]any, path ...string) ([]any, bool) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	s, ok := cur.([]any)
	return s, ok
}

// getFirst reads ns/name in the first of gvks that holds it. A kind the
// cluster does not serve is skipped; when no kind holds the object the
// result is a *trafficrouting.ConfigError, as nothing can be written until
// someone creates it.
func getFirst(ctx context.Context, rd client.Reader, gvks []schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	served := false
	for _, gvk := range gvks {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		err := rd.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
		switch {
		case err == nil:
			return u, nil
		case apierrors.IsNotFound(err):
			served = true
		case trafficrouting.IsNoKind(err):
		default:
			return nil, fmt.Errorf("reading %s %s/%s: %w", gvk.Kind, ns, name, err)
		}
	}
	if served {
		return nil, trafficrouting.Errorf(Type, "%s %s/%s does not exist", gvks[0].Kind, ns, name)
	}
	return nil, trafficrouting.Errorf(Type, "the cluster serves no %s kind (%s); install Traefik's CustomResourceDefinitions", gvks[0].Kind, groupVersions(gvks))
}

func groupVersions(gvks []schema.GroupVersionKind) string {
	s := ""
	for i, g := range gvks {
		if i > 0 {
			s += ", "
		}
		s += g.GroupVersion().String()
	}
	return s
}
